"""``/v1/packages`` and ``/v1/refs``: commit, search, versions, manifests and files.

Package paths are ``{namespace}/{name}/-/…`` (the ``namespace`` convertor of
``routes.v1``); names, versions and file paths are validated by the library's value types and
``ArtifactStore`` before anything is looked up.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from artifact_store.errors import InvalidLabelError
from artifact_store.kernels.clock import parse_time
from artifact_store.kernels.limits import DEFAULT_PAGE_SIZE, MAX_MANIFEST_BYTES, MAX_PAGE_SIZE
from artifact_store.kernels.names import PackageName, PackageRef, validate_version
from artifact_store.manifest import Manifest, manifest_from_json, manifest_to_json
from artifact_store.server.deps import ActorDep, StoreDep
from artifact_store.server.routes.v1.blobs import BYTES_RESPONSES
from artifact_store.server.schemas import (
    BINARY,
    CommitOut,
    ManifestOut,
    PackageList,
    PackageOut,
    problem_responses,
)
from artifact_store.server.streaming import (
    JsonBodyRoute,
    bytes_response,
    not_modified,
    parse_json,
    parse_range,
    read_body,
    require_media_type,
)
from artifact_store.store import PackageInfo, PackageQuery
from artifact_store.wire import paths
from artifact_store.wire.headers import ARTIFACT_DIGEST, CBOR, JSON

__all__ = ["router"]

router = APIRouter(tags=["packages"], route_class=JsonBodyRoute)

_PACKAGE = paths.PACKAGES + "/{namespace:namespace}/{name}/-"
_MANIFEST_HEADERS: dict[str, Any] = {
    "ETag": {"schema": {"type": "string"}},
    ARTIFACT_DIGEST: {"schema": {"type": "string"}},
}

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`.")]


def _labels(items: list[str] | None) -> dict[str, str]:
    """``k=v`` query values → a dict (AND of all)."""
    labels: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidLabelError(f"label filter must be key=value, got {item[:80]!r}")
        if labels.setdefault(key, value) != value:
            raise InvalidLabelError(f"label {key!r} asked with two values", label=key)
    return labels


def _wants_cbor(request: Request) -> bool:
    """Content negotiation: CBOR when ``Accept`` ranks it above JSON (ties: first listed)."""
    best, best_q = JSON, -1.0
    for item in request.headers.get("accept", "").split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind.lower() in (CBOR, JSON) and q > best_q and q > 0:
            best, best_q = kind.lower(), q
    return best == CBOR


def _manifest_answer(
    request: Request, info: PackageInfo, manifest: Manifest, data: bytes
) -> Response:
    headers = {"ETag": f'"{info.digest}"', ARTIFACT_DIGEST: info.digest, "Vary": "Accept"}
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if _wants_cbor(request):
        return Response(data, media_type=CBOR, headers=headers)
    body = ManifestOut(package=PackageOut.of(info), manifest=manifest_to_json(manifest))
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


def _version_ref(namespace: str, name: str, version: str) -> PackageRef:
    return PackageRef(
        "version", name=PackageName.parse(namespace, name), version=validate_version(version)
    )


@router.post(
    paths.PACKAGES,
    status_code=201,
    response_model=CommitOut,
    responses={
        200: {"model": CommitOut, "description": "Identical manifest already committed"},
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(409, 413, 415, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"type": "object"}}, CBOR: {"schema": BINARY}},
        }
    },
)
async def commit_package(
    request: Request,
    response: Response,
    store: StoreDep,
    actor: ActorDep,
    tag: Annotated[list[str] | None, Query(description="Tags to set (repeatable).")] = None,
) -> CommitOut:
    """Commit a manifest (JSON or canonical CBOR); its blobs must already be stored."""
    kind = require_media_type(request, {JSON, CBOR})
    data = await read_body(request, limit=MAX_MANIFEST_BYTES, what="manifest")
    manifest: Manifest | bytes = data if kind == CBOR else manifest_from_json(parse_json(data))
    result = await store.commit_package(manifest, actor=actor, tags=tag or ())
    info = result.package
    response.status_code = 201 if result.created else 200
    response.headers["Location"] = paths.version(info.namespace, info.name, info.version)
    return CommitOut(created=result.created, package=PackageOut.of(info))


@router.get(paths.PACKAGES, response_model=PackageList, responses=problem_responses())
async def search_packages(
    store: StoreDep,
    namespace: Annotated[str | None, Query(max_length=255, description="Exact.")] = None,
    prefix: Annotated[
        str | None, Query(max_length=400, description="A namespace and below, or ns/name.")
    ] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    label: Annotated[list[str] | None, Query(description="`k=v`, repeatable (AND).")] = None,
    since: Annotated[str | None, Query(description="RFC 3339 UTC, inclusive.")] = None,
    until: Annotated[str | None, Query(description="RFC 3339 UTC, exclusive.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> PackageList:
    """Search packages, newest first, one page at a time."""
    query = PackageQuery(
        namespace=namespace,
        prefix=prefix,
        name=name,
        kind=kind,
        labels=_labels(label),
        since=parse_time(since) if since is not None else None,
        until=parse_time(until) if until is not None else None,
        cursor=cursor,
        limit=limit,
    )
    page = await store.list_packages(query)
    return PackageList(items=[PackageOut.of(p) for p in page.items], next_cursor=page.next_cursor)


@router.get(_PACKAGE + "/versions", response_model=PackageList, responses=problem_responses())
async def list_versions(
    namespace: str,
    name: str,
    store: StoreDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> PackageList:
    """The versions of one package name, newest first."""
    pkg = PackageName.parse(namespace, name)
    page = await store.list_packages(
        PackageQuery(namespace=pkg.namespace, name=pkg.name, cursor=cursor, limit=limit)
    )
    return PackageList(items=[PackageOut.of(p) for p in page.items], next_cursor=page.next_cursor)


@router.get(
    _PACKAGE + "/versions/{version}",
    response_model=ManifestOut,
    responses={
        200: {"content": {CBOR: {"schema": BINARY}}, "headers": _MANIFEST_HEADERS},
        304: {"description": "Not modified (If-None-Match)"},
        **problem_responses(404),
    },
)
async def get_version(
    namespace: str, name: str, version: str, request: Request, store: StoreDep
) -> Response:
    """The manifest: canonical CBOR for ``Accept: application/cbor``, else JSON with the package."""
    info, manifest, data = await store.get_manifest(_version_ref(namespace, name, version))
    return _manifest_answer(request, info, manifest, data)


async def _file(
    namespace: str, name: str, version: str, path: str, request: Request, store: StoreDep
) -> Response:
    ref = _version_ref(namespace, name, version)
    byte_range = parse_range(request)
    entry, chunks = await store.open_file(ref, path, byte_range)
    return await bytes_response(
        request,
        chunks,
        size=entry.size,
        sha256=entry.sha256,
        etag=f'"sha256:{entry.sha256}"',
        content_type=entry.media_type,
        byte_range=byte_range,
    )


@router.get(
    _PACKAGE + "/versions/{version}/files/{path:path}",
    response_class=Response,
    responses=BYTES_RESPONSES,
)
async def get_file(
    namespace: str, name: str, version: str, path: str, request: Request, store: StoreDep
) -> Response:
    """One file's bytes, as a blob GET (Range, ETag = the file's sha256, Repr-Digest)."""
    return await _file(namespace, name, version, path, request, store)


@router.head(
    _PACKAGE + "/versions/{version}/files/{path:path}",
    response_class=Response,
    responses=BYTES_RESPONSES,
)
async def head_file(
    namespace: str, name: str, version: str, path: str, request: Request, store: StoreDep
) -> Response:
    """One file's headers."""
    return await _file(namespace, name, version, path, request, store)


@router.get(
    "/v1/refs/{ref:path}",
    response_model=ManifestOut,
    responses={
        200: {"content": {CBOR: {"schema": BINARY}}, "headers": _MANIFEST_HEADERS},
        304: {"description": "Not modified (If-None-Match)"},
        **problem_responses(404),
    },
)
async def get_ref(ref: str, request: Request, store: StoreDep) -> Response:
    """Resolve any reference (``ns/name@version``, ``ns/name:tag``, ``[ns/name@]sha256:…``)."""
    info, manifest, data = await store.get_manifest(ref)
    return _manifest_answer(request, info, manifest, data)
