"""``/v1/blobs``: single-request upload, GET/HEAD with Range and ETag, and the missing query."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from artifact_store.kernels.digest import Digest
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.server.deps import ActorDep, StoreDep
from artifact_store.server.schemas import (
    BINARY,
    BatchBlobOut,
    BatchOut,
    BlobOut,
    MissingIn,
    MissingOut,
    problem_responses,
)
from artifact_store.server.streaming import (
    JsonBodyRoute,
    body_chunks,
    body_source,
    bytes_response,
    check_content_length,
    parse_range,
    require_media_type,
)
from artifact_store.wire import paths
from artifact_store.wire.batch import BLOB_BATCH, MAX_BATCH_BODY_BYTES, BatchReader
from artifact_store.wire.headers import OCTET_STREAM, REPR_DIGEST

__all__ = ["BYTES_RESPONSES", "router"]

router = APIRouter(prefix=paths.BLOBS, tags=["blobs"], route_class=JsonBodyRoute)

_HEADERS: dict[str, Any] = {
    name: {"schema": {"type": "string"}}
    for name in ("ETag", "Content-Length", "Accept-Ranges", REPR_DIGEST)
}
#: The OpenAPI responses of a byte GET/HEAD (blobs and package files).
BYTES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The bytes",
        "content": {OCTET_STREAM: {"schema": BINARY}},
        "headers": _HEADERS,
    },
    206: {
        "description": "The requested range",
        "content": {OCTET_STREAM: {"schema": BINARY}},
        "headers": {**_HEADERS, "Content-Range": {"schema": {"type": "string"}}},
    },
    304: {"description": "Not modified (If-None-Match)"},
    **problem_responses(404, 416),
}


@router.put(
    "",
    status_code=201,
    response_model=BlobOut,
    responses={
        200: {"model": BlobOut, "description": "Already stored"},
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(413, 415),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {OCTET_STREAM: {"schema": BINARY}}}
    },
)
async def put_blob(
    request: Request,
    response: Response,
    store: StoreDep,
    actor: ActorDep,
    digest: Annotated[str, Query(description="The claimed `sha256:<hex>`.")],
) -> BlobOut:
    """Store a blob in one request; a mismatch with ``digest`` stores nothing."""
    Digest.parse(digest, algorithm="sha256")  # refuse before reading a byte of the body
    require_media_type(request, {OCTET_STREAM}, optional=True)
    body = body_source(request, limit=MAX_BLOB_SIZE, what="blob")
    stored = await store.put_blob(body, actor=actor, digest=digest)
    response.status_code = 201 if stored.created else 200
    response.headers["Location"] = paths.blob(stored.record.digest)
    return BlobOut.of(stored.record)


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=problem_responses(413, 415),
    openapi_extra={"requestBody": {"required": True, "content": {BLOB_BATCH: {"schema": BINARY}}}},
)
async def put_blob_batch(request: Request, store: StoreDep, actor: ActorDep) -> BatchOut:
    """Store several small blobs in one request and one catalog commit (``docs/api/v1.md``,
    "Blob batches"); one wrong digest stores none of them."""
    require_media_type(request, {BLOB_BATCH})
    check_content_length(request, MAX_BATCH_BODY_BYTES, "blob batch")
    reader = BatchReader()
    items: list[tuple[str, bytes]] = []
    async for chunk in body_chunks(request, limit=MAX_BATCH_BODY_BYTES, what="blob batch"):
        items.extend(reader.feed(chunk))
    reader.finish()
    stored = await store.put_blobs(items, actor=actor)
    return BatchOut(
        blobs=[BatchBlobOut(**BlobOut.of(s.record).model_dump(), created=s.created) for s in stored]
    )


@router.post("/missing", response_model=MissingOut, responses=problem_responses(413))
async def missing_blobs(body: MissingIn, store: StoreDep) -> MissingOut:
    """Which of the digests the store lacks, in request order."""
    return MissingOut(missing=await store.missing_blobs(body.digests))


@router.get("/{digest}", response_class=Response, responses=BYTES_RESPONSES)
async def get_blob(digest: str, request: Request, store: StoreDep) -> Response:
    """A blob's bytes (``sha256:`` or ``blake3:`` digest), streamed; one ``Range`` honoured."""
    byte_range = parse_range(request)
    record, chunks = await store.open_blob(digest, byte_range)
    return await bytes_response(
        request,
        chunks,
        size=record.size,
        sha256=record.sha256,
        etag=f'"{record.digest}"',
        content_type=OCTET_STREAM,
        byte_range=byte_range,
    )


@router.head("/{digest}", response_class=Response, responses=BYTES_RESPONSES)
async def head_blob(digest: str, request: Request, store: StoreDep) -> Response:
    """A blob's headers: size, digests, ETag."""
    byte_range = parse_range(request)
    record = await store.stat_blob(digest)
    return await bytes_response(
        request,
        None,
        size=record.size,
        sha256=record.sha256,
        etag=f'"{record.digest}"',
        content_type=OCTET_STREAM,
        byte_range=byte_range,
    )
