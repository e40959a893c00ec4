"""Resumable upload sessions in the library, over the full backend matrix."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import blake3
import pytest
from tests.sources import ChunkedSource

from artifact_store.config import StoreConfig
from artifact_store.errors import (
    ChecksumMismatchError,
    DigestMismatchError,
    PayloadTooLargeError,
    UploadExpiredError,
    UploadNotFoundError,
    UploadOffsetError,
    UploadStateError,
)
from artifact_store.kernels.clock import FixedClock
from artifact_store.store import ArtifactStore, open_store

ACTOR = "uploader"
DATA = bytes(range(256)) * 12_000  # ~3 MiB: spans several 1 MiB batches


async def _chunks(data: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _broken(data: bytes, fail_after: int) -> AsyncIterator[bytes]:
    sent = 0
    for i in range(0, len(data), 10_000):
        piece = data[i : i + 10_000]
        if sent + len(piece) > fail_after:
            raise ConnectionResetError("client went away")
        sent += len(piece)
        yield piece


class Feed:
    """How a chunk reaches ``append_upload``: an async stream (the ASGI path) or a blocking
    byte source read through the buffer ring (a body read off its socket, ADR-0018)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def whole(self, data: bytes) -> AsyncIterator[bytes] | ChunkedSource:
        return _chunks(data) if self.kind == "stream" else ChunkedSource(data, step=65_536)

    def broken(self, data: bytes, fail_after: int) -> AsyncIterator[bytes] | ChunkedSource:
        if self.kind == "stream":
            return _broken(data, fail_after)
        return ChunkedSource(data, step=10_000, fail_at=fail_after)


@pytest.fixture(params=["stream", "source"])
def feed(request: pytest.FixtureRequest) -> Feed:
    return Feed(request.param)


def _sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


async def _read_blob(store: ArtifactStore, digest: str) -> bytes:
    _, chunks = await store.open_blob(digest)
    return b"".join([c async for c in chunks])


async def test_chunks_then_finalize(store: ArtifactStore, feed: Feed) -> None:
    session = await store.create_upload(actor=ACTOR, length=len(DATA))
    assert session.offset == 0
    half = len(DATA) // 2
    session = await store.append_upload(
        session.id, offset=0, chunks=feed.whole(DATA[:half]), actor=ACTOR
    )
    assert session.offset == half
    assert (await store.upload_status(session.id)).offset == half
    checksum = hashlib.sha256(DATA[half:]).digest()
    session = await store.append_upload(
        session.id,
        offset=half,
        chunks=feed.whole(DATA[half:]),
        checksum_sha256=checksum,
        actor=ACTOR,
    )
    stored = await store.finalize_upload(session.id, digest=_sha(DATA), actor=ACTOR)
    assert stored.created
    assert stored.record.blake3 == blake3.blake3(DATA).hexdigest()
    assert await _read_blob(store, _sha(DATA)) == DATA
    assert [e.type for e in await store.events()] == ["blob.stored"]
    with pytest.raises(UploadStateError):
        await store.append_upload(session.id, offset=len(DATA), chunks=_chunks(b"x"), actor=ACTOR)


async def test_wrong_offset_names_the_current_one(store: ArtifactStore) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"abc"), actor=ACTOR)
    with pytest.raises(UploadOffsetError) as caught:
        await store.append_upload(session.id, offset=0, chunks=_chunks(b"def"), actor=ACTOR)
    assert caught.value.extra["offset"] == 3


async def test_bad_checksum_discards_the_chunk(store: ArtifactStore, feed: Feed) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=feed.whole(b"good"), actor=ACTOR)
    with pytest.raises(ChecksumMismatchError):
        await store.append_upload(
            session.id,
            offset=4,
            chunks=feed.whole(b"evil"),
            checksum_sha256=hashlib.sha256(b"else").digest(),
            actor=ACTOR,
        )
    assert (await store.upload_status(session.id)).offset == 4
    await store.append_upload(
        session.id,
        offset=4,
        chunks=_chunks(b"data"),
        checksum_sha256=hashlib.sha256(b"data").digest(),
        actor=ACTOR,
    )
    stored = await store.finalize_upload(session.id, digest=_sha(b"gooddata"), actor=ACTOR)
    assert stored.record.size == 8


async def test_disconnect_keeps_the_received_prefix(store: ArtifactStore, feed: Feed) -> None:
    session = await store.create_upload(actor=ACTOR)
    with pytest.raises(ConnectionResetError):
        await store.append_upload(
            session.id, offset=0, chunks=feed.broken(DATA, fail_after=1_500_000), actor=ACTOR
        )
    offset = (await store.upload_status(session.id)).offset
    assert 0 < offset <= 1_500_000
    await store.append_upload(session.id, offset=offset, chunks=_chunks(DATA[offset:]), actor=ACTOR)
    stored = await store.finalize_upload(session.id, digest=_sha(DATA), actor=ACTOR)
    assert stored.record.size == len(DATA)


