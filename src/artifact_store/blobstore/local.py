"""``LocalBlobStore``: blobs as read-only files under a data directory (invariants 1, 5, 6).

Theory of operation (RELIABILITY.md §3.1). A write goes through four states, and a crash in any
of them leaves either nothing visible or a complete, durable blob::

    stage    open(staging/<uuid>, O_CREAT|O_EXCL); write chunks, hashing both digests on the way
    durable  compare with the caller's expected digests (mismatch: unlink, raise); fchmod 0o444;
             fsync(file)                       -- a failed fsync fails the write, never retried
    publish  mkdir blobs/sha256/ab/cd as needed, fsync the parent of each new directory;
             link(staging/<uuid>, blobs/sha256/ab/cd/<hex>)  -- create-only: EEXIST means the
             same bytes are already there (same sha256), the staged copy is dropped
    settle   unlink(staging/<uuid>); fsync(blobs/sha256/ab/cd)  -- the name is now durable

``link`` rather than ``rename`` because rename silently replaces an existing file: with link a
racing (or poisoned) upload can never overwrite a published blob (git's ``finalize_object_file``).
The directory is fsynced after EEXIST too: the existing name may have been linked a moment ago by
a concurrent writer that has not yet fsynced it, and our caller is about to record metadata.
Parent directories are fsynced the first time this process uses them, even when they already
existed, for the same reason. Only the data directory's ``blobs/`` and ``staging/`` are touched;
the SQLite catalog lives beside them.

A crash before ``link`` leaves at most a file in ``staging/`` (invisible to :meth:`exists` and
:meth:`iterate`, removed by :meth:`LocalBlobStore.sweep_staging`); a crash after it leaves a
complete blob that no metadata references yet (an orphan, collected by GC after its grace period).
If the final directory fsync fails after the link, the blob is visible but the call fails; it is
left in place (a concurrent writer of the same bytes may already rely on it), and a retry re-does
the fsync and reports ``created=False``.

Resumable upload sessions keep their bytes in ``staging/sessions/<upload id>``
(:class:`LocalStagedWriter`): appended at the session's durable offset (anything beyond it is
cut off first), made durable by ``sync`` (the file; on a writer's first sync from offset 0 also
the directory), and published by the same fchmod → fsync → link → unlink → fsync(dir) sequence.
``sweep_staging`` leaves them alone: the session layer owns their lifetime.

Every durability-relevant syscall goes through an :class:`FsOps` object (default :class:`OsFs`),
so tests inject failures (an fsync raising ``EIO``) or record the sequence of operations
(RELIABILITY.md §8.1 H3/H4) without mocking this module. Reads use ``os`` directly.

Blocking I/O runs in worker threads (``asyncio.to_thread``). :meth:`LocalBlobStore.put_file`,
the hot path of pushing a local file, runs its whole read→hash→write→fsync loop in ONE worker
thread; sha256 and blake3 run on the :class:`ThreadedDigester`'s two threads while the loop
writes. Chunks are fresh ``bytes`` from ``os.read``: the hash threads and the write see the same
immutable bytes, so what is stored is what was hashed (an ``mmap`` of the source would let a
concurrent writer of that file split the two).

A request body read off its socket (:meth:`LocalBlobStore.put_source`, ADR-0018) fills a ring
of reused page-aligned buffers that sha256, blake3 and the file writer each read on a thread of
their own: each byte is copied into the process once, by the kernel.

By default (``write="direct"``, ADR-0018) blobs of a chunk or more are written with
``O_DIRECT``: ring buffers go to the disk as they are (no copy at all), other streams through
4 MiB aligned batches (:class:`DirectSink`, ADR-0012); buffered where the filesystem refuses it.
With ``write="drop-behind"`` (ADR-0017) large blobs go through the page cache while a helper
thread (:class:`Flusher`) issues ``fdatasync`` every ``flush_every`` bytes, so write-back
overlaps the hashing, and each range it made durable is dropped from the cache;
``write="cached"`` keeps those pages. Which is fastest depends on the machine: on this
project's VMs a fresh page-cache page costs more CPU than the copy into it, so ``direct`` wins
where the disk keeps up with one request at a time (HTTP PUT of 1 GiB on the fifth session's
VM: direct 1.06 s, drop-behind 1.62 s) and ``drop-behind`` where it does not (local push on the
fourth session's VM: drop-behind 2.16-2.24 s, direct 3.87-4.34 s; BENCHMARKS.md). Whatever the
mode, the final fsync is what makes the bytes durable, and any write or flush error fails the
commit.

The syscall seam lives in ``fsops.py`` and the ``O_DIRECT`` sink and background flusher in
``_direct.py``; this module keeps the store, its writers and their one durability sequence.
It stays past 600 lines because the blob writer, the session writer and the store share that
sequence and one locking discipline, and blobstore keeps one module per backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal, Self
from urllib.parse import parse_qs, unquote, urlsplit

from artifact_store.blobstore._direct import (
    DIRECT_ALIGN,
    DirectSink,
    DirectWriter,
    DropBehind,
    Flusher,
    enable_direct,
    write_all,
)
from artifact_store.blobstore.base import BlobInfo, FileRegion, PutResult
from artifact_store.blobstore.fsops import DIR_MODE, STAGED_MODE, FsOps, OsFs, unavailable
from artifact_store.blobstore.layout import (
    BLOB_PREFIX,
    BLOBS_DIR,
    SESSIONS_DIR,
    STAGING_DIR,
    blob_dir,
    blob_key,
    check_expected,
    check_stored,
    is_fanout_name,
    session_key,
    stored_span,
)
from artifact_store.errors import (
    BlobCorruptError,
    BlobNotFoundError,
    InvalidInputError,
    SizeMismatchError,
    UnsupportedFileError,
    UploadStateError,
)
from artifact_store.kernels.digest import (
    Digester,
    DigestPair,
    Expected,
    ThreadedDigester,
    digest_source,
    is_hex64,
)
from artifact_store.kernels.limits import CHUNK_SIZE, MAX_BLOB_SIZE, READ_PIECE_SIZE, check_size
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.ring import ByteSource
from artifact_store.kernels.threads import in_own_thread

__all__ = [
    "WRITE_MODES",
    "FsOps",
    "LocalBlobStore",
    "LocalBlobStream",
    "LocalBlobWriter",
    "OsFs",
    "WriteMode",
]

logger = logging.getLogger(__name__)

#: Below this size the two hash threads cost more than they save (kernels/digest.py).
THREAD_THRESHOLD: Final = 4 * CHUNK_SIZE
#: Bytes of a stream gathered before they go to the hash and write threads as one block
#: (``put``). Each block costs the event loop a thread hand-off; 2 MiB blocks made a 1 GiB HTTP
#: upload 8 % faster than 1 MiB ones (BENCHMARKS.md, HTTP). Up to about ten blocks are in
#: flight per upload.
PUT_BLOCK_SIZE: Final = 2 * CHUNK_SIZE
#: Pieces of a block smaller than this on average are joined before they are written.
_SMALL_PIECE: Final = 64 * 1024
#: Default interval of the background ``fdatasync`` while a large blob is written.
FLUSH_EVERY: Final = 64 * CHUNK_SIZE
#: Mode of a published blob: nobody writes it again.
BLOB_MODE: Final = 0o444
_STAGE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS: Final = os.O_RDONLY | os.O_CLOEXEC


type _State = Literal["open", "committed", "aborted", "failed"]

type WriteMode = Literal["direct", "drop-behind", "cached"]
"""How a large blob is written (ADR-0018, amending ADR-0017). ``direct`` (the default):
``O_DIRECT`` from page-aligned memory, the ring buffers of a request body as they are, other
streams through aligned batches (ADR-0012); buffered where the filesystem refuses it, and
buffered writes (session staging, refusals) drop what they made durable, as ``drop-behind``.
``drop-behind``: through the page cache, a helper thread issuing ``fdatasync`` every
``flush_every`` bytes and dropping each range it made durable from the cache. ``cached``: the
same, the pages kept (a read right after the upload comes from memory)."""
#: The write modes, the default first.
WRITE_MODES: Final[tuple[WriteMode, ...]] = ("direct", "drop-behind", "cached")


class LocalBlobWriter:
    """A staged upload in ``staging/<upload_id>``; see the module docstring for the protocol.

    All file-descriptor work happens under one lock, so :meth:`abort` (even from a ``finally``
    after a cancelled :meth:`write`) waits for a write still running in a worker thread instead
    of closing its descriptor under it.
    """

    def __init__(self, store: LocalBlobStore, upload_id: str, fd: int) -> None:
        self._store = store
        self._fs = store.fs
        self._id = upload_id
        self._key = f"{STAGING_DIR}/{upload_id}"
        self._path = store.root / STAGING_DIR / upload_id
        self._fd = fd
        self._size = 0
        self._state: _State = "open"
        self._lock = threading.Lock()
        self._flusher: Flusher | None = None
        self._sink: DirectSink | None = None
        self._aligned: DirectWriter | None = None
        self._result: tuple[DigestPair, bool] | None = None

    @property
    def upload_id(self) -> str:
        """The staged file's name under ``staging/``."""
        return self._id

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the staged file.

        Raises:
            StorageUnavailableError: the write failed; the staged file is discarded.
            UploadStateError: the writer was already committed, aborted or failed.
        """
        await asyncio.to_thread(self.write_sync, chunk)

    async def commit(self, digests: DigestPair) -> bool:
        """Make the staged bytes durable and publish them create-only (module docstring).

        Idempotent: committing again with the same digests returns the first call's result.
        Any failure discards the staged bytes and leaves the writer unusable.

        Raises:
            InvalidDigestError: ``digests.sha256`` is not 64 lower-case hex characters.
            SizeMismatchError: ``digests.size`` differs from the bytes written.
            StorageUnavailableError: fsync or publish failed; nothing new is visible, except
                when only the final directory fsync failed (module docstring).
            UploadStateError: the writer was aborted, failed, or committed other digests.
            BlobCorruptError: a blob already stored under this sha256 has another size.
        """
        return await asyncio.to_thread(self.commit_sync, digests)

    async def abort(self) -> None:
        """Discard the staged bytes; idempotent, and a no-op after commit."""
        await asyncio.to_thread(self.abort_sync)

    # --- blocking halves, run in worker threads ------------------------------------------

    def write_sync(self, chunk: bytes | memoryview) -> None:
        """Blocking :meth:`write`."""
        with self._lock:
            self.write_locked(chunk)

    def write_locked(self, chunk: bytes | memoryview) -> None:
        """:meth:`write_sync` for a caller that already holds :attr:`lock`."""
        self._require_open()
        flusher, sink = self._flusher, self._sink
        error = (flusher and flusher.error) or (sink and sink.error)
        if error:
            self._fail_locked()
            raise unavailable("write", self._key, error) from error
        self._size += len(chunk)
        if sink is not None:
            sink.put(chunk)
            return
        try:
            if self._aligned is not None:
                self._aligned.write(memoryview(chunk))
                return
            write_all(self._fs, self._fd, chunk)
        except OSError as exc:
            self._fail_locked()
            raise unavailable("write", self._key, exc) from exc
        every = self._store.flush_every
        if every is not None and self._size >= every:
            if self._flusher is None:
                drop = self._store.drops_behind
                self._flusher = Flusher(self._fs, self._fd, every, drop=drop)
            self._flusher.wrote(self._size)

    @property
    def lock(self) -> threading.Lock:
        """Held by every descriptor operation (``put`` hashes and writes a chunk under it)."""
        return self._lock

    def start_direct_locked(self, *, aligned: bool = False) -> bool:
        """Switch a writer that has written nothing yet to ``O_DIRECT`` writes; False (and
        buffered writes) when the store's mode is not ``direct`` or the filesystem refuses.

        By default the writes go through a :class:`DirectSink`, which copies each chunk into an
        aligned batch and writes it later: the caller must pass immutable ``bytes`` from then
        on (``put`` and ``put_file`` do). With ``aligned``, each write is made at once from the
        caller's memory (:class:`DirectWriter`): every chunk but the last must be a whole number
        of 4 KiB blocks at an aligned address (ring buffers are, ADR-0018).
        """
        if self._sink is not None or self._aligned is not None:
            return True
        if self._size or self._state != "open" or self._store.write != "direct":
            return False
        if not enable_direct(self._fs, self._fd):
            return False
        if aligned:
            self._aligned = DirectWriter(self._fs, self._fd)
        else:
            self._sink = DirectSink(self._fs, self._fd)
        return True

    def commit_sync(self, digests: DigestPair) -> bool:
        """Blocking :meth:`commit`."""
        with self._lock:
            if self._result is not None:
                if self._result[0] != digests:
                    raise UploadStateError(
                        f"upload {self._id} was committed as {self._result[0].sha256_digest}",
                        upload_id=self._id,
                    )
                return self._result[1]
            self._require_open()
            try:
                blob_key(digests.sha256)
                if digests.size != self._size:
                    raise SizeMismatchError(
                        f"commit of {digests.size} bytes, but {self._size} were written",
                        expected=digests.size,
                        actual=self._size,
                    )
                self._make_durable()
            except BaseException:
                self._fail_locked()
                raise
            self._state = "failed"  # until publish returns; publish removes the staged file
            try:
                created = self._store._publish_sync(self._path, digests.sha256, digests.size)
            finally:
                self._store._forget(self._id)  # only now: sweep_staging must not race the link
            self._state = "committed"
            self._result = (digests, created)
            return created

    def abort_sync(self) -> None:
        """Blocking :meth:`abort`."""
        with self._lock:
            if self._state == "open":
                self._fail_locked()
                self._state = "aborted"

    # --- internals ------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            raise UploadStateError(
                f"upload {self._id} is {self._state}", upload_id=self._id, state=self._state
            )

    def _stop_helpers(self, *, discard: bool = False) -> OSError | None:
        """Join the helper threads (before the descriptor is closed); their first error."""
        flusher, self._flusher = self._flusher, None
        sink, self._sink = self._sink, None
        self._aligned = None
        sink_error = sink.finish(discard=discard) if sink is not None else None
        if flusher is not None:
            flusher.stop()
        return sink_error or (flusher.error if flusher is not None else None)

    def _make_durable(self) -> None:
        fd, self._fd = self._fd, -1
        drop = self._flusher is not None and self._flusher.drops
        try:
            helper_error = self._stop_helpers()
            if helper_error is not None:
                raise unavailable("write", self._key, helper_error) from helper_error
            try:
                self._fs.fchmod(fd, BLOB_MODE)
                self._fs.fsync(fd)
            except OSError as exc:
                raise unavailable("fsync", self._key, exc) from exc
            if drop:  # the tail the flusher did not reach, now durable too
                self._fs.drop_cache(fd, 0, 0)
        finally:
            try:
                self._fs.close(fd)
            except OSError:
                logger.warning("close of staged file failed", extra={"key": self._key})

    def _fail_locked(self) -> None:
        """Close and unlink the staged file; the writer is unusable afterwards."""
        self._stop_helpers(discard=True)
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                self._fs.close(fd)
            except OSError:
                logger.warning("close of staged file failed", extra={"key": self._key})
        self._store._discard_staged(self._path)
        self._store._forget(self._id)
        self._state = "failed"


class LocalStagedWriter:
    """Appends to a session's staged file; the bytes are durable only once :meth:`sync` returns.

    The first sync of a writer opened at offset 0 also fsyncs ``staging/sessions``: the file's
    name may never have been made durable (created here, or by a writer that failed first).
    After a failed write or sync the writer is unusable; the session layer reopens at its
    durable offset, which cuts off whatever followed.

    Unless ``write="cached"``, each sync drops what it made durable from the page cache once
    the staged file has reached ``flush_every`` (ADR-0017): a large upload's chunks do not
    evict what readers have cached, and its pages are reused for the next chunk.
    """

    def __init__(self, store: LocalBlobStore, key: str, fd: int, at: int) -> None:
        self._store, self._fs, self._key, self._fd = store, store.fs, key, fd
        self._size = at
        self._drop = DropBehind(store.fs, fd) if store.drops_behind else None
        self._dir_pending = at == 0
        self._lock = threading.Lock()
        self._failed: OSError | None = None
        self._closed = False
        self._direct: DirectWriter | None = None
        self._tried_direct = False

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (not yet durable).

        Raises:
            StorageUnavailableError: the write failed.
        """
        await asyncio.to_thread(self._locked, self._write, chunk)

    def write_sync(self, chunk: bytes | memoryview) -> None:
        """:meth:`write` from a worker thread: the ring's writer, whose pieces are page-aligned,
        so in ``direct`` mode they go to the disk with ``O_DIRECT`` when the file's end is
        aligned too (ADR-0018)."""
        self._locked(self._write_ring, chunk)

    def _write_ring(self, chunk: bytes | memoryview) -> int:
        if not self._tried_direct:
            self._tried_direct = True
            self._direct = self._start_direct()
        return self._write(chunk)

    def _start_direct(self) -> DirectWriter | None:
        if self._store.write != "direct" or self._size % DIRECT_ALIGN:
            return None
        if not enable_direct(self._fs, self._fd):
            return None
        return DirectWriter(self._fs, self._fd)

    async def sync(self) -> int:
        """fsync; returns the durable size.

        Raises:
            StorageUnavailableError: the fsync failed; nothing since the last sync is durable.
        """
        return await asyncio.to_thread(self._locked, self._sync, None)

    async def truncate(self, size: int) -> None:
        """Cut the staged bytes back to ``size`` and make that durable."""
        if not 0 <= size <= self._size:
            raise InvalidInputError(f"cannot truncate {self._size} bytes to {size}", size=size)
        await asyncio.to_thread(self._locked, self._truncate, size)

    async def close(self) -> None:
        """Release the descriptor (idempotent); unsynced bytes may be lost."""
        await asyncio.to_thread(self._close)

    def _locked[T](self, step: Callable[[T], int], arg: T) -> int:
        with self._lock:
            if self._closed:
                raise UploadStateError(f"the writer of {self._key} is closed", key=self._key)
            if self._failed is not None:
                raise unavailable("write", self._key, self._failed) from self._failed
            try:
                return step(arg)
            except OSError as exc:
                self._failed = exc
                raise unavailable("write", self._key, exc) from exc

    def _write(self, chunk: bytes | memoryview) -> int:
        if self._direct is not None:  # falls back to buffered writes where O_DIRECT refuses
            self._direct.write(memoryview(chunk))
        else:
            write_all(self._fs, self._fd, chunk)
        self._size += len(chunk)
        return self._size

    def _sync(self, _: None) -> int:
        self._fs.fsync(self._fd)
        if self._dir_pending:
            self._store.fsync_dir(self._store.root / SESSIONS_DIR)
            self._dir_pending = False
        every = self._store.flush_every
        if self._drop is not None and every is not None and self._size >= every:
            self._drop.durable(self._size)
        return self._size

    def _truncate(self, size: int) -> int:
        self._fs.ftruncate(self._fd, size)
        os.lseek(self._fd, size, os.SEEK_SET)
        self._size = size
        if self._drop is not None:
            self._drop.rewind(size)
        return self._sync(None)

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._fs.close(self._fd)
            except OSError:
                logger.warning("close of staged file failed", extra={"key": self._key})


