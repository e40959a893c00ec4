"""LocalBlobStore specifics: the durability sequence, injected syscall failures (RELIABILITY.md
§8.1 H4 through ``FsOps``), O_DIRECT, crash leftovers, file modes, session staging."""

import asyncio
import errno
import fcntl
import os
import signal
import stat
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.sources import ChunkedSource

from artifact_store.blobstore.base import FileBacked
from artifact_store.blobstore.layout import (
    BLOB_PREFIX,
    SESSIONS_DIR,
    STAGING_DIR,
    blob_key,
    session_key,
)
from artifact_store.blobstore.local import LocalBlobStore, OsFs, WriteMode
from artifact_store.errors import (
    BlobCorruptError,
    BlobNotFoundError,
    InvalidInputError,
    InvalidRangeError,
    StorageUnavailableError,
    UnsupportedFileError,
    UploadStateError,
)
from artifact_store.kernels.digest import digest_bytes
from artifact_store.kernels.limits import CHUNK_SIZE, READ_PIECE_SIZE
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.ring import at_most, pump

SMALL = b"hello, blob\n"
BIG = os.urandom(READ_PIECE_SIZE + 3 * CHUNK_SIZE + 999)
# Large enough for put_file's threaded, O_DIRECT path; the tail is not 4096-aligned.
HUGE = os.urandom(9 * CHUNK_SIZE + 4097)


