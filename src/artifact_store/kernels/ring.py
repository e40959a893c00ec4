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

Buffers are anonymous private ``mmap`` regions: page-aligned, so a consumer may hand a full
piece to an ``O_DIRECT`` write as it is. One ring's worth stays mapped between pumps (an upload
session pumps once per chunk; fresh pages cost a fault and a zeroing each).

Failure: the first error of a consumer stops the pump before the next buffer is filled (the
other consumers skip what is still queued) and is raised by :func:`pump`. An error of the source
is raised once the bytes that arrived before it were handed to every consumer (an upload
session keeps them), and the caller's size check (``check``, e.g. :func:`at_most`) when too
many bytes arrive, without handing on the buffer that crossed the line; either only after every
consumer thread has ended. Nothing of a buffer is used after :func:`pump` returns or
raises.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

from artifact_store.kernels.limits import CHUNK_SIZE, check_size

__all__ = ["RING_DEPTH", "RING_PIECE", "ByteSource", "Consumer", "at_most", "pump"]

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


class _Pool:
    """Ring buffers kept between pumps. An upload session pumps once per chunk, and fresh
    anonymous memory costs a page fault and a zeroed page per 4 KiB on first touch (a fifth of
    the server's CPU for the SDK's upload before the pool; BENCHMARKS.md, HTTP, fifth session).
    At most ``keep`` idle buffers of each size are kept; the rest are unmapped."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._idle: dict[int, list[mmap.mmap]] = {}
        self._lock = threading.Lock()

    def take(self, size: int, count: int) -> list[mmap.mmap]:
        """``count`` buffers of ``size`` bytes, idle ones first."""
        with self._lock:
            idle = self._idle.get(size, [])
            taken = idle[len(idle) - min(count, len(idle)) :]
            del idle[len(idle) - len(taken) :]
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        return taken + [mmap.mmap(-1, size, flags=flags) for _ in range(count - len(taken))]

    def give(self, size: int, buffers: list[mmap.mmap]) -> None:
        """Take buffers back (nobody may use them any more)."""
        with self._lock:
            idle = self._idle.setdefault(size, [])
            kept = buffers[: max(0, self._keep - len(idle))]
            idle.extend(kept)
        for buffer in buffers[len(kept) :]:
            with contextlib.suppress(BufferError):  # a source kept a slice: freed with it
                buffer.close()


#: One ring's worth of idle buffers stays mapped between pumps.
_POOL = _Pool(RING_DEPTH)


class _Ring:
    """The buffers, their consumer threads, and the count of consumers still on each buffer."""

    def __init__(self, consumers: Sequence[Consumer], piece: int, depth: int) -> None:
        self._piece = piece
        self._maps = _POOL.take(piece, depth)
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
        _POOL.give(self._piece, self._maps)

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


def at_most(limit: int, what: str = "blob") -> Callable[[int], None]:
    """The size check of :func:`pump` for a plain limit: ``PayloadTooLargeError`` naming
    ``what`` past ``limit`` bytes."""
    return functools.partial(check_size, what, maximum=limit)


def pump(
    source: ByteSource,
    consumers: Sequence[Consumer],
    *,
    check: Callable[[int], None],
    piece: int = RING_PIECE,
    depth: int = RING_DEPTH,
) -> int:
    """Read ``source`` to its end through a ring of buffers; every consumer sees every byte,
    in order, on its own thread. Blocking: run it on a worker thread. Returns the byte count.

    ``check`` is called with the running total after each buffer is filled and raises when it
    is too much (:func:`at_most`, or a caller's own rule, such as an upload session's); the
    buffer that crossed the line is never handed to a consumer.

    Raises:
        PayloadTooLargeError: (or what ``check`` raises) too many bytes.
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
                check(total)
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