async def test_disconnect_with_checksum_keeps_nothing_of_the_chunk(
    store: ArtifactStore, feed: Feed
) -> None:
    session = await store.create_upload(actor=ACTOR)
    with pytest.raises(ConnectionResetError):
        await store.append_upload(
            session.id,
            offset=0,
            chunks=feed.broken(DATA, fail_after=1_500_000),
            checksum_sha256=hashlib.sha256(DATA).digest(),
            actor=ACTOR,
        )
    assert (await store.upload_status(session.id)).offset == 0


async def test_wrong_digest_stores_nothing(store: ArtifactStore) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"actual"), actor=ACTOR)
    with pytest.raises(DigestMismatchError) as caught:
        await store.finalize_upload(session.id, digest=_sha(b"claimed"), actor=ACTOR)
    assert caught.value.extra == {"expected": _sha(b"claimed"), "actual": _sha(b"actual")}
    assert await store.events() == []
    assert await store.missing_blobs([_sha(b"actual")]) == [_sha(b"actual")]
    with pytest.raises(UploadStateError):
        await store.upload_status(session.id)


async def test_finalize_by_blake3_digest(store: ArtifactStore) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"b3"), actor=ACTOR)
    digest = f"blake3:{blake3.blake3(b'b3').hexdigest()}"
    assert (await store.finalize_upload(session.id, digest=digest, actor=ACTOR)).created


async def test_declared_length_is_enforced(store: ArtifactStore, feed: Feed) -> None:
    session = await store.create_upload(actor=ACTOR, length=4)
    with pytest.raises(PayloadTooLargeError, match="over its limit of 4"):
        await store.append_upload(session.id, offset=0, chunks=feed.whole(b"12345"), actor=ACTOR)
    assert (await store.upload_status(session.id)).offset == 0
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"12"), actor=ACTOR)
    with pytest.raises(UploadStateError):
        await store.finalize_upload(session.id, digest=_sha(b"12"), actor=ACTOR)


async def test_abort_removes_the_session(store: ArtifactStore) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"gone"), actor=ACTOR)
    await store.abort_upload(session.id, actor=ACTOR)
    with pytest.raises(UploadNotFoundError):
        await store.upload_status(session.id)
    with pytest.raises(UploadNotFoundError):
        await store.abort_upload("nope", actor=ACTOR)


async def test_idle_sessions_expire(store: ArtifactStore, clock: FixedClock) -> None:
    session = await store.create_upload(actor=ACTOR)
    await store.append_upload(session.id, offset=0, chunks=_chunks(b"old"), actor=ACTOR)
    clock.advance(timedelta(hours=25))
    with pytest.raises(UploadExpiredError):
        await store.append_upload(session.id, offset=3, chunks=_chunks(b"new"), actor=ACTOR)
    assert await store.expire_uploads() == 1
    assert await store.expire_uploads() == 0
    with pytest.raises(UploadExpiredError):
        await store.upload_status(session.id)


async def test_same_digest_in_two_sessions_stores_one_blob(store: ArtifactStore) -> None:
    sessions = [await store.create_upload(actor=ACTOR) for _ in range(2)]
    for s in sessions:
        await store.append_upload(s.id, offset=0, chunks=_chunks(DATA), actor=ACTOR)
    results = await asyncio.gather(
        *(store.finalize_upload(s.id, digest=_sha(DATA), actor=ACTOR) for s in sessions)
    )
    assert sorted(r.created for r in results) == [False, True]
    assert [e.type for e in await store.events()] == ["blob.stored"]


async def test_resume_after_restart_rehashes_the_prefix(
    database_url: str, tmp_path: object, clock: FixedClock
) -> None:
    config = StoreConfig(
        database_url=database_url, blobstore_url=f"file://{tmp_path}/data", create=True
    )
    first = await open_store(config, clock=clock)
    session = await first.create_upload(actor=ACTOR)
    half = len(DATA) // 2
    await first.append_upload(session.id, offset=0, chunks=_chunks(DATA[:half]), actor=ACTOR)
    await first.close()

    second = await open_store(config, clock=clock)
    try:
        status = await second.upload_status(session.id)
        assert status.offset == half
        await second.append_upload(
            session.id, offset=half, chunks=_chunks(DATA[half:]), actor=ACTOR
        )
        stored = await second.finalize_upload(session.id, digest=_sha(DATA), actor=ACTOR)
        assert stored.record.blake3 == blake3.blake3(DATA).hexdigest()
    finally:
        await second.close()


async def test_empty_upload_gives_the_empty_blob(store: ArtifactStore) -> None:
    session = await store.create_upload(actor=ACTOR, length=0)
    stored = await store.finalize_upload(session.id, digest=_sha(b""), actor=ACTOR)
    assert stored.record.size == 0
    assert await _read_blob(store, _sha(b"")) == b""