class FaultyFs(OsFs):
    """Records every call as ``(op, store-relative path)``; fails the ops named in ``fail``.

    Op names: ``open write fsync:file fsync:dir fdatasync fchmod close link unlink mkdir``
    (``direct``/``buffered`` and ``drop`` are recorded, never failed; ``drops`` keeps each
    dropped range as ``(offset, length)``).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, str]] = []
        self.fail: set[str] = set()
        self.write_delay = 0.0  # seconds; lets the background flusher run between writes
        self.refuse_direct = ""  # "enable" or "write": refuse O_DIRECT with EINVAL, like tmpfs
        self.direct_writes = 0
        self.drops: list[tuple[int, int]] = []
        self._names: dict[int, str] = {}

    def _rel(self, path: Path) -> str:
        return (
            str(Path(path).relative_to(self.root)) if Path(path).is_relative_to(self.root) else "^"
        )

    def _do(self, op: str, name: str) -> None:
        self.calls.append((op, name))
        if op in self.fail:
            raise OSError(errno.EIO, f"injected {op} failure")

    def open(self, path: Path, flags: int, mode: int = 0o600) -> int:
        self._do("open", self._rel(path))
        fd = super().open(path, flags, mode)
        self._names[fd] = self._rel(path)
        return fd

    def write(self, fd: int, data: bytes | memoryview) -> int:
        self._do("write", self._names[fd])
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            if self.refuse_direct == "write":
                raise OSError(errno.EINVAL, "misaligned")
            self.direct_writes += 1
        if self.write_delay:
            time.sleep(self.write_delay)
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        self._do(f"fsync:{kind}", self._names[fd])
        super().fsync(fd)

    def fdatasync(self, fd: int) -> None:
        self._do("fdatasync", self._names[fd])
        super().fdatasync(fd)

    def fchmod(self, fd: int, mode: int) -> None:
        self._do("fchmod", self._names[fd])
        super().fchmod(fd, mode)

    def close(self, fd: int) -> None:
        self._do("close", self._names.pop(fd))
        super().close(fd)

    def link(self, src: Path, dst: Path) -> None:
        self._do("link", self._rel(dst))
        super().link(src, dst)

    def unlink(self, path: Path) -> None:
        self._do("unlink", self._rel(path))
        super().unlink(path)

    def mkdir(self, path: Path, mode: int = 0o755) -> None:
        self._do("mkdir", self._rel(path))
        super().mkdir(path, mode)

    def ftruncate(self, fd: int, size: int) -> None:
        self._do("ftruncate", self._names[fd])
        super().ftruncate(fd, size)

    def set_direct_io(self, fd: int, enabled: bool) -> None:
        self.calls.append(("direct" if enabled else "buffered", self._names[fd]))
        if enabled and self.refuse_direct == "enable":
            raise OSError(errno.EINVAL, "no O_DIRECT here")
        super().set_direct_io(fd, enabled)

    def drop_cache(self, fd: int, offset: int, length: int) -> None:
        self.calls.append(("drop", self._names[fd]))
        self.drops.append((offset, length))
        super().drop_cache(fd, offset, length)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def fs(root: Path) -> FaultyFs:
    return FaultyFs(root)


@pytest.fixture
async def store(root: Path, fs: FaultyFs) -> AsyncIterator[LocalBlobStore]:
    """Writes through the page cache (the paths ``direct_store`` does not take)."""
    blobs = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write="drop-behind")
    fs.calls.clear()
    yield blobs
    await blobs.close()


@pytest.fixture
async def direct_store(root: Path, fs: FaultyFs) -> AsyncIterator[LocalBlobStore]:
    blobs = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write="direct")
    fs.calls.clear()
    yield blobs
    await blobs.close()


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def _published(root: Path) -> list[Path]:
    return sorted(p for p in (root / BLOB_PREFIX).rglob("*") if p.is_file())


def _staged(root: Path) -> list[str]:
    return sorted(p.name for p in (root / STAGING_DIR).iterdir() if p.is_file())


def _write_source(tmp_path: Path, data: bytes) -> Path:
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    return source


async def _store_via(store: LocalBlobStore, how: str, data: bytes, tmp_path: Path) -> None:
    match how:
        case "put":
            await store.put(_chunks(data))
        case "put_file":
            await store.put_file(_write_source(tmp_path, data))
        case "put_source":
            await store.put_source(ChunkedSource(data, step=100_000))
        case _:
            writer = await store.begin()
            try:
                async for chunk in _chunks(data, CHUNK_SIZE // 2):
                    await writer.write(chunk)
                await writer.commit(digest_bytes(data))
            finally:
                await writer.abort()


# --- the durability sequence (RELIABILITY.md §3.1) -----------------------------------------


async def test_put_follows_the_durability_sequence(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    sha256 = digest_bytes(SMALL).sha256
    await store.put(_chunks(SMALL))
    final = blob_key(sha256)
    leaf, fan1 = final.rsplit("/", 1)[0], final.rsplit("/", 2)[0]
    staged = next(name for op, name in fs.calls if op == "open" and name.startswith(STAGING_DIR))
    calls = [c for c in fs.calls if c[0] not in ("open", "close", "write")]
    assert calls == [
        ("fchmod", staged),
        ("fsync:file", staged),
        ("mkdir", fan1),
        ("fsync:dir", BLOB_PREFIX),
        ("mkdir", leaf),
        ("fsync:dir", fan1),
        ("link", final),
        ("unlink", staged),
        ("fsync:dir", leaf),
    ]
    assert _staged(root) == []


async def test_known_directories_are_not_fsynced_again(store: LocalBlobStore, fs: FaultyFs) -> None:
    await store.put(_chunks(SMALL))
    fs.calls.clear()
    assert (await store.put(_chunks(SMALL))).created is False
    ops = [op for op, _ in fs.calls if op not in ("open", "close", "write")]
    assert ops == ["fchmod", "fsync:file", "link", "unlink", "fsync:dir"]


async def test_existing_directories_are_fsynced_once_by_a_new_store(root: Path) -> None:
    await LocalBlobStore(root).put(_chunks(SMALL))
    fs = FaultyFs(root)
    again = LocalBlobStore(root, fs=fs)
    assert (await again.put(_chunks(SMALL))).created is False
    assert [op for op, _ in fs.calls].count("fsync:dir") == 3


async def test_published_blobs_are_read_only(store: LocalBlobStore, root: Path) -> None:
    result = await store.put(_chunks(SMALL))
    path = root / blob_key(result.digests.sha256)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert path.stat().st_nlink == 1  # the staged name is gone


async def test_background_flush_runs_for_large_writes(
    root: Path, fs: FaultyFs, tmp_path: Path
) -> None:
    store = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write="cached")
    fs.write_delay = 0.01
    result = await store.put_file(_write_source(tmp_path, HUGE))
    assert result.digests == digest_bytes(HUGE)
    await store.verify(result.digests)
    fsyncs = [op for op, _ in fs.calls if op in ("fdatasync", "fsync:file")]
    assert "fdatasync" in fsyncs
    assert fsyncs[-1] == "fsync:file"
    assert fs.drops == []  # cached: the pages stay
    assert fs.direct_writes == 0


@pytest.mark.parametrize("how", ["put", "put_file", "put_source", "writer"])
async def test_drop_behind_drops_only_what_a_flush_made_durable(
    store: LocalBlobStore, fs: FaultyFs, tmp_path: Path, how: str
) -> None:
    fs.write_delay = 0.01  # lets the flusher run between writes
    await _store_via(store, how, HUGE, tmp_path)
    assert fs.direct_writes == 0
    ops = [op for op, _ in fs.calls if op in ("fdatasync", "fsync:file", "drop")]
    assert ops[0] == "fdatasync"
    # Every drop follows a flush (or the final fsync), and the ranges follow one another.
    for at, op in enumerate(ops):
        if op == "drop":
            assert ops[at - 1] in ("fdatasync", "fsync:file")
    assert fs.drops[-1] == (0, 0)
    assert ops[-1] == "drop"
    assert ops[-2] == "fsync:file"
    offset = 0
    for start, length in fs.drops[:-1]:
        assert start == offset
        assert length > 0
        offset += length
    assert 0 < offset <= len(HUGE)
    await store.verify(digest_bytes(HUGE))


@pytest.mark.parametrize(("piece", "most_writes"), [(300_000, 32), (1000, 8)])
async def test_put_writes_pieces_as_they_came_but_joins_tiny_ones(
    store: LocalBlobStore, fs: FaultyFs, root: Path, piece: int, most_writes: int
) -> None:
    result = await store.put(_chunks(HUGE, size=piece))
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE
    writes = sum(op == "write" for op, _ in fs.calls)
    # 300 kB pieces: one write each (no copy to join them); 1 kB pieces: one write per block.
    assert writes <= most_writes
    if piece > 64 * 1024:
        assert writes == -(-len(HUGE) // piece)


async def test_drop_behind_keeps_blobs_under_a_flush_interval_cached(
    root: Path, fs: FaultyFs, tmp_path: Path
) -> None:
    store = LocalBlobStore(root, fs=fs, write="drop-behind")  # flush_every: the default 64 MiB
    result = await store.put_file(_write_source(tmp_path, HUGE))
    assert result.digests == digest_bytes(HUGE)
    assert fs.drops == []
    assert "fdatasync" not in {op for op, _ in fs.calls}


# --- put_file's O_DIRECT path ------------------------------------------------------------


async def test_put_file_of_a_large_file_writes_direct(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    result = await direct_store.put_file(_write_source(root.parent, HUGE))
    assert fs.direct_writes == 3  # two full 4 MiB batches, the aligned part of the tail
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE
    assert stat.S_IMODE((root / blob_key(result.digests.sha256)).stat().st_mode) == 0o444
    assert _staged(root) == []


@pytest.mark.parametrize("refuse", ["enable", "write"])
async def test_put_file_falls_back_when_direct_io_is_refused(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path, refuse: str
) -> None:
    fs.refuse_direct = refuse
    result = await direct_store.put_file(_write_source(root.parent, HUGE))
    assert fs.direct_writes == 0
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE
    assert _staged(root) == []


@pytest.mark.parametrize("write", ["drop-behind", "cached"])
async def test_only_the_direct_mode_writes_direct(
    root: Path, fs: FaultyFs, write: WriteMode
) -> None:
    store = LocalBlobStore(root, fs=fs, write=write)
    result = await store.put_file(_write_source(root.parent, HUGE))
    assert fs.direct_writes == 0
    assert "direct" not in {op for op, _ in fs.calls}
    assert result.digests == digest_bytes(HUGE)


def test_unknown_write_modes_are_refused(root: Path) -> None:
    with pytest.raises(InvalidInputError):
        LocalBlobStore(root, write="fast")  # type: ignore[arg-type]


async def test_put_of_a_large_stream_writes_direct(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    result = await direct_store.put(_chunks(HUGE, size=300_000))
    assert fs.direct_writes == 3
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE


async def test_put_source_writes_full_ring_pieces_direct_and_the_tail_buffered(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    """The ring's page-aligned buffers go to the disk as they are (no copy into a batch)."""
    result = await direct_store.put_source(ChunkedSource(HUGE, step=100_000))
    assert fs.direct_writes == 3  # two full 4 MiB pieces, the aligned part of the last one
    ops = [op for op, _ in fs.calls if op in ("direct", "buffered", "write")]
    assert ops == ["direct", "write", "write", "write", "buffered", "write"]
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE
    assert _staged(root) == []


