"""``MemoryBlobStore``: the ``BlobStore`` contract over a dict, for tests of the layers above.

It applies the same rules as the durable backends (expected digests and size checked before
anything is stored, the size limit, create-only publishing, idempotent commit), so a test that
passes against it means the same thing against ``LocalBlobStore``; only durability is missing.
Everything runs in the event loop: blobs here are small by nature.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from artifact_store.blobstore.base import BlobInfo, PutResult
from artifact_store.blobstore.layout import (
    blob_key,
    check_expected,
    check_stored,
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
    digest_bytes,
    digest_source,
)
from artifact_store.kernels.limits import CHUNK_SIZE, MAX_BLOB_SIZE
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.ring import ByteSource
from artifact_store.kernels.threads import in_own_thread

__all__ = ["MemoryBlobStore", "MemoryBlobWriter", "MemoryStagedWriter"]

type _State = Literal["open", "committed", "aborted", "failed"]


class MemoryBlobWriter:
    """A staged upload held in a list of chunks until :meth:`commit`."""

    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self._id = uuid.uuid4().hex
        self._chunks: list[bytes] = []
        self._size = 0
        self._state: _State = "open"
        self._result: tuple[DigestPair, bool] | None = None

    @property
    def upload_id(self) -> str:
        """A random id (nothing outlives the process here)."""
        return self._id

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (copied, so the caller may reuse its buffer).

        Raises:
            UploadStateError: the writer was already committed, aborted or failed.
        """
        self.write_sync(chunk)

    def write_sync(self, chunk: bytes | memoryview) -> None:
        """:meth:`write` from a worker thread (the ring's writer in ``put_source``)."""
        self._require_open()
        self._chunks.append(bytes(chunk))
        self._size += len(chunk)

    async def commit(self, digests: DigestPair) -> bool:
        """Publish create-only under ``digests.sha256``; same rules as ``LocalBlobWriter``.

        Raises:
            InvalidDigestError: ``digests.sha256`` is not 64 lower-case hex characters.
            SizeMismatchError: ``digests.size`` differs from the bytes written.
            UploadStateError: the writer was aborted, failed, or committed other digests.
            BlobCorruptError: a blob already stored under this sha256 has another size.
        """
        if self._result is not None:
            if self._result[0] != digests:
                raise UploadStateError(
                    f"upload {self._id} was committed as {self._result[0].sha256_digest}",
                    upload_id=self._id,
                )
            return self._result[1]
        self._require_open()
        chunks, self._chunks, self._state = self._chunks, [], "failed"
        blob_key(digests.sha256)
        if digests.size != self._size:
            raise SizeMismatchError(
                f"commit of {digests.size} bytes, but {self._size} were written",
                expected=digests.size,
                actual=self._size,
            )
        created = self._store.publish(digests.sha256, b"".join(chunks))
        self._state = "committed"
        self._result = (digests, created)
        return created

    async def abort(self) -> None:
        """Drop the staged bytes; idempotent, and a no-op after commit."""
        if self._state == "open":
            self._chunks, self._state = [], "aborted"

    def _require_open(self) -> None:
        if self._state != "open":
            raise UploadStateError(
                f"upload {self._id} is {self._state}", upload_id=self._id, state=self._state
            )


