"""The HTTP/1.1 protocol ``serve`` runs: uvicorn's httptools protocol, with fewer copies.

In: uvicorn 0.54 gathers a request body by appending every piece the socket delivers to a
``bytearray`` (``cycle.body += piece``, with ``len(cycle.body)`` for flow control) and hands
each ASGI message ``bytes(cycle.body)``, then starts a new ``bytearray``: every uploaded byte is
copied twice on the event-loop thread, which is the busiest thread of an upload (BENCHMARKS.md,
HTTP). :class:`PiecesProtocol` puts a :class:`Pieces` in place of each fresh ``bytearray``:
``+=`` keeps a reference to the piece, ``len`` counts, and ``bytes()`` returns the piece itself
when there is one (uvloop delivers ~248 KiB at a time) or joins them once.

Out: the protocol offers the ASGI ``http.response.zerocopysend`` extension (ADR-0016). A
response may send a region of an open file; the kernel copies it from the page cache to the
socket (``os.sendfile``), so stored bytes never pass through Python. A small region is sent from
the event loop when the socket takes it at once; otherwise a thread of its own (not the default
executor, which slow clients would hold) sends it through its own ``dup`` of the socket, so a
connection closed meanwhile cannot have its descriptor number reused under it, and the send ends
(and is waited for) before the response returns. When the socket is not ready for it (response
bytes still queued in the transport, chunked framing, no socket), the region is read and sent
as ordinary body messages.

This leans on uvicorn's private protocol code; the version is pinned by ``uv.lock``, and every
upload and download test of the end-to-end suite runs through it (``artifact-store serve`` is
what they start). Where httptools is missing, ``serve`` lets uvicorn choose, as before, and
responses fall back to body messages (the extension is not offered).
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Self

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from artifact_store.kernels.threads import in_own_thread
from artifact_store.server.socket_body import BODY_SOURCE, BodyTakeover, body_takeover

__all__ = ["ZERO_COPY_SEND", "Pieces", "PiecesProtocol", "offers_zero_copy"]

#: The ASGI extension (and message type) for sending a file region without copying it.
ZERO_COPY_SEND: Final = "http.response.zerocopysend"
#: Piece size of the fallback that reads the region and sends it as body messages.
_SEND_PIECE: Final = 4 * 1024 * 1024
#: Largest span handed to one ``sendfile`` call of the send thread.
_SENDFILE_MAX: Final = 64 * 1024 * 1024
#: How often (ms) a blocked send looks whether it was told to stop.
_POLL_MS: Final = 100
#: Regions up to this size are first sent from the event loop (no thread when they fit).
_INLINE_MAX: Final = 64 * 1024

type _Message = MutableMapping[str, Any]
type _Send = Callable[[_Message], Awaitable[None]]


def offers_zero_copy(scope: MutableMapping[str, Any]) -> bool:
    """Whether the server under this request accepts ``http.response.zerocopysend``."""
    extensions = scope.get("extensions") or {}
    return ZERO_COPY_SEND in extensions


class Pieces:
    """A request body being gathered: the pieces as received, copied only if there are several."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def __iadd__(self, piece: bytes) -> Self:
        self._parts.append(piece)
        self._size += len(piece)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        parts = self._parts
        if len(parts) == 1 and type(parts[0]) is bytes:
            return parts[0]
        return b"".join(parts)

    def take(self) -> list[bytes]:
        """The pieces as received, handed over; none are left."""
        parts, self._parts, self._size = self._parts, [], 0
        return parts


class PiecesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, gathering request bodies in :class:`Pieces`, lending large
    ones to the store's threads (``socket_body.py``), and sending file regions with
    ``sendfile``."""

    _takeover: BodyTakeover | None = None

    def on_message_begin(self) -> None:
        """Start the request's scope, offering the zero-copy extension."""
        super().on_message_begin()
        scope: MutableMapping[str, Any] = self.scope  # type: ignore[assignment]
        scope["extensions"] = {ZERO_COPY_SEND: {}}
        self._takeover = None

    def on_headers_complete(self) -> None:
        """Make the request's cycle, offering its body as a byte source (ADR-0018)."""
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade
            self._takeover = BodyTakeover(self, cycle)
            scope: MutableMapping[str, Any] = self.scope  # type: ignore[assignment]
            scope["extensions"][BODY_SOURCE] = self._takeover

    def on_body(self, body: bytes) -> None:
        """Swap the cycle's fresh ``bytearray`` for :class:`Pieces`, then let uvicorn go on."""
        cycle = self.cycle
        if cycle is not None and type(cycle.body) is bytearray and not cycle.body:
            cycle.body = Pieces()  # type: ignore[assignment]
        if self._takeover is not None:
            self._takeover.seen += len(body)
        super().on_body(body)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGIApp) -> None:  # type: ignore[override]
        async def extended(scope: Scope, receive: Receive, send: Send) -> None:
            takeover = body_takeover(scope)  # set once the headers were complete
            try:
                if takeover is not None:
                    receive = _guarded_receive(receive, takeover)
                await app(scope, receive, _FileSend(cycle, send, takeover))
            finally:
                if takeover is not None:
                    takeover.settle()  # before uvicorn answers 500 for an app that failed

        super()._start_asgi_task(cycle, extended)  # type: ignore[arg-type]