@pytest.mark.parametrize("refuse", ["enable", "write"])
async def test_put_source_falls_back_when_direct_io_is_refused(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path, refuse: str
) -> None:
    fs.refuse_direct = refuse
    result = await direct_store.put_source(ChunkedSource(HUGE))
    assert fs.direct_writes == 0
    assert (root / blob_key(result.digests.sha256)).read_bytes() == HUGE


async def test_a_failed_source_leaves_nothing_staged(store: LocalBlobStore, root: Path) -> None:
    with pytest.raises(ConnectionResetError):
        await store.put_source(ChunkedSource(HUGE, step=65_536, fail_at=5 * CHUNK_SIZE))
    assert _staged(root) == []
    assert _published(root) == []


@pytest.mark.parametrize("op", ["write", "fsync:file", "link"])
@pytest.mark.parametrize("how", ["put", "put_file", "put_source"])
async def test_failed_direct_write_publishes_nothing(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path, op: str, how: str
) -> None:
    fs.fail.add(op)
    with pytest.raises(StorageUnavailableError):
        await _store_via(direct_store, how, HUGE, root.parent)
    assert "direct" in {op for op, _ in fs.calls}
    assert _staged(root) == []
    assert _published(root) == []


# --- injected failures: nothing published, nothing staged ----------------------------------


