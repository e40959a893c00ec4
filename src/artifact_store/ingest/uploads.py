"""Resumable upload sessions: bytes in the blob store's staging area, rows in the catalog.

Theory of operation
-------------------
A PATCH streams a chunk into the session's staged bytes while both digests run over it (in
4 MiB batches, the hashing and the write on worker threads at the same time; a large body read
off its socket goes through the buffer ring instead, each digest and the write on a thread of
its own: ADR-0018). Only when the
chunk is durable (``StagedWriter.sync``) does the session's offset move, in the catalog; so
the offset never runs ahead of the durable bytes, and a crash between the two leaves staged
bytes beyond the offset, which the next append cuts off.

The running digests live in this process (Python's hash objects cannot be saved: ADR-0009).
After a restart, or when another process served the previous chunk, the first request that
needs them re-hashes the staged prefix once; clients never re-send acknowledged bytes.

A chunk carrying an ``Upload-Checksum`` is all or nothing: if it does not match, or the client
disconnects halfway, the chunk is cut off and the digests roll back to a copy taken before it.
Without a checksum, whatever arrived before a disconnect is kept (tus: "store as much as
possible").

Requests on one session are serialised by a per-session lock in this process; a second server
process sharing the database is out of scope until the scale-out issue (it would take a row
lock instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import blake3

from artifact_store.blobstore.base import BlobStore, StagedWriter
from artifact_store.catalog import uploads as rows
from artifact_store.catalog.db import Database
from artifact_store.errors import (
    ArtifactStoreError,
    ChecksumMismatchError,
    PayloadTooLargeError,
    StorageUnavailableError,
    UploadNotFoundError,
    UploadStateError,
)
from artifact_store.ingest.session import (
    check_append,
    check_finalize,
    check_size,
    transition,
)
from artifact_store.kernels.clock import Clock
from artifact_store.kernels.digest import DigestPair
from artifact_store.kernels.ids import uuid7
from artifact_store.kernels.limits import CHUNK_SIZE, MAX_BLOB_SIZE
from artifact_store.kernels.records import UploadSession
from artifact_store.kernels.ring import ByteSource, Consumer, pump
from artifact_store.kernels.threads import in_own_thread

__all__ = ["Uploads"]

#: Bytes a PATCH body is cut into: each batch is hashed and written while the next arrives.
_BATCH = 4 * CHUNK_SIZE
#: Finished sessions (completed, failed, expired) are forgotten this long after they ended.
FINISHED_RETENTION = timedelta(days=7)


@dataclass(slots=True)
class _Hashing:
    """Both running digests of a session's first ``offset`` bytes."""

    offset: int
    sha256: hashlib._Hash
    blake3: blake3.blake3

    @classmethod
    def empty(cls) -> _Hashing:
        return cls(0, hashlib.sha256(), blake3.blake3())

    def copy(self) -> _Hashing:
        return _Hashing(self.offset, self.sha256.copy(), self.blake3.copy())

    def update(self, data: bytes) -> None:
        """Hash ``data`` into both digests in the calling thread (re-hashing a staged prefix)."""
        self.sha256.update(data)
        self.blake3.update(data)
        self.offset += len(data)

    async def update_parallel(self, data: bytes, chunk: hashlib._Hash | None) -> None:
        """Hash ``data`` with sha256 and blake3 (and the chunk's own sha256) on worker threads
        at once (all release the GIL), so the set costs what sha256 alone costs when there are
        cores for it (TOOLING.md §2a)."""
        steps = [
            asyncio.to_thread(self.sha256.update, data),
            asyncio.to_thread(self.blake3.update, data),
        ]
        if chunk is not None:
            steps.append(asyncio.to_thread(chunk.update, data))
        await asyncio.gather(*steps)
        self.offset += len(data)

    def digests(self) -> DigestPair:
        return DigestPair(self.sha256.hexdigest(), self.blake3.hexdigest(), self.offset)


