"""The BlobStore contract: one suite, run against every implementation.

Each backend has a typed factory (so mypy proves the structural match with ``BlobStore``) and
an entry in ``BACKENDS``. To add one (``s3``): write its factory, add
``pytest.param("s3", marks=pytest.mark.s3)`` to ``PARAMS``, and, where the test can damage a
stored object, a corruptor in ``CORRUPTORS``.
"""

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import blake3
import pytest
from tests.sources import ChunkedSource

from artifact_store.blobstore.base import BlobStore
from artifact_store.blobstore.layout import blob_key
from artifact_store.blobstore.local import LocalBlobStore
from artifact_store.blobstore.memory import MemoryBlobStore
from artifact_store.errors import (
    BlobCorruptError,
    BlobNotFoundError,
    DigestMismatchError,
    InvalidDigestError,
    InvalidInputError,
    InvalidRangeError,
    PayloadTooLargeError,
    SizeMismatchError,
    UploadStateError,
)
from artifact_store.kernels.digest import DigestPair, digest_bytes
from artifact_store.kernels.limits import CHUNK_SIZE, READ_PIECE_SIZE
from artifact_store.kernels.ranges import ByteRange

type Factory = Callable[[Path], BlobStore]
type Corruptor = Callable[[Path, str], None]


def _memory(tmp: Path) -> BlobStore:
    return MemoryBlobStore()


def _local(tmp: Path) -> BlobStore:
    return LocalBlobStore(tmp)


def _flip_local_byte(root: Path, sha256: str) -> None:
    path = root / blob_key(sha256)
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(3)
        byte = f.read(1)
        f.seek(3)
        f.write(bytes([byte[0] ^ 0x01]))


BACKENDS: dict[str, Factory] = {"memory": _memory, "local": _local}
PARAMS = [pytest.param("memory"), pytest.param("local")]
CORRUPTORS: dict[str, Corruptor] = {"local": _flip_local_byte}

SMALL = b"hello, blob\n"
# Spans several chunks and ends mid-chunk, so every boundary case is crossed.
BIG = os.urandom(READ_PIECE_SIZE + 3 * CHUNK_SIZE + 12345)  # more than one piece either way


@pytest.fixture(params=PARAMS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[BlobStore]:
    blobs = BACKENDS[backend](tmp_path / "data")
    yield blobs
    await blobs.close()


@pytest.fixture(params=sorted(CORRUPTORS))
async def corruptible(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[BlobStore, Callable[[str], None]]]:
    name: str = request.param
    root = tmp_path / "data"
    blobs = BACKENDS[name](root)
    yield blobs, lambda sha256: CORRUPTORS[name](root, sha256)
    await blobs.close()


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def _read(
    store: BlobStore, sha256: str, byte_range: ByteRange | None = None, size: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in store.open(sha256, byte_range, size=size)])


async def _listing(store: BlobStore) -> dict[str, int]:
    return {info.sha256: info.size async for info in store.iterate()}


def _other_hex(hexdigest: str) -> str:
    return ("0" if hexdigest[0] != "0" else "1") + hexdigest[1:]


# --- put and read back ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", SMALL, BIG], ids=["empty", "one", "small", "big"])
async def test_put_then_open_returns_identical_bytes(store: BlobStore, data: bytes) -> None:
    result = await store.put(_chunks(data))
    assert result.created is True
    assert await _read(store, result.digests.sha256) == data


async def test_put_computes_both_digests(store: BlobStore) -> None:
    result = await store.put(_chunks(BIG))
    assert result.digests == DigestPair(
        hashlib.sha256(BIG).hexdigest(), blake3.blake3(BIG).hexdigest(), len(BIG)
    )


