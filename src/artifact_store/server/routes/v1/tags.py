"""``/v1/packages/{namespace}/{name}/-/tags``: list, set (create or move) and remove tags."""

from fastapi import APIRouter, Response

from artifact_store.kernels.names import PackageName
from artifact_store.server.deps import ActorDep, StoreDep
from artifact_store.server.schemas import PackageOut, TagIn, TagList, TagOut, problem_responses
from artifact_store.server.streaming import JsonBodyRoute
from artifact_store.wire import paths

__all__ = ["router"]

router = APIRouter(
    prefix=paths.PACKAGES + "/{namespace:namespace}/{name}/-/tags",
    tags=["tags"],
    route_class=JsonBodyRoute,
)


@router.get("", response_model=TagList, responses=problem_responses())
async def list_tags(namespace: str, name: str, store: StoreDep) -> TagList:
    """The tags of a package name."""
    return TagList(items=[TagOut.of(t) for t in await store.list_tags(namespace, name)])


@router.put("/{tag}", response_model=PackageOut, responses=problem_responses(404, 409, 413))
async def put_tag(
    namespace: str, name: str, tag: str, body: TagIn, store: StoreDep, actor: ActorDep
) -> PackageOut:
    """Point ``tag`` at a version (or ``sha256:`` digest) of this package name."""
    pkg = PackageName.parse(namespace, name)
    info = await store.set_tag(f"{pkg}@{body.target}", tag, actor=actor)
    return PackageOut.of(info)


@router.delete("/{tag}", status_code=204, response_class=Response, responses=problem_responses(404))
async def delete_tag(
    namespace: str, name: str, tag: str, store: StoreDep, actor: ActorDep
) -> Response:
    """Remove a tag."""
    await store.remove_tag(namespace, name, tag, actor=actor)
    return Response(status_code=204)