class MemoryStagedWriter:
    """Appends to a session's staged bytes; ``sync`` only reports the size (nothing to flush)."""

    def __init__(self, staged: bytearray, upload_id: str) -> None:
        self._staged, self._id = staged, upload_id
        self._closed = False

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``."""
        self.write_sync(chunk)

    def write_sync(self, chunk: bytes | memoryview) -> None:
        """:meth:`write` from a worker thread (the ring's writer)."""
        self._require_open()
        self._staged += chunk

    async def sync(self) -> int:
        """The staged size."""
        self._require_open()
        return len(self._staged)

    async def truncate(self, size: int) -> None:
        """Cut the staged bytes back to ``size``."""
        self._require_open()
        if not 0 <= size <= len(self._staged):
            raise InvalidInputError(
                f"cannot truncate {len(self._staged)} bytes to {size}", size=size
            )
        del self._staged[size:]

    async def close(self) -> None:
        """Idempotent."""
        self._closed = True

    def _require_open(self) -> None:
        if self._closed:
            raise UploadStateError(f"the writer of upload {self._id} is closed", upload_id=self._id)


class MemoryBlobStore:
    """Blobs in a dict keyed by sha256 hex; not durable, not shared between processes."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._sessions: dict[str, bytearray] = {}

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A new, empty store for ``memory://`` (every call gets its own).

        Raises:
            InvalidInputError: anything after ``memory://``.
        """
        if url not in ("memory://", "memory:"):
            raise InvalidInputError(f"a memory URL takes no location: {url!r}", url=url)
        return cls()

    async def begin(self) -> MemoryBlobWriter:
        """Open a new staged upload."""
        return MemoryBlobWriter(self)

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Collect ``chunks``, hashing both digests on the way, and publish.

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
        """
        digester = Digester(limit=limit)
        writer = await self.begin()
        try:
            async for chunk in chunks:
                digester.update(chunk)
                await writer.write(chunk)
            digests = digester.finish()
            check_expected(expected, digests)
            return PutResult(digests, await writer.commit(digests))
        finally:
            await writer.abort()

    async def put_source(
        self,
        source: ByteSource,
        *,
        expected: DigestPair | Expected | None = None,
        limit: int = MAX_BLOB_SIZE,
    ) -> PutResult:
        """Like :meth:`put` for a blocking source, through the same buffer ring as the local
        store (``kernels/ring.py``).

        Raises:
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
            PayloadTooLargeError: more than ``limit`` bytes arrived.
        """
        writer = await self.begin()
        try:
            digests = await in_own_thread(
                functools.partial(digest_source, source, sink=writer.write_sync, limit=limit),
                cancel=source.cancel,
                name="blob-put",
            )
            check_expected(expected, digests)
            return PutResult(digests, await writer.commit(digests))
        finally:
            await writer.abort()

    async def put_file(
        self,
        path: Path,
        *,
        expected: DigestPair | Expected | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PutResult:
        """Read a local file (in a worker thread) and publish it.

        Raises:
            InvalidInputError: ``path`` cannot be read.
            UnsupportedFileError: ``path`` is not a regular file.
            DigestMismatchError, SizeMismatchError: the bytes are not what was expected.
        """
        path = Path(path)
        try:
            if not await asyncio.to_thread(path.is_file):
                raise UnsupportedFileError(f"not a regular file: {path.name!r}", path=str(path))
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {path.name!r}: {exc.strerror}", path=str(path)
            ) from exc
        digests = digest_bytes(data)
        check_expected(expected, digests)
        if progress is not None:
            progress(len(data))
        return PutResult(digests, self.publish(digests.sha256, data))

    def publish(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under ``sha256`` unless already there; True when created.

        Raises:
            BlobCorruptError: a blob already stored under ``sha256`` has another size.
        """
        existing = self._blobs.get(sha256)
        if existing is None:
            self._blobs[sha256] = data
            return True
        if len(existing) != len(data):
            raise BlobCorruptError(
                f"stored blob sha256:{sha256} has {len(existing)} bytes, not {len(data)}",
                digest=f"sha256:{sha256}",
                expected=len(data),
                actual=len(existing),
            )
        return False

    async def stat(self, sha256: str) -> BlobInfo | None:
        """Size of the blob, or None when it is not stored."""
        blob_key(sha256)  # validates: the same InvalidDigestError as the other backends
        data = self._blobs.get(sha256)
        return None if data is None else BlobInfo(sha256, len(data))

    async def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        return await self.stat(sha256) is not None

    async def open(
        self, sha256: str, byte_range: ByteRange | None = None, *, size: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream the blob (or ``byte_range`` of it) in ``CHUNK_SIZE`` pieces.

        Raises:
            BlobNotFoundError: not stored.
            InvalidRangeError: the range does not overlap the blob.
            BlobCorruptError: the stored length is not ``size``.
        """
        data = self._get(sha256)
        start, stop = stored_span(sha256, len(data), size, byte_range)
        view = memoryview(data)
        for offset in range(start, stop, CHUNK_SIZE):
            yield bytes(view[offset : min(offset + CHUNK_SIZE, stop)])

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; True when it existed."""
        blob_key(sha256)
        return self._blobs.pop(sha256, None) is not None

    async def iterate(self) -> AsyncIterator[BlobInfo]:
        """Every stored blob (a snapshot taken when iteration starts)."""
        for sha256, data in list(self._blobs.items()):
            yield BlobInfo(sha256, len(data))

    async def verify(self, expected: DigestPair) -> None:
        """Re-hash the stored bytes.

        Raises:
            BlobNotFoundError: not stored.
            BlobCorruptError: size, sha256 or blake3 differ from ``expected``.
        """
        check_stored(expected, digest_bytes(self._get(expected.sha256)))

    async def sweep_staging(self, older_than: timedelta) -> int:
        """Nothing outlives a crash in memory; always 0."""
        return 0

    async def close(self) -> None:
        """Nothing to release; idempotent."""

    async def staged_size(self, upload_id: str) -> int | None:
        """The length of the session's staged bytes, or None when nothing is staged."""
        session_key(upload_id)
        staged = self._sessions.get(upload_id)
        return None if staged is None else len(staged)

    async def stage_append(self, upload_id: str, *, at: int) -> MemoryStagedWriter:
        """Append to the session's staged bytes at ``at``, cutting off anything beyond.

        Raises:
            UploadStateError: fewer than ``at`` bytes are staged.
        """
        session_key(upload_id)
        if at < 0:
            raise InvalidInputError(f"negative offset {at}", offset=at)
        if at == 0:
            staged: bytearray | None = self._sessions.setdefault(upload_id, bytearray())
        else:
            staged = self._sessions.get(upload_id)
        if staged is None or len(staged) < at:
            raise UploadStateError(
                f"upload {upload_id} has fewer than {at} staged bytes", upload_id=upload_id
            )
        del staged[at:]
        return MemoryStagedWriter(staged, upload_id)

    async def stage_read(self, upload_id: str, *, stop: int) -> AsyncIterator[bytes]:
        """The first ``stop`` staged bytes, in ``CHUNK_SIZE`` pieces.

        Raises:
            UploadStateError: fewer than ``stop`` bytes are staged.
        """
        session_key(upload_id)
        staged = self._sessions.get(upload_id)
        if staged is None or len(staged) < stop:
            raise UploadStateError(
                f"upload {upload_id} has fewer than {stop} staged bytes", upload_id=upload_id
            )
        for offset in range(0, stop, CHUNK_SIZE):
            yield bytes(staged[offset : min(offset + CHUNK_SIZE, stop)])

    async def stage_publish(self, upload_id: str, digests: DigestPair) -> bool:
        """Publish the staged bytes as ``digests.sha256`` and drop them (rules of local).

        Raises:
            SizeMismatchError: the staged length is not ``digests.size``.
            UploadStateError: nothing is staged and the blob is not stored.
        """
        session_key(upload_id)
        blob_key(digests.sha256)
        staged = self._sessions.get(upload_id)
        if staged is None:
            existing = self._blobs.get(digests.sha256)
            if existing is None or len(existing) != digests.size:
                raise UploadStateError(f"upload {upload_id} has no staged bytes")
            return False
        if len(staged) != digests.size:
            raise SizeMismatchError(
                f"{len(staged)} bytes are staged, the digests are of {digests.size}",
                expected=digests.size,
                actual=len(staged),
            )
        created = self.publish(digests.sha256, bytes(staged))
        del self._sessions[upload_id]
        return created

    async def stage_discard(self, upload_id: str) -> None:
        """Remove the session's staged bytes; idempotent."""
        session_key(upload_id)
        self._sessions.pop(upload_id, None)

    def _get(self, sha256: str) -> bytes:
        blob_key(sha256)
        data = self._blobs.get(sha256)
        if data is None:
            raise BlobNotFoundError(
                f"blob sha256:{sha256} is not stored", digest=f"sha256:{sha256}"
            )
        return data
