"""A large request body read straight off its socket by the store's threads (ADR-0018).

Through ASGI, every uploaded byte costs the event loop: uvloop reads the socket into a buffer,
copies each read into a new ``bytes``, httptools hands it to the protocol, and the app passes it
through ``receive`` to the store, which hands it to its hash and write threads. With two cores,
that loop thread was the critical path of a 1 GiB PUT (BENCHMARKS.md, HTTP). Instead ``serve``
offers the extension :data:`BODY_SOURCE`: a route may take the rest of a request body as a
:class:`~artifact_store.kernels.ring.ByteSource`, whose ``readinto`` reads the socket into the
store's ring buffers from the store's own thread (one kernel copy, no Python per piece).

Theory of operation, per request (all on the event loop unless said otherwise):

- ``open`` (:class:`BodyTakeover`): only for a body with one ``Content-Length`` and no
  ``Transfer-Encoding``, over plain TCP (a TLS socket carries ciphertext), before the app has
  read any of it through ``receive`` and before the response starts. It answers a pending
  ``Expect: 100-continue``, pauses the transport's reading (uvloop then leaves the socket alone),
  takes the body bytes the parser already delivered (at most one read's worth) and ``dup``s the
  socket, so a connection closed meanwhile cannot have its descriptor number reused under the
  reading thread.
- ``readinto`` (:class:`SocketBody`, on the store's thread): first the delivered bytes, then the
  socket, never past the body's last byte (a pipelined next request stays on the socket),
  waiting for data with ``poll`` in slices of ``_POLL_MS`` so a ``cancel`` is seen soon. End of
  file or a reset before the last byte raise ``ClientDisconnect``, as ``receive`` would.
- ``settle`` (when the response starts, or the app ends without one): stops the source. If the
  socket was read to the body's end, the parser (which never saw those bytes) is replaced by a
  fresh one and the request is marked complete, so the connection serves its next request. If
  not (an error mid-body), the response says ``Connection: close`` and the connection ends with
  it: the rest of the body is never parsed as a request. If the client left (the thread saw the
  end of the stream or a reset, which uvloop, not reading, did not), the request is marked
  disconnected and the connection closed, as uvicorn does when it sees the client go.

While a body is taken, ``receive`` must not be called (it would resume reading under the
thread): the protocol raises there, and after ``settle`` answers as for a finished body, or a
disconnect when the body was left unread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
from collections import deque
from collections.abc import Iterable, MutableMapping
from typing import Any, Final, Protocol, runtime_checkable

import httptools
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["BODY_SOURCE", "BodyTakeover", "SocketBody", "body_takeover"]

#: The ASGI scope extension a route takes a request body through (ADR-0018).
BODY_SOURCE: Final = "artifact_store.body_source"
#: How often (ms) a reader waiting for data looks whether it was told to stop.
_POLL_MS: Final = 100
_POLL_IN: Final = select.POLLIN | select.POLLPRI
_READ_ERRORS: Final = (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT)


@runtime_checkable
class _Delivered(Protocol):
    """Body bytes the parser delivered and the app has not received (``protocol.Pieces``)."""

    def take(self) -> list[bytes]:
        """The pieces, handed over; none are left."""
        ...


class SocketBody:
    """The rest of one request body as a :class:`~artifact_store.kernels.ring.ByteSource`:
    first the bytes already delivered, then the socket (module docstring)."""

    def __init__(self, delivered: list[bytes], remaining: int, fd: int) -> None:
        self._delivered = deque(memoryview(piece) for piece in delivered if piece)
        self._remaining = remaining  # body bytes still on the socket
        self._fd = fd  # our own dup, or -1 when nothing is left on the socket
        self._poller = select.poll()
        if fd >= 0:
            self._poller.register(fd, _POLL_IN)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reading = False
        self.received = 0  # bytes handed to the reader so far
        self.gone = False  # the client closed or reset the connection before the body's end

    @property
    def exhausted(self) -> bool:
        """Whether the socket was read to the body's last byte."""
        return self._remaining == 0

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill some of ``buffer``; 0 at the body's end.

        Raises:
            ClientDisconnect: the client went away before the body's end, or the source was
                cancelled.
        """
        if self._delivered:
            return self._from_delivered(buffer)
        if not self._remaining or not buffer:
            return 0
        with self._lock:
            if self._fd < 0 or self._stop.is_set():
                raise ClientDisconnect("the request body is no longer readable")
            self._reading = True
        try:
            got = self._recv(buffer[: min(len(buffer), self._remaining)])
        finally:
            with self._lock:
                self._reading = False
                if self._stop.is_set():
                    self._close_locked()
        self._remaining -= got
        self.received += got
        if not self._remaining:
            self.close()
        return got

    def cancel(self) -> None:
        """Make a waiting or later :meth:`readinto` raise within ``_POLL_MS``."""
        self._stop.set()

    def close(self) -> None:
        """Stop reading and release the descriptor (now, or when a read in progress ends)."""
        with self._lock:
            self._stop.set()
            if not self._reading:
                self._close_locked()

    def _close_locked(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _from_delivered(self, buffer: memoryview) -> int:
        piece = self._delivered[0]
        count = min(len(piece), len(buffer))
        buffer[:count] = piece[:count]
        if count == len(piece):
            self._delivered.popleft()
        else:
            self._delivered[0] = piece[count:]
        self.received += count
        return count

    def _recv(self, view: memoryview) -> int:
        while True:
            if self._stop.is_set():
                raise ClientDisconnect("the request body source was cancelled")
            try:
                got = os.readv(self._fd, [view])
            except BlockingIOError:
                self._poller.poll(_POLL_MS)
                continue
            except OSError as exc:
                if exc.errno in _READ_ERRORS:
                    self.gone = True
                    raise ClientDisconnect(f"the client went away: {exc.strerror}") from exc
                raise
            if got == 0:
                self.gone = True
                left = self._remaining
                raise ClientDisconnect(f"the client left {left} bytes before the body's end")
            return got


class BodyTakeover:
    """The :data:`BODY_SOURCE` extension of one request (``scope["extensions"]``)."""

    def __init__(self, protocol: HttpToolsProtocol, cycle: RequestResponseCycle) -> None:
        self._protocol, self._cycle = protocol, cycle
        self.seen = 0  # body bytes the parser delivered for this request
        self._source: SocketBody | None = None
        self._on_socket = 0  # body bytes left on the socket when it was taken
        self._settled = False

    @property
    def taken(self) -> bool:
        """Whether the body was taken (and not settled yet)."""
        return self._source is not None and not self._settled

    @property
    def received(self) -> int:
        """Body bytes the source handed over (for the access log and metrics)."""
        return self._source.received if self._source is not None else 0

    @property
    def left_unread(self) -> bool:
        """Whether the body was taken and the socket not read to its end."""
        return self._source is not None and not self._source.exhausted

    def open(self) -> SocketBody | None:
        """The rest of the body as a byte source, or None when it cannot be taken (module
        docstring); at most once per request."""
        protocol, cycle = self._protocol, self._cycle
        if self._source is not None or protocol.cycle is not cycle:
            return None
        if cycle.response_started or cycle.disconnected or protocol.scheme != "http":
            return None
        length = _content_length(cycle.scope["headers"])
        delivered = cycle.body
        if length is None or self.seen - len(delivered) or self.seen > length:
            return None  # no fixed length, or the app already read some of the body
        sock = cycle.transport.get_extra_info("socket")
        if sock is None:
            return None
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        protocol.flow.pause_reading()
        pieces = delivered.take() if isinstance(delivered, _Delivered) else [bytes(delivered)]
        cycle.body = bytearray()
        self._on_socket = length - self.seen
        fd = os.dup(sock.fileno()) if self._on_socket else -1
        self._source = SocketBody(pieces, self._on_socket, fd)
        return self._source

    def settle(self) -> None:
        """End the takeover (idempotent): the connection goes on with its next request when
        the body was read to its end, else it closes after this response."""
        source = self._source
        if source is None or self._settled:
            return
        self._settled = True
        source.close()
        cycle = self._cycle
        if source.gone:
            # uvloop, not reading, has not seen it: tell uvicorn, so that it neither answers
            # (nobody listens; a half-closed client sent a truncated request) nor keeps the
            # connection, and close it.
            cycle.disconnected = True
            cycle.keep_alive = False
            cycle.transport.close()
            return
        if not source.exhausted:
            cycle.keep_alive = False
            return
        if self._on_socket:
            # The parser never saw the bytes the thread read: start a fresh one at the next
            # request, and finish this one as the old parser would have.
            self._protocol.parser = _new_parser(self._protocol)
            cycle.more_body = False
            cycle.message_event.set()


def body_takeover(scope: MutableMapping[str, Any]) -> BodyTakeover | None:
    """The request's :data:`BODY_SOURCE` extension, when the server offers it."""
    extensions = scope.get("extensions") or {}
    takeover = extensions.get(BODY_SOURCE)
    return takeover if isinstance(takeover, BodyTakeover) else None


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The one valid ``Content-Length`` of a request without ``Transfer-Encoding``."""
    headers = list(headers)
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) != 1 or any(name == b"transfer-encoding" for name, _ in headers):
        return None
    value = lengths[0].strip()
    if not value.isdigit() or len(value) > 20:
        return None
    return int(value)


def _new_parser(protocol: HttpToolsProtocol) -> httptools.HttpRequestParser:
    parser = httptools.HttpRequestParser(protocol)
    with contextlib.suppress(AttributeError):  # httptools < 0.6.3 (as uvicorn does)
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser
