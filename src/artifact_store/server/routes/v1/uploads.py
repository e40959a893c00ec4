"""``/v1/uploads``: resumable upload sessions (tus 1.0 semantics, OCI-style finalize).

The offset is the count of bytes the store made durable; a PATCH is acknowledged (204 with the
new ``Upload-Offset``) only once its bytes are. A client that disconnects mid-PATCH keeps the
bytes that arrived, unless the PATCH carried an ``Upload-Checksum`` (RELIABILITY.md §2). Every
rule about offsets, checksums, lengths and expiry is the library's; this module parses headers,
streams the body to ``ArtifactStore`` and renders the answer.
"""

import base64
import binascii
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from artifact_store.errors import InvalidInputError
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.server.deps import ActorDep, StoreDep
from artifact_store.server.schemas import (
    BINARY,
    BlobOut,
    UploadCreated,
    UploadInfo,
    UploadLike,
    problem_responses,
)
from artifact_store.server.streaming import (
    JsonBodyRoute,
    body_source,
    read_body,
    require_media_type,
)
from artifact_store.wire import paths
from artifact_store.wire.headers import (
    OCTET_STREAM,
    OFFSET_OCTET_STREAM,
    UPLOAD_CHECKSUM,
    UPLOAD_EXPIRES,
    UPLOAD_LENGTH,
    UPLOAD_OFFSET,
)

__all__ = ["http_date", "parse_upload_checksum", "router"]

router = APIRouter(prefix=paths.UPLOADS, tags=["uploads"], route_class=JsonBodyRoute)

_OFFSET_HEADER = {UPLOAD_OFFSET: {"schema": {"type": "integer"}, "description": "durable bytes"}}
_EXPIRES_HEADER = {UPLOAD_EXPIRES: {"schema": {"type": "string"}, "description": "RFC 9110 date"}}


def http_date(at: datetime) -> str:
    """An RFC 9110 HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return format_datetime(at.astimezone(UTC), usegmt=True)


def parse_upload_checksum(header: str | None) -> bytes | None:
    """The sha256 of a chunk from ``Upload-Checksum: sha256 <base64>`` (tus checksum extension).

    Raises:
        InvalidInputError: another algorithm, or not a base64 sha256 (tus: 400).
    """
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm != "sha256":
        raise InvalidInputError(
            f"unsupported {UPLOAD_CHECKSUM} algorithm {algorithm[:40]!r}; use sha256",
            algorithm=algorithm[:40],
        )
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{UPLOAD_CHECKSUM} is not base64") from exc
    if len(raw) != 32:
        raise InvalidInputError(f"{UPLOAD_CHECKSUM} sha256 must be 32 bytes, got {len(raw)}")
    return raw


def _progress_headers(status: UploadLike) -> dict[str, str]:
    headers = {UPLOAD_OFFSET: str(status.offset), UPLOAD_EXPIRES: http_date(status.expires_at)}
    if status.length is not None:
        headers[UPLOAD_LENGTH] = str(status.length)
    return headers


@router.post(
    "",
    status_code=201,
    response_model=UploadCreated,
    responses={
        201: {
            "headers": {
                "Location": {"schema": {"type": "string"}},
                **_OFFSET_HEADER,
                **_EXPIRES_HEADER,
            }
        },
        **problem_responses(413),
    },
)
async def create_upload(
    response: Response,
    store: StoreDep,
    actor: ActorDep,
    upload_length: Annotated[
        int | None, Header(alias=UPLOAD_LENGTH, ge=0, description="Total size, if known.")
    ] = None,
) -> UploadCreated:
    """Open an upload session (offset 0)."""
    status = await store.create_upload(actor=actor, length=upload_length)
    response.headers["Location"] = paths.upload(status.id)
    response.headers.update(_progress_headers(status))
    return UploadCreated.of(status)


@router.patch(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Chunk stored", "headers": {**_OFFSET_HEADER, **_EXPIRES_HEADER}},
        **problem_responses(404, 409, 410, 413, 415, 460),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OFFSET_OCTET_STREAM: {"schema": BINARY}, OCTET_STREAM: {"schema": BINARY}},
        }
    },
)
async def append_upload(
    upload_id: str,
    request: Request,
    store: StoreDep,
    actor: ActorDep,
    upload_offset: Annotated[
        int, Header(alias=UPLOAD_OFFSET, ge=0, description="The session's current offset.")
    ],
    upload_checksum: Annotated[
        str | None, Header(alias=UPLOAD_CHECKSUM, description="`sha256 <base64>` of this chunk.")
    ] = None,
) -> Response:
    """Append the body at ``Upload-Offset``; answers the new offset once it is durable."""
    require_media_type(request, {OFFSET_OCTET_STREAM, OCTET_STREAM})
    checksum = parse_upload_checksum(upload_checksum)
    body = body_source(request, limit=MAX_BLOB_SIZE, what="upload chunk", keep_partial=True)
    status = await store.append_upload(
        upload_id, offset=upload_offset, chunks=body, checksum_sha256=checksum, actor=actor
    )
    return Response(status_code=204, headers=_progress_headers(status))


@router.head(
    "/{upload_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The session's offset",
            "headers": {**_OFFSET_HEADER, **_EXPIRES_HEADER, UPLOAD_LENGTH: {"schema": {}}},
        },
        **problem_responses(404, 410),
    },
)
async def head_upload(upload_id: str, store: StoreDep) -> Response:
    """The session's durable offset (tus HEAD)."""
    status = await store.upload_status(upload_id)
    headers = _progress_headers(status) | {"Cache-Control": "no-store"}
    return Response(status_code=200, headers=headers)


@router.get("/{upload_id}", response_model=UploadInfo, responses=problem_responses(404, 410))
async def get_upload(upload_id: str, response: Response, store: StoreDep) -> UploadInfo:
    """The session's offset, length, expiry and state."""
    status = await store.upload_status(upload_id)
    response.headers["Cache-Control"] = "no-store"
    return UploadInfo.of(status)


@router.put(
    "/{upload_id}",
    status_code=201,
    response_model=BlobOut,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **problem_responses(404, 409, 410, 413),
    },
)
async def finalize_upload(
    upload_id: str,
    request: Request,
    response: Response,
    store: StoreDep,
    actor: ActorDep,
    digest: Annotated[str, Query(description="The blob's `sha256:<hex>`.")],
) -> BlobOut:
    """Complete the session: the staged bytes must hash to ``digest`` (else nothing is stored)."""
    await read_body(request, limit=0, what="finalize request body")  # no final chunk here
    stored = await store.finalize_upload(upload_id, digest=digest, actor=actor)
    response.headers["Location"] = paths.blob(stored.record.digest)
    return BlobOut.of(stored.record)


@router.delete(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, 409),
)
async def abort_upload(upload_id: str, store: StoreDep, actor: ActorDep) -> Response:
    """Abort the session and drop its bytes."""
    await store.abort_upload(upload_id, actor=actor)
    return Response(status_code=204)
