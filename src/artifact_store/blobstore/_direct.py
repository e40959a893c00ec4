"""Write helpers of ``LocalBlobStore`` (private): the background ``fdatasync`` flusher of
large buffered writes, which can also drop what it made durable from the page cache
(ADR-0017), and the ``O_DIRECT`` writers (``write=direct``, ADR-0012): one that writes from
page-aligned memory in the calling thread (ring buffers, ADR-0018), and the sink that copies
immutable chunks into aligned batches and writes them from a helper thread."""

from __future__ import annotations

import errno
import logging
import mmap
import queue
import threading
from collections.abc import Callable
from typing import Final

from artifact_store.blobstore.fsops import FsOps
from artifact_store.kernels.limits import CHUNK_SIZE

__all__ = [
    "DIRECT_ALIGN",
    "DirectSink",
    "DirectWriter",
    "DropBehind",
    "Flusher",
    "enable_direct",
    "write_all",
]

logger = logging.getLogger(__name__)

#: Direct writes are made in batches of this size from one page-aligned buffer.
_DIRECT_BATCH: Final = 4 * CHUNK_SIZE
#: Offset and length alignment that every Linux filesystem accepts for O_DIRECT.
DIRECT_ALIGN: Final = 4096
_DIRECT_QUEUE: Final = 8


class DropBehind:
    """Drops a file's durable prefix from the page cache, one new range per call (ADR-0017).

    Only ranges the caller has just made durable may be passed: the pages are then clean, and
    dropping them loses nothing (``FsOps.drop_cache`` is advice and never fails).
    """

    def __init__(self, fs: FsOps, fd: int) -> None:
        self._fs, self._fd = fs, fd
        self._dropped = 0  # bytes from offset 0 already dropped

    def durable(self, upto: int) -> None:
        """The first ``upto`` bytes are durable: drop what of them is not dropped yet."""
        if upto > self._dropped:
            self._fs.drop_cache(self._fd, self._dropped, upto - self._dropped)
            self._dropped = upto

    def rewind(self, size: int) -> None:
        """The file was cut back to ``size`` bytes."""
        self._dropped = min(self._dropped, size)


