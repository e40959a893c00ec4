"""Operations endpoints: ``/healthz`` (process up), ``/readyz`` (database and blob store
reachable), ``/metrics`` (Prometheus text exposition)."""

from fastapi import APIRouter, Request, Response

from artifact_store.errors import ArtifactStoreError
from artifact_store.server.deps import StoreDep
from artifact_store.server.observe import Metrics
from artifact_store.server.schemas import Health, problem_responses

__all__ = ["PROMETHEUS_TEXT", "router"]

router = APIRouter(tags=["ops"])

#: The Prometheus text exposition format's media type.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up (it does not touch the store)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problem_responses())
async def readyz(store: StoreDep) -> Health:
    """The database and the blob store answer; 503 problem otherwise."""
    await store.check_ready()
    return Health(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, store: StoreDep) -> Response:
    """Request latency histograms, bytes in/out, and the store's counts."""
    try:
        stats: dict[str, int] | None = await store.stats()
    except ArtifactStoreError:
        stats = None  # a scrape still gets the HTTP metrics when the database is down
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(stats), media_type=PROMETHEUS_TEXT)
