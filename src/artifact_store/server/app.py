"""The ASGI application: ``create_app(settings)``.

The lifespan opens the ``ArtifactStore``, runs the upload janitor (expired sessions lose their
bytes every ``janitor_interval`` seconds) and, on the way out, tells open event streams to end
(``app.state.stopping``), stops the janitor and closes the store. In-flight uploads need nothing
at shutdown: their offset is what was made durable, so a client simply resumes (ADR-0009).

Servers drain connections *before* the ASGI lifespan shutdown, and an SSE stream never ends on
its own; so the app also chains itself in front of the server's SIGINT/SIGTERM handlers (when
the server installed any) to set ``stopping`` as soon as a shutdown is requested.

``serve`` runs it with ``uvicorn.run("artifact_store.server.app:create_app", factory=True)``,
settings coming from the environment (``server/settings.py``).
"""

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from artifact_store.errors import ArtifactStoreError
from artifact_store.server.observe import (
    ACCESS_LOGGER,
    AccessLogFormatter,
    Metrics,
    ObserveMiddleware,
)
from artifact_store.server.openapi import install_openapi
from artifact_store.server.problems import http_problem, problem_response, validation_problem
from artifact_store.server.routes import ops
from artifact_store.server.routes.v1 import blobs, events, packages, tags, uploads
from artifact_store.server.settings import Settings
from artifact_store.store import ArtifactStore, open_store

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _janitor(store: ArtifactStore, interval: float) -> None:
    """Expire idle upload sessions (and remove their bytes) every ``interval`` seconds."""
    while True:
        try:
            expired = await store.expire_uploads()
            if expired:
                logger.info("expired %d upload session(s)", expired)
        except Exception:  # a background loop's outer boundary: log, keep going
            logger.exception("upload janitor failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


def _chain_shutdown_signals(stopping: asyncio.Event) -> Callable[[], None]:
    """Set ``stopping`` on SIGINT/SIGTERM, then call the handler the server installed.

    Returns the function that puts the previous handlers back. Does nothing off the main
    thread, or for a signal nobody handles in Python (the default action ends the process).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], object]] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stopping.set)
        previous[signum](signum, frame)

    for sig in _SHUTDOWN_SIGNALS:
        current = signal.getsignal(sig)
        if callable(current):
            previous[sig] = current
            signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)

    return restore


def _access_log_handler() -> logging.Handler | None:
    """A JSON-lines stderr handler for the access log when logging is not configured."""
    if ACCESS_LOGGER.hasHandlers():
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(AccessLogFormatter())
    ACCESS_LOGGER.addHandler(handler)
    ACCESS_LOGGER.setLevel(logging.INFO)
    return handler


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the store opens when the app starts and closes when it stops."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(settings.store_config())
        stopping = asyncio.Event()
        app.state.store = store
        app.state.stopping = stopping
        log_handler = _access_log_handler()
        restore_signals = _chain_shutdown_signals(stopping)
        janitor = asyncio.create_task(
            _janitor(store, settings.janitor_interval), name="upload-janitor"
        )
        try:
            yield
        finally:
            stopping.set()
            restore_signals()
            janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor
            await store.close()
            if log_handler is not None:
                ACCESS_LOGGER.removeHandler(log_handler)

    app = FastAPI(
        title="artifact-store",
        version="1",
        description="Artifact registry HTTP API /v1 (docs/api/v1.md). Errors are RFC 9457 "
        "application/problem+json with a stable `code`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.add_exception_handler(ArtifactStoreError, problem_response)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(HTTPException, http_problem)
    app.add_middleware(ObserveMiddleware, metrics=app.state.metrics)
    for module in (uploads, blobs, packages, tags, events, ops):
        app.include_router(module.router)
    install_openapi(app)
    return app