def _guarded_receive(receive: Receive, takeover: BodyTakeover) -> Receive:
    """``receive`` that never resumes reading under a thread that has the body (ADR-0018)."""

    async def guarded() -> _Message:
        if takeover.taken:
            raise RuntimeError("receive() while the request body is read by a body source")
        if takeover.left_unread:
            return {"type": "http.disconnect"}
        return await receive()

    return guarded


class _FileSend:
    """The ASGI ``send`` of one request: ``zerocopysend`` handled here, the rest by uvicorn
    (once a taken body is settled: before the status line, which may then close the
    connection)."""

    __slots__ = ("_cycle", "_send", "_takeover")

    def __init__(
        self, cycle: RequestResponseCycle, send: _Send, takeover: BodyTakeover | None
    ) -> None:
        self._cycle, self._send, self._takeover = cycle, send, takeover

    async def __call__(self, message: _Message) -> None:
        if message["type"] != ZERO_COPY_SEND:
            if self._takeover is not None and message["type"] == "http.response.start":
                self._takeover.settle()
            await self._send(message)
            return
        cycle = self._cycle
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"unexpected ASGI message {ZERO_COPY_SEND!r} at this point")
        file = message["file"]
        fd = file if isinstance(file, int) else file.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset
        more_body = bool(message.get("more_body", False))
        if count and cycle.scope["method"] != "HEAD" and not cycle.disconnected:
            if count > cycle.expected_content_length and not cycle.chunked_encoding:
                raise RuntimeError("Response content longer than Content-Length")
            if cycle.flow.write_paused:
                await cycle.flow.drain()
            sock = cycle.transport.get_extra_info("socket")
            if sock is None or cycle.chunked_encoding or cycle.transport.get_write_buffer_size():
                await self._send_read(fd, offset, count)
            else:
                await _sendfile(sock.fileno(), fd, offset, count)
                cycle.expected_content_length -= count
        await self._send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _send_read(self, fd: int, offset: int, count: int) -> None:
        """The fallback: the region read in pieces and sent as body messages."""
        end = offset + count
        while offset < end:
            piece = await asyncio.to_thread(os.pread, fd, min(_SEND_PIECE, end - offset), offset)
            if not piece:
                raise _ended(offset, end)
            offset += len(piece)
            await self._send({"type": "http.response.body", "body": piece, "more_body": True})


async def _sendfile(sock_fd: int, fd: int, offset: int, count: int) -> None:
    """Send ``count`` bytes of ``fd`` from ``offset`` to the socket.

    A small region is tried right here (the socket is non-blocking; this is one kernel copy);
    what is left goes to a thread of its own, not the default executor, which a few slow
    clients would otherwise hold for minutes. Returns only once that thread is done with the
    file, even when cancelled (the caller closes the file next; the thread is told to stop and
    ends within ``_POLL_MS``).

    Raises:
        OSError: the peer went away (``EPIPE``, ``ECONNRESET``).
        RuntimeError: the file ended before the region did.
    """
    if count <= _INLINE_MAX:
        try:
            sent = os.sendfile(sock_fd, fd, offset, count)
        except BlockingIOError:
            sent = -1
        if sent == 0:
            raise _ended(offset, offset + count)
        if sent == count:
            return
        if sent > 0:
            offset, count = offset + sent, count - sent
    stop = threading.Event()
    own = os.dup(sock_fd)  # the thread's alone: cannot be closed and reused under it

    def send() -> None:
        try:
            _sendfile_blocking(own, fd, offset, count, stop)
        finally:
            os.close(own)

    await in_own_thread(send, cancel=stop.set, name="sendfile")


def _sendfile_blocking(
    sock_fd: int, fd: int, offset: int, count: int, stop: threading.Event
) -> None:
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    end = offset + count
    while offset < end:
        if stop.is_set():
            raise ConnectionAbortedError(errno.ECONNABORTED, "send stopped")
        try:
            sent = os.sendfile(sock_fd, fd, offset, min(_SENDFILE_MAX, end - offset))
        except BlockingIOError:
            poller.poll(_POLL_MS)
            continue
        if sent == 0:
            raise _ended(offset, end)
        offset += sent


def _ended(offset: int, end: int) -> RuntimeError:
    """The error of a file that ends before the region to send does (not a disconnect:
    it propagates and is logged; the response is cut short)."""
    return RuntimeError(f"file ended at {offset}, {end} bytes were to be sent")