async def test_put_file_matches_put(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(BIG)
    result = await store.put_file(source)
    assert result.digests == digest_bytes(BIG)
    assert result.created is True
    assert await _read(store, result.digests.sha256) == BIG


async def test_put_file_of_empty_file(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.write_bytes(b"")
    result = await store.put_file(source)
    assert result.digests == digest_bytes(b"")
    assert await _read(store, result.digests.sha256) == b""


async def test_open_yields_bounded_chunks(store: BlobStore) -> None:
    result = await store.put(_chunks(BIG))
    sizes = [len(chunk) async for chunk in store.open(result.digests.sha256)]
    assert max(sizes) <= READ_PIECE_SIZE
    assert sum(sizes) == len(BIG)


async def test_stat_and_exists(store: BlobStore) -> None:
    result = await store.put(_chunks(SMALL))
    sha256 = result.digests.sha256
    info = await store.stat(sha256)
    assert info is not None
    assert (info.sha256, info.size) == (sha256, len(SMALL))
    assert await store.exists(sha256) is True
    assert await store.stat(_other_hex(sha256)) is None
    assert await store.exists(_other_hex(sha256)) is False


async def test_invalid_digest_is_rejected(store: BlobStore) -> None:
    with pytest.raises(InvalidDigestError):
        await store.exists("../../etc/passwd")
    with pytest.raises(InvalidDigestError):
        await store.stat("A" * 64)


# --- dedup and create-only -----------------------------------------------------------------


async def test_reput_same_bytes_is_not_created_again(store: BlobStore) -> None:
    first = await store.put(_chunks(SMALL))
    second = await store.put(_chunks(SMALL, size=3))
    assert (first.created, second.created) == (True, False)
    assert first.digests == second.digests
    assert await _listing(store) == {first.digests.sha256: len(SMALL)}


async def test_concurrent_puts_of_same_bytes_both_succeed(store: BlobStore) -> None:
    created: list[bool] = []
    for _ in range(5):
        results = await asyncio.gather(*(store.put(_chunks(BIG)) for _ in range(2)))
        assert {r.digests for r in results} == {digest_bytes(BIG)}
        created += [r.created for r in results]
    assert created.count(True) == 1
    assert await _listing(store) == {digest_bytes(BIG).sha256: len(BIG)}
    assert await _read(store, digest_bytes(BIG).sha256) == BIG


# --- expected digests and limits store nothing on mismatch ---------------------------------


def _wrong(field: str, digests: DigestPair) -> DigestPair:
    match field:
        case "sha256":
            return DigestPair(_other_hex(digests.sha256), digests.blake3, digests.size)
        case "blake3":
            return DigestPair(digests.sha256, _other_hex(digests.blake3), digests.size)
        case _:
            return DigestPair(digests.sha256, digests.blake3, digests.size + 1)


@pytest.mark.parametrize(
    ("field", "error"),
    [("sha256", DigestMismatchError), ("blake3", DigestMismatchError), ("size", SizeMismatchError)],
)
@pytest.mark.parametrize("data", [SMALL, BIG], ids=["small", "big"])
async def test_expected_mismatch_stores_nothing(
    store: BlobStore, field: str, error: type[Exception], data: bytes
) -> None:
    with pytest.raises(error):
        await store.put(_chunks(data), expected=_wrong(field, digest_bytes(data)))
    assert await _listing(store) == {}


async def test_expected_mismatch_in_put_file_stores_nothing(
    store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(BIG)
    with pytest.raises(DigestMismatchError):
        await store.put_file(source, expected=_wrong("blake3", digest_bytes(BIG)))
    assert await _listing(store) == {}


# --- put_source: a blocking source through the buffer ring (ADR-0018) ----------------------


@pytest.mark.parametrize("data", [b"", b"x", SMALL, BIG], ids=["empty", "one", "small", "big"])
async def test_put_source_matches_put(store: BlobStore, data: bytes) -> None:
    result = await store.put_source(ChunkedSource(data, step=70_001))
    assert result.digests == digest_bytes(data)
    assert result.created is True
    assert await _read(store, result.digests.sha256) == data
    again = await store.put_source(ChunkedSource(data), expected=digest_bytes(data))
    assert again.created is False


@pytest.mark.parametrize("field", ["sha256", "blake3", "size"])
async def test_put_source_with_a_wrong_claim_stores_nothing(store: BlobStore, field: str) -> None:
    with pytest.raises((DigestMismatchError, SizeMismatchError)):
        await store.put_source(ChunkedSource(BIG), expected=_wrong(field, digest_bytes(BIG)))
    assert await _listing(store) == {}


async def test_put_source_over_the_limit_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(PayloadTooLargeError):
        await store.put_source(ChunkedSource(BIG), limit=len(BIG) - 1)
    assert await _listing(store) == {}


async def test_put_source_that_fails_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(ConnectionResetError):
        await store.put_source(ChunkedSource(BIG, step=65_536, fail_at=len(BIG) // 2))
    assert await _listing(store) == {}


async def test_put_source_cancelled_stops_the_source_and_stores_nothing(store: BlobStore) -> None:
    stalled = threading.Event()

    class Stalling(ChunkedSource):
        def readinto(self, buffer: memoryview, /) -> int:
            if self.offset >= CHUNK_SIZE:
                stalled.set()
                self.cancelled.wait()  # a client that stopped sending
            return super().readinto(buffer)

    source = Stalling(BIG)
    task = asyncio.create_task(store.put_source(source))
    await asyncio.to_thread(stalled.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.cancelled.is_set()
    assert await _listing(store) == {}


async def test_expected_match_stores(store: BlobStore) -> None:
    result = await store.put(_chunks(BIG), expected=digest_bytes(BIG))
    assert result.created is True


async def test_limit_exceeded_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(PayloadTooLargeError):
        await store.put(_chunks(BIG), limit=len(BIG) - 1)
    assert await _listing(store) == {}


async def test_limit_equal_to_size_is_accepted(store: BlobStore) -> None:
    result = await store.put(_chunks(SMALL), limit=len(SMALL))
    assert result.digests.size == len(SMALL)


# --- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [
        (ByteRange(start=5), BIG[5:]),
        (
            ByteRange(start=CHUNK_SIZE - 1, stop=CHUNK_SIZE + 2),
            BIG[CHUNK_SIZE - 1 : CHUNK_SIZE + 2],
        ),
        (ByteRange(start=10, stop=len(BIG) + 100), BIG[10:]),
        (ByteRange(suffix=7), BIG[-7:]),
        (ByteRange(suffix=len(BIG) + 7), BIG),
        (ByteRange.parse("bytes=0-0"), BIG[:1]),
    ],
    ids=["start", "start-stop", "stop-past-end", "suffix", "suffix-longer", "first-byte"],
)
async def test_ranges(store: BlobStore, byte_range: ByteRange, expected: bytes) -> None:
    result = await store.put(_chunks(BIG))
    assert await _read(store, result.digests.sha256, byte_range) == expected


@pytest.mark.parametrize(
    "byte_range", [ByteRange(start=len(BIG)), ByteRange(start=len(BIG) + 5), ByteRange(suffix=0)]
)
async def test_unsatisfiable_range(store: BlobStore, byte_range: ByteRange) -> None:
    result = await store.put(_chunks(BIG))
    with pytest.raises(InvalidRangeError):
        await _read(store, result.digests.sha256, byte_range)


# --- reads of missing or inconsistent blobs ---------------------------------------------------


async def test_open_unknown_blob(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        await _read(store, digest_bytes(b"never stored").sha256)


async def test_open_with_wrong_size_is_corrupt(store: BlobStore) -> None:
    result = await store.put(_chunks(SMALL))
    assert await _read(store, result.digests.sha256, size=len(SMALL)) == SMALL
    with pytest.raises(BlobCorruptError):
        await _read(store, result.digests.sha256, size=len(SMALL) + 1)


# --- delete and iterate ------------------------------------------------------------------------


async def test_delete(store: BlobStore) -> None:
    result = await store.put(_chunks(SMALL))
    sha256 = result.digests.sha256
    assert await store.delete(sha256) is True
    assert await store.exists(sha256) is False
    assert await store.delete(sha256) is False
    with pytest.raises(BlobNotFoundError):
        await _read(store, sha256)
    again = await store.put(_chunks(SMALL))
    assert again.created is True


async def test_iterate_lists_every_blob(store: BlobStore) -> None:
    assert await _listing(store) == {}
    payloads = [b"", b"a", b"b", SMALL, BIG]
    for data in payloads:
        await store.put(_chunks(data))
    assert await _listing(store) == {digest_bytes(d).sha256: len(d) for d in payloads}


# --- verify -----------------------------------------------------------------------------------


async def test_verify_passes_on_intact_blob(store: BlobStore) -> None:
    result = await store.put(_chunks(BIG))
    await store.verify(result.digests)


async def test_verify_unknown_blob(store: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        await store.verify(digest_bytes(b"never stored"))


@pytest.mark.parametrize("field", ["blake3", "size"])
async def test_verify_against_wrong_record_is_corrupt(store: BlobStore, field: str) -> None:
    result = await store.put(_chunks(SMALL))
    with pytest.raises(BlobCorruptError) as caught:
        await store.verify(_wrong(field, result.digests))
    assert caught.value.extra["differs"] == [field]


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["small", "big"])
async def test_verify_detects_a_flipped_byte(
    corruptible: tuple[BlobStore, Callable[[str], None]], data: bytes
) -> None:
    store, corrupt = corruptible
    result = await store.put(_chunks(data))
    corrupt(result.digests.sha256)
    with pytest.raises(BlobCorruptError) as caught:
        await store.verify(result.digests)
    assert caught.value.extra["digest"] == result.digests.sha256_digest
    assert caught.value.extra["differs"] == ["sha256", "blake3"]


# --- the writer ---------------------------------------------------------------------------------


async def test_writer_commit_publishes(store: BlobStore) -> None:
    writer = await store.begin()
    for chunk in (b"ab", b"", b"cd"):
        await writer.write(chunk)
    assert writer.size == 4
    assert writer.upload_id
    assert await writer.commit(digest_bytes(b"abcd")) is True
    assert await _read(store, digest_bytes(b"abcd").sha256) == b"abcd"


async def test_writer_abort_leaves_nothing(store: BlobStore) -> None:
    writer = await store.begin()
    await writer.write(SMALL)
    await writer.abort()
    await writer.abort()
    assert await _listing(store) == {}
    assert await store.exists(digest_bytes(SMALL).sha256) is False
    with pytest.raises(UploadStateError):
        await writer.commit(digest_bytes(SMALL))


async def test_writer_commit_is_idempotent(store: BlobStore) -> None:
    writer = await store.begin()
    await writer.write(SMALL)
    digests = digest_bytes(SMALL)
    assert await writer.commit(digests) is True
    assert await writer.commit(digests) is True
    await writer.abort()  # a no-op after commit
    assert await _listing(store) == {digests.sha256: len(SMALL)}
    with pytest.raises(UploadStateError):
        await writer.commit(digest_bytes(b"something else"))
    with pytest.raises(UploadStateError):
        await writer.write(b"more")


async def test_writer_commit_of_existing_blob_is_not_created(store: BlobStore) -> None:
    await store.put(_chunks(SMALL))
    writer = await store.begin()
    await writer.write(SMALL)
    assert await writer.commit(digest_bytes(SMALL)) is False
    assert await _read(store, digest_bytes(SMALL).sha256) == SMALL


async def test_writer_commit_with_wrong_size_stores_nothing(store: BlobStore) -> None:
    writer = await store.begin()
    await writer.write(SMALL)
    wrong = DigestPair(digest_bytes(SMALL).sha256, digest_bytes(SMALL).blake3, len(SMALL) - 1)
    with pytest.raises(SizeMismatchError):
        await writer.commit(wrong)
    await writer.abort()
    assert await _listing(store) == {}


async def test_writer_commit_rejects_invalid_digest(store: BlobStore) -> None:
    writer = await store.begin()
    await writer.write(b"x")
    with pytest.raises(InvalidDigestError):
        await writer.commit(DigestPair("../x", "0" * 64, 1))
    await writer.abort()
    assert await _listing(store) == {}


async def test_concurrent_writers_of_same_bytes(store: BlobStore) -> None:
    writers = [await store.begin() for _ in range(3)]
    for writer in writers:
        await writer.write(SMALL)
    created = await asyncio.gather(*(w.commit(digest_bytes(SMALL)) for w in writers))
    assert sorted(created) == [False, False, True]
    assert await _listing(store) == {digest_bytes(SMALL).sha256: len(SMALL)}


async def test_close_is_idempotent(store: BlobStore) -> None:
    await store.close()
    await store.close()


# --- resumable upload sessions: staged bytes under an upload id ------------------------------

UPLOAD = "0190a5f2-7c3e-7d4a-8b1c-0123456789ab"


async def _stage(store: BlobStore, data: bytes, *, at: int = 0, upload_id: str = UPLOAD) -> int:
    writer = await store.stage_append(upload_id, at=at)
    try:
        await writer.write(data)
        return await writer.sync()
    finally:
        await writer.close()


async def _staged(store: BlobStore, stop: int, upload_id: str = UPLOAD) -> bytes:
    return b"".join([chunk async for chunk in store.stage_read(upload_id, stop=stop)])


async def test_session_appends_resume_and_publish(store: BlobStore) -> None:
    assert await store.staged_size(UPLOAD) is None
    assert await _stage(store, BIG[:1000]) == 1000
    assert await _stage(store, BIG[1000:], at=1000) == len(BIG)
    assert await store.staged_size(UPLOAD) == len(BIG)
    assert await _staged(store, len(BIG)) == BIG
    assert await _staged(store, 5) == BIG[:5]
    assert await store.stage_publish(UPLOAD, digest_bytes(BIG)) is True
    assert await store.staged_size(UPLOAD) is None
    assert await _read(store, digest_bytes(BIG).sha256) == BIG
    assert await store.stage_publish(UPLOAD, digest_bytes(BIG)) is False  # a retry


async def test_staged_bytes_are_not_blobs(store: BlobStore) -> None:
    await _stage(store, SMALL)
    assert await _listing(store) == {}
    assert await store.exists(digest_bytes(SMALL).sha256) is False


async def test_stage_append_cuts_off_unacknowledged_bytes(store: BlobStore) -> None:
    await _stage(store, SMALL)
    writer = await store.stage_append(UPLOAD, at=4)
    assert await store.staged_size(UPLOAD) == 4
    await writer.write(b"!")
    assert await writer.sync() == 5
    await writer.close()
    assert await _staged(store, 5) == SMALL[:4] + b"!"


@pytest.mark.parametrize("staged", [None, b"abc"])
async def test_stage_append_beyond_the_staged_bytes(store: BlobStore, staged: bytes | None) -> None:
    if staged is not None:
        await _stage(store, staged)
    with pytest.raises(UploadStateError):
        await store.stage_append(UPLOAD, at=5)


async def test_staged_truncate(store: BlobStore) -> None:
    writer = await store.stage_append(UPLOAD, at=0)
    await writer.write(BIG[:100])
    await writer.truncate(60)
    assert await writer.sync() == 60
    with pytest.raises(InvalidInputError):
        await writer.truncate(61)
    await writer.write(b"z")
    assert await writer.sync() == 61
    await writer.close()
    await writer.close()
    with pytest.raises(UploadStateError):
        await writer.write(b"more")
    assert await _staged(store, 61) == BIG[:60] + b"z"


async def test_stage_read_beyond_the_staged_bytes(store: BlobStore) -> None:
    await _stage(store, SMALL)
    with pytest.raises(UploadStateError):
        await _staged(store, len(SMALL) + 1)
    with pytest.raises(UploadStateError):
        await _staged(store, 1, upload_id=UPLOAD.replace("0", "1"))


async def test_stage_publish_with_wrong_size_keeps_the_staged_bytes(store: BlobStore) -> None:
    await _stage(store, SMALL)
    with pytest.raises(SizeMismatchError):
        await store.stage_publish(UPLOAD, digest_bytes(SMALL + b"?"))
    assert await store.staged_size(UPLOAD) == len(SMALL)
    assert await _listing(store) == {}


async def test_stage_publish_of_an_existing_blob(store: BlobStore) -> None:
    await store.put(_chunks(SMALL))
    await _stage(store, SMALL)
    assert await store.stage_publish(UPLOAD, digest_bytes(SMALL)) is False
    assert await store.staged_size(UPLOAD) is None
    assert await _listing(store) == {digest_bytes(SMALL).sha256: len(SMALL)}


async def test_stage_publish_without_staged_bytes(store: BlobStore) -> None:
    with pytest.raises(UploadStateError):
        await store.stage_publish(UPLOAD, digest_bytes(SMALL))


async def test_stage_discard(store: BlobStore) -> None:
    await _stage(store, SMALL)
    await store.stage_discard(UPLOAD)
    await store.stage_discard(UPLOAD)
    assert await store.staged_size(UPLOAD) is None


@pytest.mark.parametrize("upload_id", ["", "../x", "abc", UPLOAD.upper(), UPLOAD + "/x"])
async def test_invalid_upload_ids_are_rejected(store: BlobStore, upload_id: str) -> None:
    with pytest.raises(InvalidInputError):
        await store.staged_size(upload_id)
    with pytest.raises(InvalidInputError):
        await store.stage_append(upload_id, at=0)
    with pytest.raises(InvalidInputError):
        await store.stage_discard(upload_id)
