"""Bytes pumped from a blocking source through a ring of reused buffers to consumer threads
(ADR-0018).

Theory of operation. A :class:`ByteSource` fills buffers the caller owns (``readinto``: for a
socket the kernel copies the received bytes straight into them). :func:`pump` keeps a ring of
``depth`` page-aligned buffers of ``piece`` bytes each; it fills one buffer at a time to the
brim (or to the end of the source) and hands a read-only view of it to every consumer, each on
a thread of its own (sha256, blake3 and the file writer for an upload). A buffer goes back to
the ring when every consumer is done with it, so the bytes are copied into user space once and
never again: no ``bytes`` objects, no joins, no event-loop work per byte, and memory bounded by
``depth x piece`` whatever the length. Consumers see every byte, in order.

Buffers are anonymous ``mmap`` regions: page-aligned, so a consumer may hand a full piece to an
``O_DIRECT`` write as it is.

Failure: the first error of a consumer stops the pump before the next buffer is filled (the
other consumers skip what is still queued) and is raised by :func:`pump`. An error of the source
is raised once the bytes that arrived before it were handed to every consumer (an upload
session keeps them), and :class:`~artifact_store.errors.PayloadTooLargeError` when more than
``limit`` bytes arrive, without handing on the buffer that crossed the limit; either only after
every consumer thread has ended. Nothing of a buffer is used after :func:`pump` returns or
raises.
"""

from __future__ import annotations

import contextlib
import mmap
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

from artifact_store.kernels.limits import CHUNK_SIZE, check_size

__all__ = ["RING_DEPTH", "RING_PIECE", "ByteSource", "Consumer", "pump"]

#: Bytes of one ring buffer: a multiple of every ``O_DIRECT`` alignment, and large enough that
#: the per-buffer hand-offs (three thread wake-ups) cost nothing next to the bytes.
RING_PIECE: Final = 4 * CHUNK_SIZE
#: Buffers in the ring: enough that the slowest consumer (sha256) never starves the source
#: while the others run ahead (BENCHMARKS.md, HTTP, fifth session).
RING_DEPTH: Final = 8

type Consumer = Callable[[memoryview], object]
"""Takes one filled piece (what it returns is ignored); must not keep the view (or a slice of
it) after it returns."""


@runtime_checkable
class ByteSource(Protocol):
    """A blocking source of bytes that fills the caller's buffers (a request body read off its
    socket). Called from one worker thread at a time, never from an event loop."""

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill some of ``buffer``; return how many bytes, 0 only at the end of the source.

        Raises:
            Exception: whatever ends the source early (a client that went away); the pump
                propagates it unchanged.
        """
        ...

    def cancel(self) -> None:
        """Make a blocked or later :meth:`readinto` raise soon (from any thread)."""
        ...


class _Ring:
    """The buffers, their consumer threads, and the count of consumers still on each buffer."""

    def __init__(self, consumers: Sequence[Consumer], piece: int, depth: int) -> None:
        self._maps = [mmap.mmap(-1, piece) for _ in range(depth)]
        self._views = [memoryview(m) for m in self._maps]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(depth):
            self._free.put(index)
        self._holders = [0] * depth
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        self._queues: list[queue.SimpleQueue[tuple[int, int] | None]] = [
            queue.SimpleQueue() for _ in consumers
        ]
        self._threads = [
            threading.Thread(target=self._serve, args=(q, c), name=f"ring-{n}", daemon=True)
            for n, (q, c) in enumerate(zip(self._queues, consumers, strict=True))
        ]
        for thread in self._threads:
            thread.start()

    def acquire(self) -> tuple[int, memoryview]:
        """A free buffer (waits while all are in use)."""
        index = self._free.get()
        return index, self._views[index]

    def publish(self, index: int, size: int) -> None:
        """Hand the first ``size`` bytes of buffer ``index`` to every consumer."""
        with self._lock:
            self._holders[index] = len(self._queues)
        for q in self._queues:
            q.put((index, size))

    def give_back(self, index: int) -> None:
        """Return a buffer that was acquired but not published."""
        self._free.put(index)

    def close(self) -> None:
        """Let the consumers finish what is queued, end their threads, free the buffers."""
        for q in self._queues:
            q.put(None)
        for thread in self._threads:
            thread.join()
        for view in self._views:
            view.release()
        for region in self._maps:
            with contextlib.suppress(BufferError):  # a source kept a slice: freed with it
                region.close()

    def _serve(self, q: queue.SimpleQueue[tuple[int, int] | None], consume: Consumer) -> None:
        # Every queued buffer is released, whatever fails, so acquire() never waits forever.
        while (item := q.get()) is not None:
            index, size = item
            if self.error is None:
                try:
                    with self._views[index][:size].toreadonly() as view:
                        consume(view)
                except BaseException as exc:  # handed to the pumping thread
                    with self._lock:
                        if self.error is None:
                            self.error = exc
            self._release(index)

    def _release(self, index: int) -> None:
        with self._lock:
            self._holders[index] -= 1
            free = self._holders[index] == 0
        if free:
            self._free.put(index)


def pump(
    source: ByteSource,
    consumers: Sequence[Consumer],
    *,
    limit: int,
    what: str = "blob",
    piece: int = RING_PIECE,
    depth: int = RING_DEPTH,
) -> int:
    """Read ``source`` to its end through a ring of buffers; every consumer sees every byte,
    in order, on its own thread. Blocking: run it on a worker thread. Returns the byte count.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes (named ``what``); the excess is never
            handed to a consumer.
        BaseException: the first error of a consumer, or what ``source.readinto`` raised.
    """
    ring = _Ring(consumers, piece, depth)
    total = 0
    try:
        while True:
            index, buffer = ring.acquire()
            if ring.error is not None:
                ring.give_back(index)
                break
            filled, stopped = _fill(source, buffer)
            total += filled
            try:
                check_size(what, total, limit)
            except BaseException:
                ring.give_back(index)
                raise
            if filled:
                ring.publish(index, filled)
            else:
                ring.give_back(index)
            if stopped is not None:
                raise stopped  # after what arrived before it was handed on
            if filled < len(buffer):
                break
    finally:
        ring.close()
    if ring.error is not None:
        raise ring.error
    return total


def _fill(source: ByteSource, buffer: memoryview) -> tuple[int, BaseException | None]:
    """Fill ``buffer`` to the brim, or to the end of the source; with what stopped the source
    early, if anything (the bytes before it are kept)."""
    filled = 0
    try:
        while filled < len(buffer):
            got = source.readinto(buffer[filled:])
            if got <= 0:
                break
            filled += got
    except BaseException as exc:  # raised by pump once the bytes before it are handed on
        return filled, exc
    return filled, None