@pytest.mark.parametrize(
    "op", ["open", "write", "fchmod", "fsync:file", "mkdir", "link", "fsync:dir"]
)
@pytest.mark.parametrize("how", ["put", "put_file", "put_source", "writer"])
async def test_failed_syscall_fails_the_write_and_publishes_nothing(
    store: LocalBlobStore, fs: FaultyFs, root: Path, op: str, how: str
) -> None:
    fs.fail.add(op)
    with pytest.raises(StorageUnavailableError) as caught:
        await _store_via(store, how, SMALL, root.parent)
    assert caught.value.extra["errno"] == errno.EIO
    assert str(root) not in str(caught.value)  # only store-relative keys are reported
    assert _staged(root) == []
    assert _published(root) == []
    assert await store.exists(digest_bytes(SMALL).sha256) is False


@pytest.mark.parametrize("how", ["put", "put_file", "writer"])
async def test_failed_background_flush_fails_the_write(
    root: Path, fs: FaultyFs, tmp_path: Path, how: str
) -> None:
    store = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write="drop-behind")
    fs.fail.add("fdatasync")
    fs.write_delay = 0.01
    with pytest.raises(StorageUnavailableError):
        await _store_via(store, how, BIG, tmp_path)
    assert "fdatasync" in {op for op, _ in fs.calls}
    assert _staged(root) == []
    assert _published(root) == []


