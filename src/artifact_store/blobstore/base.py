"""The data-plane seam: ``BlobStore`` and ``BlobWriter``; every backend passes
``tests/contract/test_blobstore.py``.

A blob store is deliberately dumb (distribution's storage-driver idea): it keeps immutable
bytes under their sha256, publishes them create-only, and knows nothing of packages, events or
policy. The one thing it must get right is durability (blueprint invariant 1): when
:meth:`BlobWriter.commit` or :meth:`BlobStore.put` returns, the bytes are durable and visible
under ``sha256/<hex>``; before that, nothing is visible; an existing blob is never overwritten.

Errors: backends translate ``OSError`` and client-library errors into ``errors.py`` classes
(``StorageUnavailableError`` for I/O failures, ``BlobNotFoundError``, ``BlobCorruptError``,
``DigestMismatchError``/``SizeMismatchError`` for a wrong expected digest).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from artifact_store.kernels.digest import DigestPair, Expected
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.ring import ByteSource

__all__ = [
    "BlobInfo",
    "BlobStore",
    "BlobWriter",
    "FileBacked",
    "FileRegion",
    "PutResult",
    "StagedWriter",
]


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What the data plane knows of a stored blob without reading it."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class PutResult:
    """The outcome of storing a stream: its digests, and whether this call created the blob."""

    digests: DigestPair
    created: bool


@dataclass(frozen=True, slots=True)
class FileRegion:
    """Bytes of a stored blob as a span of an open local file (for ``sendfile``).

    ``fd`` belongs to the stream that handed the region over and stays open until that stream
    is closed; the receiver reads it (e.g. ``os.sendfile``) but never closes it.
    """

    fd: int
    offset: int
    count: int


@runtime_checkable
class FileBacked(Protocol):
    """A blob stream (from :meth:`BlobStore.open`) whose bytes lie in a local file.

    Instead of iterating it, a caller may take what is left of it as one :class:`FileRegion`
    and move the bytes with the kernel (the HTTP server's zero-copy send, ADR-0016). The
    stream's checks run either way: a blob that is missing or whose stored length is not the
    catalog's raises from :meth:`region` as it would from the first iteration.
    """

    async def region(self) -> FileRegion:
        """What is left of the stream, as a file region; the stream is then exhausted.

        Raises:
            BlobNotFoundError, BlobCorruptError, StorageUnavailableError: as iterating would.
        """
        ...

    async def aclose(self) -> None:
        """Release the file (the region's ``fd`` is closed with it)."""
        ...


class BlobWriter(Protocol):
    """One in-progress upload into a backend; nothing is visible until :meth:`commit`."""

    @property
    def upload_id(self) -> str:
        """An id naming the staged bytes (for resumable sessions)."""
        ...

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the staged bytes.

        Raises:
            StorageUnavailableError: the backend failed; the writer is then unusable.
        """
        ...

    async def commit(self, digests: DigestPair) -> bool:
        """Make the staged bytes durable and publish them create-only under ``digests.sha256``.

        The caller vouches that ``digests`` were computed over exactly the written bytes.
        Returns True when this call created the blob, False when it already existed (the
        staged copy is then discarded, the existing blob untouched). Idempotent: a repeated
        call with the same digests returns the first call's result.

        Raises:
            SizeMismatchError: ``digests.size`` differs from the bytes written.
            StorageUnavailableError: a write, fsync or publish step failed; nothing is published.
        """
        ...

    async def abort(self) -> None:
        """Discard the staged bytes. Idempotent, and a no-op after commit (safe in ``finally``)."""
        ...


class StagedWriter(Protocol):
    """Appends to the staged bytes of one resumable upload session."""

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (not yet durable).

        Raises:
            StorageUnavailableError: the write failed.
        """
        ...

    def write_sync(self, chunk: bytes | memoryview) -> None:
        """:meth:`write`, blocking, for a worker thread (a buffer ring's writer, ADR-0018);
        ``chunk`` is not kept after the call returns.

        Raises:
            StorageUnavailableError: the write failed.
        """
        ...

    async def sync(self) -> int:
        """Make everything written durable; return the durable size.

        Raises:
            StorageUnavailableError: the flush failed; nothing written since the last sync may
                be assumed durable.
        """
        ...

    async def truncate(self, size: int) -> None:
        """Cut the staged bytes back to ``size`` (a discarded chunk) and make that durable."""
        ...

    async def close(self) -> None:
        """Release the handle (idempotent); unsynced bytes may be lost."""
        ...


class BlobStore(Protocol):
    """Immutable bytes by sha256: put, read (with range), stat, delete, iterate, verify."""

    async def begin(self) -> BlobWriter:
        """Open a new staged upload."""
        ...

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Stream ``chunks`` in, hashing both digests in the same pass, and publish.

        With ``expected``, the sha256, blake3 and size must all match or nothing is stored.

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
            StorageUnavailableError: the backend failed; nothing is published.
        """
        ...

    async def put_file(
        self,
        path: Path,
        *,
        expected: DigestPair | Expected | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PutResult:
        """Like :meth:`put` for a local file; backends may use a faster path (same contract).
        ``progress`` is called with the byte count of each chunk read (from any thread)."""
        ...

    async def put_source(
        self,
        source: ByteSource,
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Like :meth:`put` for a blocking source read from worker threads (a request body
        read off its socket, ADR-0018). When the awaiting task is cancelled, the source is
        told to stop (``cancel``) and the call returns only once no thread uses it any more.

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
            StorageUnavailableError: the backend failed; nothing is published.
            Exception: what the source raised; nothing is published.
        """
        ...

    async def stat(self, sha256: str) -> BlobInfo | None:
        """Size of the blob, or None when it is not stored."""
        ...

    async def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        ...

    def open(
        self, sha256: str, byte_range: ByteRange | None = None, *, size: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the blob (or ``byte_range`` of it) in pieces of at most ``READ_PIECE_SIZE``.

        With ``size`` (the size the catalog recorded), a stored length that differs raises
        ``BlobCorruptError`` before any byte is yielded. A backend whose blobs are local files
        may return a :class:`FileBacked` stream; callers close the stream (``aclose``) when done.

        Raises:
            BlobNotFoundError: not stored.
            InvalidRangeError: the range does not overlap the blob.
            BlobCorruptError: the stored length is not ``size``.
        """
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the blob for good; True when it existed. The caller has proved nothing
        refers to it (lifecycle GC); the backend does not check."""
        ...

    def iterate(self) -> AsyncIterator[BlobInfo]:
        """Every published blob, in no particular order (staged uploads are not blobs)."""
        ...

    async def verify(self, expected: DigestPair) -> None:
        """Re-read the blob and re-hash both digests (RELIABILITY.md §3.1 scrub).

        Raises:
            BlobNotFoundError: not stored.
            BlobCorruptError: size, sha256 or blake3 differ from ``expected``.
        """
        ...

    async def close(self) -> None:
        """Release resources (connections, threads). Idempotent."""
        ...

    async def sweep_staging(self, older_than: timedelta) -> int:
        """Remove staged writes older than ``older_than`` that no writer holds (crash
        leftovers of ``begin``/``put``; upload-session bytes are not touched). Returns how many."""
        ...

    # --- resumable upload sessions: bytes staged under an upload id, surviving restarts ---

    async def staged_size(self, upload_id: str) -> int | None:
        """The staged length of the session's bytes, or None when nothing is staged."""
        ...

    async def stage_append(self, upload_id: str, *, at: int) -> StagedWriter:
        """Open the session's staged bytes for appending at ``at`` (creating them when ``at`` is
        0 and nothing is staged). Staged bytes beyond ``at`` (written but never acknowledged,
        e.g. before a crash) are cut off first.

        Raises:
            UploadStateError: fewer than ``at`` bytes are staged (the staged bytes were lost).
            StorageUnavailableError: the backend failed.
        """
        ...

    def stage_read(self, upload_id: str, *, stop: int) -> AsyncIterator[bytes]:
        """The first ``stop`` staged bytes, in bounded chunks (to re-hash after a restart)."""
        ...

    async def stage_publish(self, upload_id: str, digests: DigestPair) -> bool:
        """Publish the staged bytes create-only as the blob ``digests.sha256`` (durably, as
        ``BlobWriter.commit``) and drop the staging; True when this created the blob."""
        ...

    async def stage_discard(self, upload_id: str) -> None:
        """Remove the session's staged bytes (idempotent)."""
        ...
