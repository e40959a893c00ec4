"""The HTTP/1.1 protocol ``serve`` runs: uvicorn's httptools protocol, minus two body copies.

uvicorn 0.54 gathers a request body by appending every piece the socket delivers to a
``bytearray`` (``cycle.body += piece``, with ``len(cycle.body)`` for flow control) and hands
each ASGI message ``bytes(cycle.body)``, then starts a new ``bytearray``: every uploaded byte is
copied twice on the event-loop thread, which is the busiest thread of an upload (BENCHMARKS.md,
HTTP). :class:`PiecesProtocol` puts a :class:`Pieces` in place of each fresh ``bytearray``:
``+=`` keeps a reference to the piece, ``len`` counts, and ``bytes()`` returns the piece itself
when there is one (uvloop delivers ~248 KiB at a time) or joins them once.

This leans on uvicorn's private protocol code; the version is pinned by ``uv.lock``, and every
upload test of the suite runs through it (``artifact-store serve`` is what the end-to-end tests
start). Where httptools is missing, ``serve`` lets uvicorn choose, as before.
"""

from __future__ import annotations

from typing import Self

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["Pieces", "PiecesProtocol"]


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


class PiecesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, gathering request bodies in :class:`Pieces`."""

    def on_body(self, body: bytes) -> None:
        """Swap the cycle's fresh ``bytearray`` for :class:`Pieces`, then let uvicorn go on."""
        cycle = self.cycle
        if cycle is not None and type(cycle.body) is bytearray and not cycle.body:
            cycle.body = Pieces()  # type: ignore[assignment]
        super().on_body(body)