class LocalBlobStore:
    """Blobs as read-only files under ``root/blobs``; staged writes under ``root/staging``.

    ``root`` is the store's data directory; it and both subdirectories are created if missing.
    ``fs`` replaces the syscalls (fault injection); ``flush_every`` sets the background
    ``fdatasync`` interval for large buffered writes (None: only the final fsync); ``write``
    chooses how large blobs are written (:data:`WriteMode`, ADR-0017).
    """

    def __init__(
        self,
        root: Path,
        *,
        fs: FsOps | None = None,
        flush_every: int | None = FLUSH_EVERY,
        write: WriteMode = "direct",
    ) -> None:
        if write not in WRITE_MODES:
            raise InvalidInputError(f"unknown write mode {write!r}", known=list(WRITE_MODES))
        self.root = Path(root)
        self.fs: FsOps = fs if fs is not None else OsFs()
        self.flush_every = flush_every
        self.write: WriteMode = write
        self._active: set[str] = set()
        self._durable_dirs: set[str] = set()
        self._dirs_lock = threading.Lock()
        try:
            self._init_tree()
        except OSError as exc:
            raise unavailable("create", ".", exc) from exc

    @property
    def drops_behind(self) -> bool:
        """Whether large writes through the page cache drop what they made durable from it
        (every mode but ``cached``: in ``direct`` mode, the writes that are buffered)."""
        return self.write != "cached"

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A store for ``file:///abs/dir`` (or a plain path, made absolute).

        One option may follow as a query: ``?write=MODE`` chooses how large blobs are written
        (:data:`WriteMode`: ``direct``, the default, ``drop-behind`` or ``cached``; ADR-0018).

        Raises:
            InvalidInputError: not a local ``file:`` URL with an absolute path, or an unknown
                option or value.
        """
        if "://" not in url and not url.startswith("file:"):
            return cls(Path(url).expanduser().absolute())
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise InvalidInputError(f"not a local file URL: {url!r}", url=url)
        if parts.fragment:
            raise InvalidInputError(f"a file URL takes no fragment: {url!r}", url=url)
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise InvalidInputError(f"a file URL needs an absolute path: {url!r}", url=url)
        return cls(path, write=_write_option(url, parts.query))

    # --- writing --------------------------------------------------------------------------

    async def begin(self) -> LocalBlobWriter:
        """Open a new staged upload in ``staging/``."""
        return await asyncio.to_thread(self.begin_sync)

    def begin_sync(self) -> LocalBlobWriter:
        """Blocking :meth:`begin`."""
        upload_id = uuid.uuid4().hex
        path = self.root / STAGING_DIR / upload_id
        self._active.add(upload_id)  # before the file exists: sweep_staging must never see it
        try:
            fd = self.fs.open(path, _STAGE_FLAGS, STAGED_MODE)
        except OSError as exc:
            self._forget(upload_id)
            raise unavailable("create", f"{STAGING_DIR}/{upload_id}", exc) from exc
        return LocalBlobWriter(self, upload_id, fd)

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Stream ``chunks`` in with bounded memory, hashing both digests in the same pass.

        Chunks are coalesced to ``PUT_BLOCK_SIZE`` and each block is hashed and written in a
        worker thread while the next block is received.

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
            StorageUnavailableError: the filesystem failed; nothing is published.
        """
        writer: LocalBlobWriter | None = None
        digester: Digester | ThreadedDigester | None = None
        pending: asyncio.Task[None] | None = None
        parts: list[bytes] = []
        buffered = total = 0
        try:
            async for chunk in chunks:
                data = chunk if type(chunk) is bytes else bytes(chunk)  # immutable for the hashers
                total += len(data)
                check_size("blob", total, limit)
                parts.append(data)
                buffered += len(data)
                if buffered < PUT_BLOCK_SIZE:
                    continue
                if writer is None:
                    writer = await self.begin()
                    digester = ThreadedDigester(limit=limit)
                assert digester is not None  # noqa: S101 - set together with the writer
                # Never joined: a copy of every byte, and fresh pages for it, cost more than
                # handing the hash threads and the writer the pieces as they came.
                block, parts, buffered = parts, [], 0
                if pending is not None:
                    await pending
                pending = asyncio.create_task(
                    asyncio.to_thread(_feed, writer, digester, block, direct=True),
                    name="blob-put-block",
                )
            if writer is None:
                # A small blob (under one block): stage, hash, fsync and publish in ONE worker
                # thread call instead of five event-loop round trips.
                return await asyncio.to_thread(self._put_small_sync, b"".join(parts), expected)
            if pending is not None:
                await pending
            assert digester is not None  # noqa: S101 - set together with the writer
            if parts:
                await asyncio.to_thread(_feed, writer, digester, parts)
            digests = await asyncio.to_thread(digester.finish)
            check_expected(expected, digests)
            created = await writer.commit(digests)
            return PutResult(digests, created)
        finally:
            if pending is not None and pending.done() and not pending.cancelled():
                pending.exception()  # retrieved here when an earlier error ended the loop
            if writer is not None:
                # Runs in a thread that first takes the writer's lock, i.e. waits for a block
                # still being fed (after a cancellation), then stops the hashers and discards.
                await asyncio.to_thread(_cleanup, writer, digester)

    def _put_small_sync(self, data: bytes, expected: DigestPair | Expected | None) -> PutResult:
        """Blocking ``put`` of a blob that fits in one block (the same durability sequence)."""
        writer = self.begin_sync()
        try:
            digester = Digester(limit=len(data))
            _feed(writer, digester, [data])
            digests = digester.finish()
            check_expected(expected, digests)
            return PutResult(digests, writer.commit_sync(digests))
        finally:
            writer.abort_sync()  # a no-op once committed

    async def put_file(
        self,
        path: Path,
        *,
        expected: DigestPair | Expected | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PutResult:
        """Store a local file; the whole read→hash→write→fsync loop runs in one worker thread.

        Raises:
            InvalidInputError: ``path`` cannot be opened or read.
            UnsupportedFileError: ``path`` is not a regular file.
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: the file is larger than ``MAX_BLOB_SIZE``.
            StorageUnavailableError: the filesystem failed; nothing is published.
        """
        return await asyncio.to_thread(self.put_file_sync, Path(path), expected, progress)

    def put_file_sync(
        self,
        path: Path,
        expected: DigestPair | Expected | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PutResult:
        """Blocking :meth:`put_file`."""
        try:
            src = os.open(path, _READ_FLAGS)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {path.name!r}: {exc.strerror}", path=str(path)
            ) from exc
        try:
            info = os.fstat(src)
            size_hint = info.st_size
            if not stat.S_ISREG(info.st_mode):
                raise UnsupportedFileError(f"not a regular file: {path.name!r}", path=str(path))
            check_size("blob", size_hint, MAX_BLOB_SIZE)
            large = size_hint >= THREAD_THRESHOLD
            digester: Digester | ThreadedDigester = ThreadedDigester() if large else Digester()
            try:
                writer = self.begin_sync()
            except BaseException:
                digester.close()
                raise
            try:
                with writer.lock:
                    if large:
                        writer.start_direct_locked()
                    while True:
                        try:
                            chunk = os.read(src, CHUNK_SIZE)
                        except OSError as exc:
                            raise InvalidInputError(
                                f"cannot read {path.name!r}: {exc.strerror}", path=str(path)
                            ) from exc
                        if not chunk:
                            break
                        digester.update(chunk)  # queued to the hash threads, then written
                        writer.write_locked(chunk)
                        if progress is not None:
                            progress(len(chunk))
                digests = digester.finish()
                check_expected(expected, digests)
                created = writer.commit_sync(digests)
                return PutResult(digests, created)
            finally:
                digester.close()
                writer.abort_sync()
        finally:
            os.close(src)

    async def put_source(
        self,
        source: ByteSource,
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Store what a blocking source yields (a large request body read off its socket).

        The source fills a ring of reused page-aligned buffers that sha256, blake3 and the file
        writer each read on a thread of their own (``kernels/ring.py``): every byte is copied
        into the process once, and the event loop does no work per byte (ADR-0018). With
        ``write=direct`` each buffer goes to the disk with ``O_DIRECT`` straight from the ring;
        otherwise through the page cache as in :meth:`put`. Runs on a thread of its own; when
        the awaiting task is cancelled the source is told to stop and the threads are waited
        for (the staged bytes are discarded).

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
            StorageUnavailableError: the filesystem failed; nothing is published.
            Exception: what the source raised (a client that went away); nothing is published.
        """
        return await in_own_thread(
            functools.partial(self.put_source_sync, source, expected, limit),
            cancel=source.cancel,
            name="blob-put",
        )

    def put_source_sync(
        self,
        source: ByteSource,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Blocking :meth:`put_source`."""
        writer = self.begin_sync()
        try:
            with writer.lock:
                writer.start_direct_locked(aligned=True)
            digests = digest_source(source, sink=writer.write_sync, limit=limit)
            check_expected(expected, digests)
            return PutResult(digests, writer.commit_sync(digests))
        finally:
            writer.abort_sync()  # a no-op once committed

    def _publish_sync(
        self, staged: Path, sha256: str, size: int, *, keep_on_failure: bool = False
    ) -> bool:
        """Link a durable staged file to its final name, create-only; the staged name is gone
        afterwards (unless ``keep_on_failure`` and the link was not made). True when this call
        created the blob.

        Raises:
            StorageUnavailableError: mkdir, link or the directory fsync failed.
            BlobCorruptError: the blob already stored under ``sha256`` has another size.
        """
        key = blob_key(sha256)
        final = self.root / key
        try:
            self._ensure_dirs(sha256)
            try:
                self.fs.link(staged, final)
                created = True
            except FileExistsError:
                created = False
        except OSError as exc:
            if not keep_on_failure:
                self._discard_staged(staged)
            raise unavailable("publish", key, exc) from exc
        self._discard_staged(staged)
        try:
            self.fsync_dir(final.parent)
        except OSError as exc:
            raise unavailable("fsync the directory of", key, exc) from exc
        if not created:
            self._check_existing(final, key, size)
        return created

    # --- reading --------------------------------------------------------------------------

    async def stat(self, sha256: str) -> BlobInfo | None:
        """Size of the blob, or None when it is not stored."""
        return await asyncio.to_thread(self._stat_sync, sha256)

    async def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        return await self.stat(sha256) is not None

    def open(
        self, sha256: str, byte_range: ByteRange | None = None, *, size: int | None = None
    ) -> LocalBlobStream:
        """Stream the blob (or ``byte_range`` of it) in ``READ_PIECE_SIZE`` pieces, or take it
        as one file region (:class:`LocalBlobStream`; nothing is opened until then).

        Raises (when iterated, or from ``region``):
            BlobNotFoundError: not stored.
            InvalidRangeError: the range does not overlap the blob.
            BlobCorruptError: the stored length is not ``size``, or the file ends early.
            StorageUnavailableError: a read failed.
        """
        return LocalBlobStream(self, sha256, byte_range, size)

    async def verify(self, expected: DigestPair) -> None:
        """Re-read the blob and re-hash both digests.

        Raises:
            BlobNotFoundError: not stored.
            BlobCorruptError: size, sha256 or blake3 differ from ``expected``.
            StorageUnavailableError: a read failed.
        """
        await asyncio.to_thread(self._verify_sync, expected)

    async def iterate(self) -> AsyncIterator[BlobInfo]:
        """Every published blob, one fan-out directory per worker-thread hop."""
        top = self.root / BLOB_PREFIX
        for first in await asyncio.to_thread(_fanout_dirs, top):
            for info in await asyncio.to_thread(_list_fanout, top / first, first):
                yield info

    # --- resumable upload sessions (ingest/uploads.py) ------------------------------------

    async def staged_size(self, upload_id: str) -> int | None:
        """The length of the session's staged bytes, or None when nothing is staged."""
        return await asyncio.to_thread(self._staged_size_sync, upload_id)

    async def stage_append(self, upload_id: str, *, at: int) -> LocalStagedWriter:
        """Open the session's staged file for appending at ``at``, cutting off anything beyond.

        Raises:
            UploadStateError: fewer than ``at`` bytes are staged (the staged bytes were lost).
            StorageUnavailableError: the filesystem failed.
        """
        return await asyncio.to_thread(self._stage_append_sync, upload_id, at)

    async def stage_read(self, upload_id: str, *, stop: int) -> AsyncIterator[bytes]:
        """The first ``stop`` staged bytes, in ``CHUNK_SIZE`` pieces.

        Raises:
            UploadStateError: fewer than ``stop`` bytes are staged.
        """
        key = session_key(upload_id)
        fd = await asyncio.to_thread(self._open_staged, key, stop)
        try:
            offset = 0
            while offset < stop:
                want = min(CHUNK_SIZE, stop - offset)
                chunk = await asyncio.to_thread(_pread_full, fd, want, offset, key)
                if len(chunk) < want:
                    raise UploadStateError(f"{key} ended at {offset + len(chunk)} bytes")
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def stage_publish(self, upload_id: str, digests: DigestPair) -> bool:
        """Publish the session's staged bytes as ``digests.sha256``, durably and create-only.

        A retry after a success (the staged file gone, the blob present) returns False.

        Raises:
            SizeMismatchError: the staged length is not ``digests.size`` (the bytes stay).
            UploadStateError: nothing is staged and the blob is not stored.
            StorageUnavailableError: fsync (staged bytes then discarded: after a failed fsync
                their on-disk state is unknown) or publish (staged bytes kept) failed.
        """
        return await asyncio.to_thread(self._stage_publish_sync, upload_id, digests)

    async def stage_discard(self, upload_id: str) -> None:
        """Remove the session's staged bytes; idempotent."""
        await asyncio.to_thread(self._discard_staged, self.root / session_key(upload_id))

    # --- removing -------------------------------------------------------------------------

    async def delete(self, sha256: str) -> bool:
        """Unlink the blob and fsync its directory; True when it existed."""
        return await asyncio.to_thread(self._delete_sync, sha256)

    async def sweep_staging(self, older_than: timedelta) -> int:
        """Remove staged files older than ``older_than`` that no writer of this store holds
        (leftovers of a crash); returns how many were removed."""
        return await asyncio.to_thread(self._sweep_sync, older_than)

    async def close(self) -> None:
        """Nothing is pooled (each call opens and closes its own descriptors); idempotent."""

    # --- shared with the writer -----------------------------------------------------------

    def _discard_staged(self, staged: Path) -> None:
        """Unlink a staged file; a failure is logged (``sweep_staging`` removes it later)."""
        try:
            self.fs.unlink(staged)
        except FileNotFoundError:
            pass
        except OSError:
            logger.warning("could not remove staged file", extra={"staged": staged.name})

    def _forget(self, upload_id: str) -> None:
        """The upload no longer holds its staged file (it is committed or discarded)."""
        self._active.discard(upload_id)

    # --- internals ------------------------------------------------------------------------

    def _init_tree(self) -> None:
        made_root = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        if made_root:
            self.fsync_dir(self.root.parent)
        for rel in (BLOBS_DIR, BLOB_PREFIX, STAGING_DIR, SESSIONS_DIR):
            path = self.root / rel
            if not path.is_dir():
                with contextlib.suppress(FileExistsError):
                    self.fs.mkdir(path, DIR_MODE)
                self.fsync_dir(path.parent)

    def fsync_dir(self, path: Path) -> None:
        """fsync a directory (its entries become durable); raises ``OSError``."""
        fd = self.fs.open(path, _DIR_FLAGS, 0)
        try:
            self.fs.fsync(fd)
        finally:
            self.fs.close(fd)

    def _ensure_dirs(self, sha256: str) -> None:
        """Create ``blobs/sha256/ab/cd`` as needed, each entry made durable in its parent."""
        leaf = blob_dir(sha256)
        with self._dirs_lock:
            for rel in (leaf.rsplit("/", 1)[0], leaf):
                if rel in self._durable_dirs:
                    continue
                path = self.root / rel
                with contextlib.suppress(FileExistsError):
                    self.fs.mkdir(path, DIR_MODE)
                self.fsync_dir(path.parent)
                self._durable_dirs.add(rel)

    def _check_existing(self, final: Path, key: str, size: int) -> None:
        try:
            existing = final.lstat()
        except OSError as exc:
            raise unavailable("stat", key, exc) from exc
        if not stat.S_ISREG(existing.st_mode) or existing.st_size != size:
            raise BlobCorruptError(
                f"stored blob {key} has {existing.st_size} bytes, not {size}",
                digest=f"sha256:{final.name}",
                expected=size,
                actual=existing.st_size,
            )

    def _staged_size_sync(self, upload_id: str) -> int | None:
        key = session_key(upload_id)
        try:
            return (self.root / key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise unavailable("stat", key, exc) from exc

    def _stage_append_sync(self, upload_id: str, at: int) -> LocalStagedWriter:
        key = session_key(upload_id)
        path = self.root / key
        if at < 0:
            raise InvalidInputError(f"negative offset {at}", offset=at)
        try:
            try:
                fd = self.fs.open(path, os.O_WRONLY | os.O_CLOEXEC, STAGED_MODE)
            except FileNotFoundError:
                if at:
                    raise UploadStateError(
                        f"upload {upload_id} has no staged bytes; {at} were expected",
                        upload_id=upload_id,
                    ) from None
                fd = self.fs.open(path, _STAGE_FLAGS, STAGED_MODE)
        except OSError as exc:
            raise unavailable("open", key, exc) from exc
        try:
            size = os.fstat(fd).st_size
            if size < at:
                raise UploadStateError(
                    f"upload {upload_id} has {size} staged bytes; {at} were expected",
                    upload_id=upload_id,
                    staged=size,
                )
            if size > at:
                self.fs.ftruncate(fd, at)  # never acknowledged (a crash before the offset moved)
            os.lseek(fd, at, os.SEEK_SET)
        except BaseException as exc:
            self.fs.close(fd)
            if isinstance(exc, OSError):
                raise unavailable("open", key, exc) from exc
            raise
        return LocalStagedWriter(self, key, fd, at)

    def _open_staged(self, key: str, stop: int) -> int:
        try:
            fd = os.open(self.root / key, _READ_FLAGS)
            size = os.fstat(fd).st_size
        except FileNotFoundError as exc:
            raise UploadStateError(f"{key} is not staged", key=key) from exc
        except OSError as exc:
            raise unavailable("open", key, exc) from exc
        if size < stop:
            os.close(fd)
            raise UploadStateError(f"{key} has {size} bytes, {stop} were expected", key=key)
        return fd

    def _stage_publish_sync(self, upload_id: str, digests: DigestPair) -> bool:
        key = session_key(upload_id)
        final = self.root / blob_key(digests.sha256)
        try:
            fd = self.fs.open(self.root / key, _READ_FLAGS, 0)
        except FileNotFoundError:
            existing = self._stat_sync(digests.sha256)
            if existing is None or existing.size != digests.size:
                raise UploadStateError(f"upload {upload_id} has no staged bytes") from None
            try:
                self.fsync_dir(final.parent)  # the earlier call may have failed just here
            except OSError as exc:
                raise unavailable("fsync the directory of", key, exc) from exc
            return False
        except OSError as exc:
            raise unavailable("open", key, exc) from exc
        try:
            size = os.fstat(fd).st_size
            if size != digests.size:
                raise SizeMismatchError(
                    f"{size} bytes are staged, the digests are of {digests.size}",
                    expected=digests.size,
                    actual=size,
                )
            try:
                self.fs.fchmod(fd, BLOB_MODE)
                self.fs.fsync(fd)
            except OSError as exc:
                self._discard_staged(self.root / key)
                raise unavailable("fsync", key, exc) from exc
        finally:
            self.fs.close(fd)
        return self._publish_sync(
            self.root / key, digests.sha256, digests.size, keep_on_failure=True
        )

    def _stat_sync(self, sha256: str) -> BlobInfo | None:
        key = blob_key(sha256)
        try:
            info = (self.root / key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise unavailable("stat", key, exc) from exc
        return BlobInfo(sha256, info.st_size) if stat.S_ISREG(info.st_mode) else None

    def _open_blob(self, sha256: str, key: str) -> tuple[int, int]:
        try:
            fd = os.open(self.root / key, _READ_FLAGS)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(
                f"blob sha256:{sha256} is not stored", digest=f"sha256:{sha256}"
            ) from exc
        except OSError as exc:
            raise unavailable("open", key, exc) from exc
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise unavailable("stat", key, exc) from exc
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise BlobCorruptError(f"{key} is not a regular file", digest=f"sha256:{sha256}")
        return fd, info.st_size

    def _verify_sync(self, expected: DigestPair) -> None:
        key = blob_key(expected.sha256)
        fd, stored = self._open_blob(expected.sha256, key)
        try:
            digester: Digester | ThreadedDigester = (
                ThreadedDigester() if stored >= THREAD_THRESHOLD else Digester()
            )
            try:
                while True:
                    try:
                        chunk = os.read(fd, CHUNK_SIZE)
                    except OSError as exc:
                        raise unavailable("read", key, exc) from exc
                    if not chunk:
                        break
                    digester.update(chunk)
                actual = digester.finish()
            finally:
                digester.close()
        finally:
            os.close(fd)
        check_stored(expected, actual)

    def _delete_sync(self, sha256: str) -> bool:
        key = blob_key(sha256)
        final = self.root / key
        try:
            self.fs.unlink(final)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise unavailable("delete", key, exc) from exc
        try:
            self.fsync_dir(final.parent)
        except OSError as exc:
            raise unavailable("fsync the directory of", key, exc) from exc
        return True

    def _sweep_sync(self, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        staging = self.root / STAGING_DIR
        removed = 0
        try:
            with os.scandir(staging) as entries:
                stale = [
                    entry
                    for entry in entries
                    if _is_upload_id(entry.name)
                    and entry.name not in self._active
                    and entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ]
            for entry in stale:
                if entry.name in self._active:
                    continue
                try:
                    self.fs.unlink(staging / entry.name)
                except FileNotFoundError:
                    continue
                removed += 1
        except OSError as exc:
            raise unavailable("sweep", STAGING_DIR, exc) from exc
        return removed


def _is_upload_id(name: str) -> bool:
    """True for a name :meth:`LocalBlobStore.begin_sync` could have made (a uuid4 hex)."""
    return len(name) == 32 and all(char in "0123456789abcdef" for char in name)


def _write_option(url: str, query: str) -> WriteMode:
    """The ``write`` option of a file URL's query (``direct`` when absent)."""
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        options = {"": [query]}
    unknown = sorted(set(options) - {"write"})
    if unknown:
        raise InvalidInputError(
            f"unknown file URL option {unknown[0]!r} (known: write): {url!r}", url=url
        )
    values = options.get("write", [WRITE_MODES[0]])
    for mode in WRITE_MODES:
        if len(values) == 1 and values[0].strip().lower() == mode:
            return mode
    raise InvalidInputError(
        f"write takes one of {', '.join(WRITE_MODES)}: {url!r}", url=url, known=list(WRITE_MODES)
    )


class LocalBlobStream:
    """The bytes of one stored blob (or a range of them): an async iterator of pieces, or,
    through :meth:`region`, a span of the open file for the kernel to send (``FileBacked``).

    The file is opened on first use, checked against the catalog's size, and closed when the
    pieces run out, by :meth:`aclose`, or when the stream is collected.
    """

    def __init__(
        self, store: LocalBlobStore, sha256: str, byte_range: ByteRange | None, size: int | None
    ) -> None:
        self._store, self._sha256 = store, sha256
        self._key = blob_key(sha256)
        self._range, self._size = byte_range, size
        self._fd: int | None = None
        self._closed = False
        self._offset = self._stop = self._stored = 0

    async def _start(self) -> int:
        if self._fd is not None:
            return self._fd
        if self._closed:
            raise RuntimeError(f"the stream of {self._key} is closed")
        fd, stored = await asyncio.to_thread(self._store._open_blob, self._sha256, self._key)
        try:
            span = stored_span(self._sha256, stored, self._size, self._range)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._stored = fd, stored
        self._offset, self._stop = span
        return fd

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        fd = await self._start()
        if self._offset >= self._stop:
            self._close()
            raise StopAsyncIteration
        want = min(READ_PIECE_SIZE, self._stop - self._offset)
        try:
            chunk = await asyncio.to_thread(_pread_full, fd, want, self._offset, self._key)
        except BaseException:
            self._close()
            raise
        if not chunk:
            self._close()
            raise BlobCorruptError(
                f"stored blob {self._key} ended at {self._offset} bytes, "
                f"{self._stored} were expected",
                digest=f"sha256:{self._sha256}",
                expected=self._stored,
                actual=self._offset,
            )
        self._offset += len(chunk)
        return chunk

    async def region(self) -> FileRegion:
        """What is left of the stream as one span of the open file; the stream is then
        exhausted (the file stays open until :meth:`aclose`)."""
        fd = await self._start()
        region = FileRegion(fd, self._offset, self._stop - self._offset)
        self._offset = self._stop
        return region

    async def aclose(self) -> None:
        """Close the file (idempotent)."""
        self._close()

    def _close(self) -> None:
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self._close()


def _feed(
    writer: LocalBlobWriter,
    digester: Digester | ThreadedDigester,
    block: list[bytes],
    *,
    direct: bool = False,
) -> None:
    """Hash and write one block, given as the pieces it was received in (never joined: the
    hash threads take them as one item, and each is written as it is); under the writer's
    lock so cleanup can wait for it.

    ``direct``: the stream is at least a chunk long, worth ``O_DIRECT`` from its first byte.
    """
    if len(block) > 1 and sum(map(len, block)) < len(block) * _SMALL_PIECE:
        block = [b"".join(block)]  # tiny pieces (chunked framing): one write, not thousands
    with writer.lock:
        if direct and writer.size == 0:
            writer.start_direct_locked()
        digester.update_many(block)
        for piece in block:
            writer.write_locked(piece)


def _cleanup(writer: LocalBlobWriter, digester: Digester | ThreadedDigester | None) -> None:
    with writer.lock:  # waits for a block still being fed by a cancelled put()
        if digester is not None:
            digester.close()
    writer.abort_sync()


def _pread_full(fd: int, length: int, offset: int, key: str) -> bytes:
    """Read ``length`` bytes at ``offset``; fewer only at end of file."""
    parts: list[bytes] = []
    got = 0
    while got < length:
        try:
            chunk = os.pread(fd, length - got, offset + got)
        except OSError as exc:
            raise unavailable("read", key, exc) from exc
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _fanout_dirs(top: Path) -> list[str]:
    try:
        with os.scandir(top) as entries:
            return sorted(
                e.name
                for e in entries
                if is_fanout_name(e.name) and e.is_dir(follow_symlinks=False)
            )
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise unavailable("list", BLOB_PREFIX, exc) from exc


def _list_fanout(first_dir: Path, first: str) -> list[BlobInfo]:
    found: list[BlobInfo] = []
    for second in _fanout_dirs(first_dir):
        prefix = first + second
        try:
            with os.scandir(first_dir / second) as entries:
                for entry in entries:
                    if not (is_hex64(entry.name) and entry.name.startswith(prefix)):
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(info.st_mode):
                        found.append(BlobInfo(entry.name, info.st_size))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise unavailable("list", f"{BLOB_PREFIX}/{first}/{second}", exc) from exc
    return found