class Flusher:
    """Issues ``fdatasync`` on a staged file from a helper thread every ``every`` bytes.

    The final fsync then finds little left to write, and write-back overlaps the hashing. An
    error is kept and fails the write: after a failed fsync the kernel may have dropped the
    dirty pages, so a later fsync that "succeeds" proves nothing (RELIABILITY.md §3.2).

    With ``drop``, each range made durable by a flush is then dropped from the page cache
    (``posix_fadvise(DONTNEED)``; ADR-0017): a large upload recycles a few flush intervals of
    pages instead of allocating a page for every byte, and leaves the cache to readers.
    """

    def __init__(self, fs: FsOps, fd: int, every: int, *, drop: bool = False) -> None:
        self._fs, self._fd, self._every = fs, fd, every
        self._next = every
        self._written = 0  # bytes written before the last wake-up (they are in the next flush)
        self._drop = DropBehind(fs, fd) if drop else None
        self._wake = threading.Event()
        self._stopping = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="blob-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            durable = self._written  # read BEFORE the flush: these bytes are in it
            try:
                self._fs.fdatasync(self._fd)
            except OSError as exc:
                self.error = exc
                return
            if self._drop is not None:
                self._drop.durable(durable)

    def wrote(self, total: int) -> None:
        """Note that ``total`` bytes are written; wakes the helper at each interval."""
        if total >= self._next:
            self._next = total + self._every
            self._written = total
            self._wake.set()

    def stop(self) -> None:
        """Wait for the helper to finish (an fdatasync in progress completes first)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    @property
    def drops(self) -> bool:
        """Whether flushed ranges are dropped from the page cache."""
        return self._drop is not None


def write_all(fs: FsOps, fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = fs.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def enable_direct(fs: FsOps, fd: int) -> bool:
    """Turn ``O_DIRECT`` on for ``fd``; False (and buffered writes) where the filesystem
    refuses it (tmpfs before Linux 6.6, some FUSE filesystems)."""
    try:
        fs.set_direct_io(fd, True)
    except OSError:
        return False
    return True


class DirectWriter:
    """Writes a staged file opened with ``O_DIRECT`` from page-aligned memory, in the calling
    thread (no copy: the device reads the caller's buffer).

    Each write must start at an aligned offset of the file and an aligned address; the part of
    it that is a whole number of ``DIRECT_ALIGN`` blocks goes out with ``O_DIRECT``, an
    unaligned rest (only ever the end of the stream) buffered, after which ``O_DIRECT`` stays
    off. A write the filesystem rejects with ``EINVAL`` (alignment it does not support) turns
    ``O_DIRECT`` off and is retried buffered. Other errors propagate.
    """

    def __init__(self, fs: FsOps, fd: int) -> None:
        self._fs, self._fd = fs, fd
        self._direct = True  # the writer turned O_DIRECT on before making this

    def write(self, data: memoryview) -> None:
        """Write ``data`` (aligned prefix direct, the rest buffered)."""
        aligned = len(data) - len(data) % DIRECT_ALIGN
        if aligned:
            self._write(data[:aligned])
        if aligned < len(data):
            self._buffered()
            self._write(data[aligned:])

    def _write(self, data: memoryview) -> None:
        while data:
            try:
                written = self._fs.write(self._fd, data)
            except OSError as exc:
                if exc.errno == errno.EINVAL and self._buffered():
                    logger.info("O_DIRECT write refused; continuing with buffered writes")
                    continue
                raise
            if written <= 0:
                raise OSError(errno.EIO, "write made no progress")
            data = data[written:]

    def _buffered(self) -> bool:
        """Turn O_DIRECT off; False when it was already off."""
        if not self._direct:
            return False
        self._fs.set_direct_io(self._fd, False)
        self._direct = False
        return True


class DirectSink:
    """Writes a staged file opened with ``O_DIRECT`` from a helper thread, in aligned batches.

    Each chunk (immutable ``bytes``, also queued to the hash threads) is copied into one reused
    page-aligned buffer, written by a :class:`DirectWriter` when the buffer is full: no
    page-cache pages are allocated and no write-back is left for the final fsync (on the
    project VM, page-cache allocation costs more than the copy and the hashing together;
    TOOLING.md §2a). Any error is kept, and fails the write.
    """

    def __init__(self, fs: FsOps, fd: int) -> None:
        self._writer = DirectWriter(fs, fd)
        self._discarding = False
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(_DIRECT_QUEUE)
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="blob-direct", daemon=True)
        self._thread.start()

    def put(self, chunk: bytes | memoryview) -> None:
        """Queue ``chunk`` (blocks while the queue is full)."""
        self._queue.put(chunk)

    def finish(self, *, discard: bool = False) -> OSError | None:
        """Write what is left (unless ``discard``), stop the helper, return the first error."""
        if discard:
            self._discarding = True
        self._queue.put(None)
        self._thread.join()
        return self.error

    def _run(self) -> None:
        # The queue is always drained, whatever fails, so that put() never blocks forever.
        view: memoryview | None = None
        try:
            view = memoryview(mmap.mmap(-1, _DIRECT_BATCH))
        except OSError as exc:
            self.error = exc
        filled = 0
        while (chunk := self._queue.get()) is not None:
            if self.error is None and view is not None and not self._discarding:
                filled = self._guarded(self._absorb, view, filled, memoryview(chunk))
        if self.error is None and view is not None and filled and not self._discarding:
            self._guarded(self._write_tail, view, filled)
        if view is not None:
            buffer = view.obj
            view.release()
            if isinstance(buffer, mmap.mmap):
                buffer.close()

    def _guarded[*Ts](self, step: Callable[[*Ts], int], *args: *Ts) -> int:
        try:
            return step(*args)
        except OSError as exc:
            # Without its frames: they hold slices of the buffer, which must be freed.
            self.error = exc.with_traceback(None)
        except Exception as exc:  # a helper that dies silently would publish a short file
            self.error = OSError(errno.EIO, f"direct writer failed: {exc!r}")
        return 0

    def _absorb(self, view: memoryview, filled: int, data: memoryview) -> int:
        while data:
            take = min(len(data), _DIRECT_BATCH - filled)
            view[filled : filled + take] = data[:take]
            filled, data = filled + take, data[take:]
            if filled == _DIRECT_BATCH:
                self._writer.write(view)
                filled = 0
        return filled

    def _write_tail(self, view: memoryview, filled: int) -> int:
        self._writer.write(view[:filled])
        return 0
