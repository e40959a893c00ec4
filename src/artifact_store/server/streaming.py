"""Bytes in and out of the HTTP edge, bounded and streamed.

In: request bodies are read with ``request.stream()`` and counted against a named limit; a
``Content-Length`` over the limit is refused before a byte is read (413, RELIABILITY.md §6.2),
and a body that lies about its length is cut off at the limit. Small JSON bodies of ordinary
routes go through :class:`JsonBodyRoute`, which applies the same rule before FastAPI parses them.

Out: :func:`bytes_response` answers a blob or file GET/HEAD with ``ETag``, ``Repr-Digest``
(RFC 9530), ``Accept-Ranges``, a single ``Range`` (206, RFC 9110 §14) and ``If-None-Match`` (304,
RFC 9110 §13.1.2). :class:`StreamResponse` forwards the store's chunks (4 MiB each, TOOLING.md
§2c) as they come, stops reading as soon as the client goes away, and always closes the source.
When the server offers the ``http.response.zerocopysend`` extension (``serve`` does,
``server/protocol.py``) and the blob lies in a local file, the response hands the file region
to the server instead, which sends it with ``sendfile`` (ADR-0016).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from artifact_store.errors import EncodingError, InvalidInputError
from artifact_store.kernels.limits import MAX_JSON_BODY_BYTES, check_size
from artifact_store.kernels.ranges import ByteRange
from artifact_store.server.protocol import ZERO_COPY_SEND, offers_zero_copy
from artifact_store.server.socket_body import body_takeover
from artifact_store.store import ByteSource, FileBacked, FileRegion
from artifact_store.wire.headers import REPR_DIGEST, repr_digest

__all__ = [
    "JsonBodyRoute",
    "SOURCE_MIN_BYTES",
    "StreamResponse",
    "body_chunks",
    "body_source",
    "bytes_response",
    "check_content_length",
    "media_type",
    "not_modified",
    "parse_json",
    "read_body",
    "require_media_type",
    "run_until_disconnect",
]

logger = logging.getLogger(__name__)

#: Bodies at least this long are read off the socket by the store's own threads when the server
#: offers it (ADR-0018); shorter ones cost less through ``receive`` than a ring of buffers.
SOURCE_MIN_BYTES: Final = 8 << 20


# --- request bodies ----------------------------------------------------------------------


def check_content_length(request: Request, limit: int, what: str) -> int | None:
    """The declared body length, refused before reading when it is over ``limit``.

    Raises:
        InvalidInputError: a malformed ``Content-Length``.
        PayloadTooLargeError: the declared length is over ``limit``.
    """
    header = request.headers.get("content-length")
    if header is None:
        return None
    if not header.isascii() or not header.isdigit() or len(header) > 20:
        raise InvalidInputError(f"malformed Content-Length: {header[:40]!r}")
    declared = int(header)
    check_size(what, declared, limit)
    return declared


async def body_chunks(
    request: Request, *, limit: int, what: str, keep_partial: bool = False
) -> AsyncIterator[bytes]:
    """The request body as it arrives, counted against ``limit`` (named ``what``).

    With ``keep_partial``, a client that disconnects mid-body simply ends the stream, so the
    bytes that did arrive can be kept (tus: "store as much as possible"); otherwise the
    disconnect is raised and nothing is stored.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes arrived.
        ClientDisconnect: the client went away (unless ``keep_partial``).
    """
    total = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            total += len(chunk)
            check_size(what, total, limit)
            yield chunk
    except ClientDisconnect:
        if not keep_partial:
            raise
        logger.info("client disconnected after %d bytes of %s", total, what)


def body_source(
    request: Request, *, limit: int, what: str, keep_partial: bool = False
) -> ByteSource | AsyncIterator[bytes]:
    """The request body for the store: a large one with a declared length taken off its socket
    when the server offers it (a :class:`ByteSource` the store's threads read, ADR-0018), any
    other as :func:`body_chunks` (``keep_partial`` is passed on; a source always hands on what
    arrived before a disconnect). The ``Content-Length`` is checked against ``limit`` first.

    Raises:
        InvalidInputError: a malformed ``Content-Length``.
        PayloadTooLargeError: the declared length is over ``limit``.
    """
    declared = check_content_length(request, limit, what)
    if declared is not None and declared >= SOURCE_MIN_BYTES:
        takeover = body_takeover(request.scope)
        if takeover is not None and (source := takeover.open()) is not None:
            return source
    return body_chunks(request, limit=limit, what=what, keep_partial=keep_partial)


async def read_body(request: Request, *, limit: int, what: str) -> bytes:
    """The whole body (for bodies bounded by a small limit): Content-Length precheck, then
    counting."""
    check_content_length(request, limit, what)
    return b"".join([chunk async for chunk in body_chunks(request, limit=limit, what=what)])


def media_type(request: Request) -> str | None:
    """The request's media type, lower-case, without parameters (None when absent)."""
    header = request.headers.get("content-type")
    if header is None:
        return None
    return header.partition(";")[0].strip().lower() or None


def require_media_type(
    request: Request, allowed: set[str], *, optional: bool = False
) -> str | None:
    """The request's media type when it is one of ``allowed`` (or absent and ``optional``).

    Raises:
        HTTPException: 415 (rendered as an ``invalid_input`` problem).
    """
    found = media_type(request)
    if (found is None and optional) or found in allowed:
        return found
    wanted = " or ".join(sorted(allowed))
    raise HTTPException(415, f"Content-Type must be {wanted}, got {found or 'none'}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EncodingError(f"duplicate JSON key {key!r}", key=key)
        out[key] = value
    return out


def parse_json(data: bytes) -> object:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, bounded nesting.

    Raises:
        EncodingError: anything else (HTTP 400 ``encoding_invalid``).
    """

    def no_constant(name: str) -> object:
        raise EncodingError(f"{name} is not JSON")

    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=no_constant
        )
    except EncodingError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EncodingError(f"malformed JSON: {exc}"[:300]) from exc


class _BufferedRequest(Request):
    """A request whose body was already read (and bounded) by :class:`JsonBodyRoute`."""

    def __init__(self, request: Request, body: bytes) -> None:
        super().__init__(request.scope, request.receive)
        self._buffered = body

    async def body(self) -> bytes:
        return self._buffered


class JsonBodyRoute(APIRoute):
    """An ``APIRoute`` whose body (when it declares one) is capped at ``MAX_JSON_BODY_BYTES``.

    FastAPI reads a declared body with ``request.body()``, unbounded, and turns any error on
    the way into a generic 400; this reads it first, under the limit, so an oversized body is a
    413 ``payload_too_large`` problem. Routes that stream their body take ``Request`` instead
    and declare no body, so they pass through untouched.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The FastAPI handler, behind the body limit when the route has a body."""
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def bounded(request: Request) -> Response:
            body = await read_body(request, limit=MAX_JSON_BODY_BYTES, what="request body")
            return await handler(_BufferedRequest(request, body))

        return bounded


# --- responses ---------------------------------------------------------------------------


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(receive: Receive, work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work()`` until it ends or the client disconnects (which cancels it).

    Returns True when the client disconnected first. An exception of ``work`` is re-raised.
    """
    task = asyncio.ensure_future(work())
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watch):
            pending.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
    if task.cancelled():
        return True
    error = task.exception()
    if error is not None:
        raise error
    return False


async def aclose(chunks: AsyncIterator[bytes] | None) -> None:
    """Close an async generator source (releases its file handle now, not at GC)."""
    closer = getattr(chunks, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


class StreamResponse(Response):
    """Streams an async iterator of bytes; stops on client disconnect; closes the source.

    ``first`` is a chunk already taken from the source (to surface errors such as a missing
    or corrupt blob as a problem before the status line is sent); ``region``, taken from the
    source the same way, is sent instead of chunks with the server's zero-copy extension.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes] | None,
        *,
        first: bytes | None = None,
        region: FileRegion | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.chunks = chunks
        self.first = first
        self.region = region
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the status line, then each chunk, until the end or a disconnect."""

        async def stream() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            region = self.region
            if scope.get("method") != "HEAD":
                if region is not None and region.count:
                    await send(
                        {
                            "type": ZERO_COPY_SEND,
                            "file": region.fd,
                            "offset": region.offset,
                            "count": region.count,
                            "more_body": False,
                        }
                    )
                    return
                if self.first:
                    await send(
                        {"type": "http.response.body", "body": self.first, "more_body": True}
                    )
                if self.chunks is not None:
                    async for chunk in self.chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            await run_until_disconnect(receive, stream)
        except OSError:
            pass  # ASGI spec 2.4: send raises once the client is gone
        finally:
            await aclose(self.chunks)


def not_modified(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` matches ``etag`` (weak comparison, RFC 9110 §13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def parse_range(request: Request) -> ByteRange | None:
    """The request's single ``Range`` (None without one).

    Raises:
        InvalidRangeError: a malformed or multi-range header (416).
    """
    header = request.headers.get("range")
    return ByteRange.parse(header) if header is not None else None


async def bytes_response(
    request: Request,
    chunks: AsyncIterator[bytes] | None,
    *,
    size: int,
    sha256: str,
    etag: str,
    content_type: str,
    byte_range: ByteRange | None,
) -> Response:
    """The GET/HEAD answer for stored bytes (``chunks`` already limited to ``byte_range``).

    Raises:
        InvalidRangeError: the range does not overlap the bytes (416 with ``Content-Range``).
    """
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        REPR_DIGEST: repr_digest(sha256),
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if not_modified(request, etag):
        await aclose(chunks)
        return Response(status_code=304, headers=headers)
    status = 200
    length = size
    if byte_range is not None:
        start, stop = byte_range.resolve(size)
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        status, length = 206, stop - start
    headers["Content-Length"] = str(length)
    first: bytes | None = None
    region: FileRegion | None = None
    if request.method == "HEAD" or chunks is None:
        await aclose(chunks)
        chunks = None
    else:
        try:  # errors here still become a problem
            if isinstance(chunks, FileBacked) and offers_zero_copy(request.scope):
                region = await chunks.region()
            else:
                first = await anext(chunks, None)
        except BaseException:
            await aclose(chunks)
            raise
    return StreamResponse(
        chunks,
        first=first,
        region=region,
        status_code=status,
        headers=headers,
        media_type=content_type,
    )
