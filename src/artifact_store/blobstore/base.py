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

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from artifact_store.kernels.digest import DigestPair
from artifact_store.kernels.limits import MAX_BLOB_SIZE
from artifact_store.kernels.ranges import ByteRange

__all__ = ["BlobInfo", "BlobStore", "BlobWriter", "PutResult"]


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
        staged copy is then discarded, the existing blob untouched). Idempotent.

        Raises:
            SizeMismatchError: ``digests.size`` differs from the bytes written.
            StorageUnavailableError: a write, fsync or publish step failed; nothing is published.
        """
        ...

    async def abort(self) -> None:
        """Discard the staged bytes. Idempotent, and a no-op after commit (safe in ``finally``)."""
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
        expected: DigestPair | None = None,
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

    async def put_file(self, path: Path, *, expected: DigestPair | None = None) -> PutResult:
        """Like :meth:`put` for a local file; backends may use a faster path (same contract)."""
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
        """Stream the blob (or ``byte_range`` of it) in bounded chunks.

        With ``size`` (the size the catalog recorded), a stored length that differs raises
        ``BlobCorruptError`` before any byte is yielded.

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
