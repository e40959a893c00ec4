"""Byte sources for tests of the ring path (``kernels.ring.ByteSource``)."""

import threading


class ChunkedSource:
    """A :class:`~artifact_store.kernels.ring.ByteSource` over ``data`` that hands out at most
    ``step`` bytes per read (a socket delivers what has arrived, not what was asked for) and
    can be made to fail once ``fail_at`` bytes were read."""

    def __init__(self, data: bytes, step: int | None = None, fail_at: int | None = None) -> None:
        self._data, self._step, self._fail_at = memoryview(data), step, fail_at
        self.offset = 0
        self.cancelled = threading.Event()

    def readinto(self, buffer: memoryview, /) -> int:
        """Copy the next bytes into ``buffer``."""
        if self.cancelled.is_set():
            raise ConnectionAbortedError("cancelled")
        if self._fail_at is not None and self.offset >= self._fail_at:
            raise ConnectionResetError("the source broke")
        count = min(len(buffer), len(self._data) - self.offset, self._step or len(buffer))
        buffer[:count] = self._data[self.offset : self.offset + count]
        self.offset += count
        return count

    def cancel(self) -> None:
        """Make the next read fail."""
        self.cancelled.set()