async def _batches(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Re-cut a stream into pieces of ``size`` bytes (the last may be shorter). A piece that
    fits is copied once, by the join into its batch (a piece that is a whole batch not at all);
    only a piece that straddles two batches is sliced first.

    When the source fails (a client disconnect), the bytes already received are handed over
    before the error propagates, so the caller can keep them.
    """
    parts: list[bytes] = []
    held = 0
    try:
        async for piece in chunks:
            chunk = piece if type(piece) is bytes else bytes(piece)
            while chunk:
                room = size - held
                if len(chunk) < room:
                    parts.append(chunk)
                    held += len(chunk)
                    break
                parts.append(chunk[:room] if len(chunk) > room else chunk)
                chunk = chunk[room:]
                yield parts[0] if len(parts) == 1 else b"".join(parts)
                parts, held = [], 0
    except BaseException:
        if parts:
            yield b"".join(parts)
        raise
    if parts:
        yield b"".join(parts)


async def _settled(
    pending: asyncio.Future[tuple[None, None]] | None, stop: BaseException
) -> BaseException:
    """Wait for the batch in flight (cancellations meanwhile are absorbed: the caller reports
    ``stop``); its own failure, if any, is what stopped the stream."""
    if pending is None:
        return stop
    while not pending.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(pending)
    error = None if pending.cancelled() else pending.exception()
    if isinstance(error, StorageUnavailableError):
        return error
    return stop


class Uploads:
    """Create, append to, inspect, finish, abort and expire upload sessions."""

    def __init__(self, db: Database, blobs: BlobStore, clock: Clock, *, idle: timedelta) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock
        self._idle = idle
        self._hashing: dict[str, _Hashing] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def lock(self, upload_id: str) -> AsyncIterator[None]:
        """Serialise requests on one session (in this process)."""
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            yield
        if not lock.locked() and self._locks.get(upload_id) is lock:
            del self._locks[upload_id]

    async def create(self, *, actor: str, length: int | None = None) -> UploadSession:
        """Open a new session (nothing is staged until the first chunk)."""
        if length is not None and not 0 <= length <= MAX_BLOB_SIZE:
            raise PayloadTooLargeError(
                f"declared length {length} is outside 0..{MAX_BLOB_SIZE}",
                limit="blob_size",
                maximum=MAX_BLOB_SIZE,
            )
        now = self._clock.now()
        session = UploadSession(
            id=str(uuid7(now)),
            actor=actor,
            state="open",
            offset=0,
            length=length,
            created_at=now,
            updated_at=now,
            expires_at=now + self._idle,
        )
        async with self._db.write() as conn:
            await rows.insert_session(conn, session)
        return session

    async def load(self, upload_id: str) -> UploadSession:
        """The session, or ``UploadNotFoundError``."""
        async with self._db.read() as conn:
            session = await rows.find_session(conn, upload_id)
        if session is None:
            raise UploadNotFoundError(f"no upload session {upload_id!r}", upload_id=upload_id)
        return session

    async def status(self, upload_id: str) -> UploadSession:
        """The session while it is usable (open and not idle too long).

        Raises:
            UploadNotFoundError, UploadExpiredError, UploadStateError.
        """
        session = await self.load(upload_id)
        check_append(session, offset=session.offset, now=self._clock.now())
        return session

    async def _save(self, session: UploadSession) -> None:
        async with self._db.write() as conn:
            await rows.save_session(conn, session)

    async def _hashing_for(self, session: UploadSession) -> _Hashing:
        """The running digests at the session's offset, re-hashing the staged prefix if needed."""
        cached = self._hashing.get(session.id)
        if cached is not None and cached.offset == session.offset:
            return cached
        hashing = _Hashing.empty()
        if session.offset:
            async for chunk in self._blobs.stage_read(session.id, stop=session.offset):
                await asyncio.to_thread(hashing.update, chunk)
        if hashing.offset != session.offset:
            raise UploadStateError(
                f"the staged bytes of upload {session.id} are shorter than its offset "
                f"({hashing.offset} < {session.offset}); start a new upload",
                upload_id=session.id,
            )
        self._hashing[session.id] = hashing
        return hashing

    async def append(
        self,
        upload_id: str,
        *,
        offset: int,
        chunks: AsyncIterable[bytes] | ByteSource,
        checksum_sha256: bytes | None = None,
    ) -> UploadSession:
        """Append one chunk at ``offset`` (a stream, or a blocking source read through a buffer
        ring: ADR-0018); returns the session with its new durable offset.

        Raises:
            UploadNotFoundError, UploadExpiredError, UploadStateError, UploadOffsetError.
            ChecksumMismatchError: the chunk was discarded; the offset did not move.
            PayloadTooLargeError: past the declared length or the blob size limit (discarded).
            StorageUnavailableError: the staging write failed; the offset did not move.
        """
        async with self.lock(upload_id):
            session = await self.load(upload_id)
            now = self._clock.now()
            check_append(session, offset=offset, now=now)
            hashing = await self._hashing_for(session)
            rollback = hashing.copy() if checksum_sha256 is not None else None
            chunk_hash = hashlib.sha256() if checksum_sha256 is not None else None
            writer = await self._blobs.stage_append(upload_id, at=session.offset)
            try:
                if isinstance(chunks, ByteSource):
                    failure = await self._pump(session, hashing, writer, chunks, chunk_hash)
                else:
                    failure = await self._stream(session, hashing, writer, chunks, chunk_hash)
                keep = hashing.offset
                if isinstance(failure, StorageUnavailableError):
                    raise failure
                mismatch = chunk_hash is not None and chunk_hash.digest() != checksum_sha256
                if rollback is not None and (failure is not None or mismatch):
                    await writer.truncate(session.offset)
                    hashing, keep = rollback, rollback.offset
                    self._hashing[upload_id] = hashing
                elif isinstance(failure, PayloadTooLargeError):
                    await writer.truncate(session.offset)
                    hashing = await self._rehash(session)
                    keep = session.offset
                durable = await writer.sync()
            except BaseException:
                self._hashing.pop(upload_id, None)  # the staged bytes are now unknown
                raise
            finally:
                await writer.close()
            if durable != keep:
                self._hashing.pop(upload_id, None)
                raise StorageUnavailableError(
                    f"staged size {durable} differs from the expected {keep}",
                    upload_id=upload_id,
                )
            session = session.touched(now, self._idle, offset=durable)
            await self._save(session)
            if failure is not None:
                raise failure
            if mismatch:
                raise ChecksumMismatchError(
                    "the chunk's Upload-Checksum does not match its bytes; the chunk was discarded",
                    offset=session.offset,
                )
            return session

    async def _rehash(self, session: UploadSession) -> _Hashing:
        self._hashing.pop(session.id, None)
        return await self._hashing_for(session)

    async def _stream(
        self,
        session: UploadSession,
        hashing: _Hashing,
        writer: StagedWriter,
        chunks: AsyncIterable[bytes],
        chunk_hash: hashlib._Hash | None,
    ) -> BaseException | None:
        """Write and hash the chunk; return (not raise) what stopped it early.

        One batch is hashed and written while the next is received; it always finishes (even
        when the request is cancelled) before this returns, so ``hashing`` and the staged file
        agree on what was taken.
        """
        pending: asyncio.Future[tuple[None, None]] | None = None
        received = hashing.offset
        try:
            async for batch in _batches(chunks, _BATCH):
                received += len(batch)
                check_size(session, received)
                if pending is not None:
                    await asyncio.shield(pending)
                pending = asyncio.ensure_future(
                    asyncio.gather(hashing.update_parallel(batch, chunk_hash), writer.write(batch))
                )
            if pending is not None:
                await asyncio.shield(pending)
        except (ArtifactStoreError, OSError, asyncio.CancelledError) as exc:
            return await _settled(pending, exc)
        except Exception as exc:  # a client disconnect surfaces as the server framework's own type
            return await _settled(pending, exc)
        return None

    async def _pump(
        self,
        session: UploadSession,
        hashing: _Hashing,
        writer: StagedWriter,
        source: ByteSource,
        chunk_hash: hashlib._Hash | None,
    ) -> BaseException | None:
        """:meth:`_stream` for a blocking source: the buffer ring hands every piece to both
        digests, the chunk's own sha256 and the staged writer, each on a thread of its own.
        Returns (not raises) what stopped it early; what arrived before that was taken by all
        of them alike (``kernels/ring.py``), so ``hashing`` and the staged file agree, unless a
        consumer failed (the write: ``StorageUnavailableError``)."""
        taken = 0

        def write(view: memoryview) -> None:
            nonlocal taken
            writer.write_sync(view)
            taken += len(view)

        consumers: list[Consumer] = [hashing.sha256.update, hashing.blake3.update, write]
        if chunk_hash is not None:
            consumers.append(chunk_hash.update)

        def check(total: int) -> None:
            check_size(session, session.offset + total)

        failure: BaseException | None = None
        try:
            await in_own_thread(
                functools.partial(pump, source, consumers, check=check),
                cancel=source.cancel,
                name="upload-append",
            )
        except BaseException as exc:  # too much, a disconnect or cancellation: see append
            failure = exc
        hashing.offset += taken
        return failure

    async def digests(self, upload_id: str) -> tuple[UploadSession, DigestPair]:
        """Both digests of all staged bytes of an open session (caller holds the lock)."""
        session = await self.load(upload_id)
        check_finalize(session, now=self._clock.now())
        hashing = await self._hashing_for(session)
        if session.offset == 0 and await self._blobs.staged_size(upload_id) is None:
            # an empty upload (tus allows Upload-Length: 0): stage zero bytes to publish
            writer = await self._blobs.stage_append(upload_id, at=0)
            try:
                await writer.sync()
            finally:
                await writer.close()
        return session, hashing.digests()

    async def end(self, session: UploadSession, *, ok: bool) -> UploadSession:
        """The session after finalize (completed or failed); drops its hashing state. A failed
        session's staged bytes are removed."""
        self._hashing.pop(session.id, None)
        state = transition(session.state, "finalize_ok" if ok else "finalize_mismatch")
        if not ok:
            await self._blobs.stage_discard(session.id)
        return replace(session, state=state, updated_at=self._clock.now())

    async def abort(self, upload_id: str) -> None:
        """Remove the session and its staged bytes."""
        async with self.lock(upload_id):
            await self.load(upload_id)
            self._hashing.pop(upload_id, None)
            await self._blobs.stage_discard(upload_id)
            async with self._db.write() as conn:
                await rows.delete_session(conn, upload_id)

    async def expire(self) -> int:
        """Expire idle sessions (their bytes removed) and forget long-finished ones."""
        now = self._clock.now()
        async with self._db.read() as conn:
            stale = await rows.list_expired(conn, now)
        for session in stale:
            async with self.lock(session.id):
                self._hashing.pop(session.id, None)
                await self._blobs.stage_discard(session.id)
                expired = replace(
                    session, state=transition(session.state, "expire"), updated_at=now
                )
                await self._save(expired)
        async with self._db.write() as conn:
            await rows.purge_finished(conn, now - FINISHED_RETENTION)
        return len(stale)

    async def count_open(self) -> int:
        """Sessions still taking chunks."""
        async with self._db.read() as conn:
            return await rows.count_open(conn)