async def test_failed_fsync_is_not_retried_into_success(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    fs.fail.add("fsync:file")
    with pytest.raises(StorageUnavailableError):
        await store.put(_chunks(SMALL))
    assert [op for op, _ in fs.calls].count("fsync:file") == 1
    assert _published(root) == []


async def test_failed_directory_fsync_after_link_fails_then_retry_succeeds(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    sha256 = digest_bytes(SMALL).sha256
    await store.put(_chunks(SMALL))
    await store.delete(sha256)  # the fan-out directories stay, known to be durable
    fs.fail.add("fsync:dir")
    with pytest.raises(StorageUnavailableError):
        await store.put(_chunks(SMALL))
    assert _staged(root) == []
    assert await store.exists(sha256) is True  # linked, but the call failed: never a success
    fs.fail.clear()
    retry = await store.put(_chunks(SMALL))
    assert retry.created is False
    assert [c for c in fs.calls if c[0] == "fsync:dir"][-1][1] == blob_key(
        retry.digests.sha256
    ).rsplit("/", 1)[0]


async def test_writer_is_unusable_after_a_failed_write(store: LocalBlobStore, fs: FaultyFs) -> None:
    writer = await store.begin()
    fs.fail.add("write")
    with pytest.raises(StorageUnavailableError):
        await writer.write(SMALL)
    fs.fail.clear()
    with pytest.raises(UploadStateError):
        await writer.write(SMALL)
    await writer.abort()


async def test_cancelled_put_leaves_nothing(store: LocalBlobStore, root: Path) -> None:
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield BIG[:CHUNK_SIZE]
            started.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(store.put(endless()))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _staged(root) == []
    assert _published(root) == []


# --- existing blobs and damaged files -------------------------------------------------------


async def test_reput_over_a_truncated_blob_reports_corruption(
    store: LocalBlobStore, root: Path
) -> None:
    result = await store.put(_chunks(SMALL))
    path = root / blob_key(result.digests.sha256)
    path.chmod(0o644)
    path.write_bytes(SMALL[:3])
    with pytest.raises(BlobCorruptError):
        await store.put(_chunks(SMALL))
    assert _staged(root) == []


async def test_file_shrinking_mid_read_is_corrupt(store: LocalBlobStore, root: Path) -> None:
    result = await store.put(_chunks(BIG))
    path = root / blob_key(result.digests.sha256)
    reader = store.open(result.digests.sha256)
    first = await anext(reader)
    assert first == BIG[:READ_PIECE_SIZE]
    os.truncate(path, READ_PIECE_SIZE + 10)
    with pytest.raises(BlobCorruptError):
        async for _ in reader:
            pass


# --- file regions (zero-copy sends, ADR-0016) -------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    ("byte_range", "span"),
    [
        (None, (0, len(BIG))),
        (ByteRange(5, 105), (5, 100)),
        (ByteRange(suffix=7), (len(BIG) - 7, 7)),
    ],
)
async def test_a_stream_hands_over_a_file_region(
    store: LocalBlobStore, byte_range: ByteRange | None, span: tuple[int, int]
) -> None:
    sha256 = (await store.put(_chunks(BIG))).digests.sha256
    before = _open_fds()
    stream = store.open(sha256, byte_range, size=len(BIG))
    assert isinstance(stream, FileBacked)
    region = await stream.region()
    assert (region.offset, region.count) == span
    assert os.pread(region.fd, region.count, region.offset) == BIG[span[0] : span[0] + span[1]]
    assert [chunk async for chunk in stream] == []  # the region took what was left
    await stream.aclose()
    await stream.aclose()  # idempotent
    assert _open_fds() == before


async def test_a_region_after_some_pieces_is_the_rest(store: LocalBlobStore) -> None:
    sha256 = (await store.put(_chunks(BIG))).digests.sha256
    stream = store.open(sha256)
    first = await anext(stream)
    region = await stream.region()
    assert (region.offset, region.count) == (len(first), len(BIG) - len(first))
    await stream.aclose()


async def test_a_region_checks_like_the_first_piece(store: LocalBlobStore, root: Path) -> None:
    sha256 = (await store.put(_chunks(BIG))).digests.sha256
    before = _open_fds()
    with pytest.raises(BlobCorruptError):
        await store.open(sha256, size=len(BIG) + 1).region()
    with pytest.raises(InvalidRangeError):
        await store.open(sha256, ByteRange(len(BIG) + 5)).region()
    with pytest.raises(BlobNotFoundError):
        await store.open("ab" * 32).region()
    assert _open_fds() == before  # nothing left open by the refusals
    stream = store.open(sha256)
    await stream.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await stream.region()
    assert [chunk async for chunk in stream] == []


async def test_pieces_run_out_and_close_the_file(store: LocalBlobStore) -> None:
    sha256 = (await store.put(_chunks(BIG))).digests.sha256
    before = _open_fds()
    assert b"".join([chunk async for chunk in store.open(sha256)]) == BIG
    assert _open_fds() == before


async def test_put_file_rejects_missing_and_special_files(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError):
        await store.put_file(tmp_path / "missing")
    with pytest.raises(UnsupportedFileError):
        await store.put_file(tmp_path)


# --- crash leftovers ------------------------------------------------------------------------


async def test_staged_leftover_is_invisible_and_swept(store: LocalBlobStore, root: Path) -> None:
    leftover = root / STAGING_DIR / ("ab" * 16)
    leftover.write_bytes(SMALL)
    unrelated = root / STAGING_DIR / "not-an-upload"
    unrelated.write_bytes(b"?")
    assert await store.exists(digest_bytes(SMALL).sha256) is False
    assert [info async for info in store.iterate()] == []
    assert await store.sweep_staging(timedelta(hours=1)) == 0
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    assert await store.sweep_staging(timedelta(hours=1)) == 1
    assert _staged(root) == ["not-an-upload"]


async def test_sweep_spares_uploads_in_progress(store: LocalBlobStore, root: Path) -> None:
    writer = await store.begin()
    await writer.write(SMALL)
    assert await store.sweep_staging(timedelta(0)) == 0
    assert await writer.commit(digest_bytes(SMALL)) is True
    assert _staged(root) == []


async def test_iterate_skips_names_that_are_not_blob_keys(
    store: LocalBlobStore, root: Path
) -> None:
    result = await store.put(_chunks(SMALL))
    sha256 = result.digests.sha256
    leaf = root / blob_key(sha256)
    (leaf.parent / (sha256 + ".tmp")).write_bytes(b"x")
    (leaf.parent / sha256.upper()).write_bytes(b"x")
    other = digest_bytes(b"other").sha256
    (leaf.parent / other).write_bytes(b"x")  # a valid hex in the wrong fan-out directory
    (root / BLOB_PREFIX / "zz").mkdir()
    (root / BLOB_PREFIX / "stray").write_bytes(b"x")
    (root / BLOB_PREFIX / sha256[:2] / sha256[2:4] / "sub").mkdir(exist_ok=True)
    assert {info.sha256 async for info in store.iterate()} == {sha256}


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from artifact_store.blobstore.local import LocalBlobStore, OsFs, WriteMode

    class KillAtLink(OsFs):
        def link(self, src, dst):
            os.kill(os.getpid(), signal.SIGKILL)

    store = LocalBlobStore(Path(sys.argv[1]), fs=KillAtLink())
    asyncio.run(store.put_file(Path(sys.argv[2])))
    """
)


@pytest.mark.crash
async def test_kill_9_before_publish_leaves_only_a_staged_file(root: Path, tmp_path: Path) -> None:
    source = _write_source(tmp_path, BIG)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(root), str(source)
    )
    assert await asyncio.wait_for(child.wait(), timeout=60) == -signal.SIGKILL
    assert _published(root) == []
    assert len(_staged(root)) == 1
    reopened = LocalBlobStore(root)
    assert [info async for info in reopened.iterate()] == []
    assert await reopened.exists(digest_bytes(BIG).sha256) is False
    assert await reopened.sweep_staging(timedelta(0)) == 1
    assert (await reopened.put_file(source)).created is True


# --- resumable upload sessions ---------------------------------------------------------------

UPLOAD = "0190a5f2-7c3e-7d4a-8b1c-0123456789ab"


async def _stage(store: LocalBlobStore, data: bytes, *, at: int = 0) -> int:
    writer = await store.stage_append(UPLOAD, at=at)
    try:
        await writer.write(data)
        return await writer.sync()
    finally:
        await writer.close()


async def test_session_sync_makes_the_file_and_its_name_durable(
    store: LocalBlobStore, fs: FaultyFs
) -> None:
    await _stage(store, SMALL)
    key = session_key(UPLOAD)
    synced = [c for c in fs.calls if c[0].startswith("fsync")]
    assert synced == [("fsync:file", key), ("fsync:dir", SESSIONS_DIR)]
    fs.calls.clear()
    await _stage(store, b"more", at=len(SMALL))
    assert [c for c in fs.calls if c[0].startswith("fsync")] == [("fsync:file", key)]


@pytest.mark.parametrize("write", ["drop-behind", "direct"])
async def test_session_syncs_drop_what_they_made_durable_once_the_file_is_large(
    root: Path, fs: FaultyFs, write: WriteMode
) -> None:
    """Staged session bytes are written buffered in every mode; only ``cached`` keeps them."""
    store = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write=write)
    fs.calls.clear()
    half = len(BIG) // 2
    await _stage(store, SMALL)  # under flush_every: stays cached
    assert fs.drops == []
    writer = await store.stage_append(UPLOAD, at=len(SMALL))
    try:
        await writer.write(BIG[:half])
        assert await writer.sync() == len(SMALL) + half
        await writer.write(BIG[half:])
        await writer.sync()
        await writer.truncate(len(SMALL) + half)
    finally:
        await writer.close()
    ops = [op for op, _ in fs.calls if op in ("fsync:file", "drop")]
    assert ops == ["fsync:file", "fsync:file", "drop", "fsync:file", "drop", "fsync:file"]
    assert fs.drops == [(0, len(SMALL) + half), (len(SMALL) + half, len(BIG) - half)]
    assert await store.staged_size(UPLOAD) == len(SMALL) + half


async def _stage_ring(store: LocalBlobStore, data: bytes, *, at: int = 0) -> int:
    """Stage ``data`` as the ring's writer does: page-aligned pieces through ``write_sync``."""
    writer = await store.stage_append(UPLOAD, at=at)
    try:

        def consume() -> None:
            pump(ChunkedSource(data), [writer.write_sync], check=at_most(len(data)))

        await asyncio.to_thread(consume)
        return await writer.sync()
    finally:
        await writer.close()


async def test_ring_pieces_of_a_session_are_written_direct(
    direct_store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    """Full ring pieces at an aligned end of the staged file go out with O_DIRECT, the
    unaligned tail buffered; a chunk that starts unaligned, or comes as a stream, is buffered."""
    assert await _stage_ring(direct_store, HUGE) == len(HUGE)
    assert fs.direct_writes == 3  # two full 4 MiB pieces, the aligned part of the last one
    assert await _stage_ring(direct_store, BIG, at=len(HUGE)) == len(HUGE) + len(BIG)
    assert fs.direct_writes == 3  # len(HUGE) is not a multiple of 4 KiB: buffered
    assert await _stage(direct_store, SMALL, at=len(HUGE) + len(BIG)) > 0
    assert fs.direct_writes == 3
    staged = await _read_staged(direct_store, len(HUGE) + len(BIG) + len(SMALL))
    assert staged == HUGE + BIG + SMALL


async def _read_staged(store: LocalBlobStore, stop: int) -> bytes:
    return b"".join([piece async for piece in store.stage_read(UPLOAD, stop=stop)])


@pytest.mark.parametrize("write", ["drop-behind", "cached"])
async def test_ring_pieces_of_a_session_are_buffered_in_other_modes(
    root: Path, fs: FaultyFs, write: WriteMode
) -> None:
    store = LocalBlobStore(root, fs=fs, write=write)
    assert await _stage_ring(store, HUGE) == len(HUGE)
    assert fs.direct_writes == 0
    assert await _read_staged(store, len(HUGE)) == HUGE


async def test_cached_session_syncs_drop_nothing(root: Path, fs: FaultyFs) -> None:
    store = LocalBlobStore(root, fs=fs, flush_every=CHUNK_SIZE, write="cached")
    await _stage(store, BIG)
    assert fs.drops == []


async def test_failed_session_sync_is_not_retried_into_success(
    store: LocalBlobStore, fs: FaultyFs
) -> None:
    await _stage(store, SMALL)
    writer = await store.stage_append(UPLOAD, at=len(SMALL))
    await writer.write(b"lost")
    fs.fail.add("fsync:file")
    with pytest.raises(StorageUnavailableError):
        await writer.sync()
    fs.fail.clear()
    with pytest.raises(StorageUnavailableError):
        await writer.sync()  # the writer stays failed
    await writer.close()
    assert await _stage(store, b"again", at=len(SMALL)) == len(SMALL) + 5  # the tail is cut


async def test_session_publish_follows_the_durability_sequence(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    await _stage(store, SMALL)
    fs.calls.clear()
    assert await store.stage_publish(UPLOAD, digest_bytes(SMALL)) is True
    ops = [op for op, _ in fs.calls if op not in ("open", "close", "mkdir", "fsync:dir")]
    assert ops == ["fchmod", "fsync:file", "link", "unlink"]
    leaf = blob_key(digest_bytes(SMALL).sha256).rsplit("/", 1)[0]
    assert [c for c in fs.calls if c[0] != "close"][-1] == ("fsync:dir", leaf)
    path = root / blob_key(digest_bytes(SMALL).sha256)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not (root / session_key(UPLOAD)).exists()


async def test_session_publish_with_failed_fsync_discards_the_staged_bytes(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    await _stage(store, SMALL)
    fs.fail.add("fsync:file")
    with pytest.raises(StorageUnavailableError):
        await store.stage_publish(UPLOAD, digest_bytes(SMALL))
    assert await store.staged_size(UPLOAD) is None  # their on-disk state is unknown
    assert _published(root) == []


async def test_session_publish_with_failed_link_keeps_the_staged_bytes(
    store: LocalBlobStore, fs: FaultyFs, root: Path
) -> None:
    await _stage(store, SMALL)
    fs.fail.add("link")
    with pytest.raises(StorageUnavailableError):
        await store.stage_publish(UPLOAD, digest_bytes(SMALL))
    assert await store.staged_size(UPLOAD) == len(SMALL)
    assert _published(root) == []
    fs.fail.clear()
    assert await store.stage_publish(UPLOAD, digest_bytes(SMALL)) is True


async def test_sweep_leaves_sessions_alone(store: LocalBlobStore, root: Path) -> None:
    await _stage(store, SMALL)
    old = time.time() - 7200
    os.utime(root / session_key(UPLOAD), (old, old))
    assert await store.sweep_staging(timedelta(0)) == 0
    assert await store.staged_size(UPLOAD) == len(SMALL)
