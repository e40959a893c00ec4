"""ArtifactStore behaviour over the full matrix (SQLite/PostgreSQL x memory/local blobs)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import blake3
import pytest
from tests.conftest import make_tree

from artifact_store.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    FileNotInPackageError,
    InvalidDigestError,
    InvalidPathError,
    InvalidRangeError,
    InvalidRefError,
    LimitExceededError,
    MissingBlobsError,
    NonCanonicalError,
    PackageNotFoundError,
    PayloadTooLargeError,
    SizeMismatchError,
    TagNotFoundError,
    VersionConflictError,
)
from artifact_store.kernels.clock import FixedClock
from artifact_store.kernels.digest import digest_bytes
from artifact_store.kernels.limits import MAX_BATCH_BLOB_SIZE, MAX_BATCH_BLOBS
from artifact_store.kernels.ranges import ByteRange
from artifact_store.manifest import FileEntry, Manifest, Producer, encode_manifest
from artifact_store.store import ArtifactStore, PackageQuery

ACTOR = "tester"


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _read(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def _manifest(files: list[FileEntry], *, version: str = "1.0", name: str = "report") -> Manifest:
    return Manifest(
        namespace="acme/ci",
        name=name,
        version=version,
        kind="report",
        created="2026-01-01T00:00:00Z",
        producer=Producer(name="test"),
        labels={"team": "qa"},
        annotations={},
        files=tuple(sorted(files, key=lambda f: f.path)),
    )


async def _put(store: ArtifactStore, data: bytes) -> FileEntry:
    record = (await store.put_blob(_chunks(data), actor=ACTOR)).record
    return FileEntry(
        path="x",
        size=record.size,
        sha256=record.sha256,
        blake3=record.blake3,
        media_type="text/plain",
    )


async def test_put_blob_gives_both_digests(store: ArtifactStore) -> None:
    data = b"hello world" * 1000
    stored = await store.put_blob(_chunks(data, 1000), actor=ACTOR)
    assert stored.created
    record = stored.record
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.blake3 == blake3.blake3(data).hexdigest()
    assert record.size == len(data)
    _, chunks = await store.open_blob(record.digest)
    assert await _read(chunks) == data
    _, chunks = await store.open_blob(f"blake3:{record.blake3}", ByteRange.of(6, 5))
    assert await _read(chunks) == b"world"


async def test_put_same_blob_twice_records_one_event(store: ArtifactStore) -> None:
    assert (await store.put_blob(_chunks(b"same"), actor=ACTOR)).created
    assert not (await store.put_blob(_chunks(b"same"), actor=ACTOR)).created
    events = await store.events()
    assert [e.type for e in events] == ["blob.stored"]


async def test_put_blob_with_wrong_expected_digest_stores_nothing(store: ArtifactStore) -> None:
    wrong = digest_bytes(b"atad")  # same size, other bytes
    with pytest.raises(DigestMismatchError):
        await store.put_blob(_chunks(b"data"), expected=wrong, actor=ACTOR)
    assert await store.events() == []
    assert await store.missing_blobs([f"sha256:{digest_bytes(b'data').sha256}"])


async def test_put_blob_checks_a_claimed_digest(store: ArtifactStore) -> None:
    with pytest.raises(DigestMismatchError):
        await store.put_blob(_chunks(b"real"), digest=f"sha256:{'0' * 64}", actor=ACTOR)
    assert await store.events() == []
    good = f"sha256:{hashlib.sha256(b'real').hexdigest()}"
    assert (await store.put_blob(_chunks(b"real"), digest=good, actor=ACTOR)).created
    b3 = f"blake3:{blake3.blake3(b'real').hexdigest()}"
    assert not (await store.put_blob(_chunks(b"real"), digest=b3, actor=ACTOR)).created


def _claim(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm == "sha256":
        return f"sha256:{hashlib.sha256(data).hexdigest()}"
    return f"blake3:{blake3.blake3(data).hexdigest()}"


async def test_put_blobs_stores_a_batch_in_one_commit(store: ArtifactStore) -> None:
    await store.put_blob(_chunks(b"old"), actor=ACTOR)
    datas = [b"one", b"", b"old", b"one", b"three" * 100]
    items = [(_claim(d, "blake3" if i == 4 else "sha256"), d) for i, d in enumerate(datas)]
    stored = await store.put_blobs(items, actor=ACTOR)
    assert [s.record.sha256 for s in stored] == [hashlib.sha256(d).hexdigest() for d in datas]
    assert [s.created for s in stored] == [True, True, False, True, True]
    assert [s.record.size for s in stored] == [len(d) for d in datas]
    events = await store.events()
    assert [e.type for e in events] == ["blob.stored"] * 4  # "old" once, then three new ones
    assert len({e.time for e in events[1:]}) == 1  # one transaction
    assert await store.missing_blobs([_claim(d) for d in datas]) == []
    for data in datas:
        _, chunks = await store.open_blob(_claim(data))
        assert b"".join([c async for c in chunks]) == data
    assert (await store.verify(deep=True)).ok


async def test_concurrent_batches_of_the_same_blobs_store_each_once(store: ArtifactStore) -> None:
    datas = [f"blob {i}".encode() for i in range(20)]
    items = [(_claim(d), d) for d in datas]
    first, second = await asyncio.gather(
        store.put_blobs(items, actor=ACTOR), store.put_blobs(items[::-1], actor=ACTOR)
    )
    assert [s.record.sha256 for s in first] == [s.record.sha256 for s in second[::-1]]
    created = [a.created or b.created for a, b in zip(first, second[::-1], strict=True)]
    assert all(created)  # each blob was new to exactly one of the two
    assert not any(a.created and b.created for a, b in zip(first, second[::-1], strict=True))
    events = await store.events(limit=100)
    assert len(events) == len(datas)
    assert (await store.verify(deep=True)).ok


async def test_put_blobs_with_one_wrong_digest_stores_none(store: ArtifactStore) -> None:
    items = [(_claim(b"good"), b"good"), (_claim(b"real"), b"fake")]
    with pytest.raises(DigestMismatchError) as caught:
        await store.put_blobs(items, actor=ACTOR)
    assert caught.value.extra["index"] == 1
    assert await store.events() == []
    assert await store.missing_blobs([_claim(b"good")]) == [_claim(b"good")]


async def test_put_blobs_limits(store: ArtifactStore) -> None:
    with pytest.raises(LimitExceededError):
        await store.put_blobs([(_claim(b""), b"")] * (MAX_BATCH_BLOBS + 1), actor=ACTOR)
    big = bytes(MAX_BATCH_BLOB_SIZE + 1)
    with pytest.raises(PayloadTooLargeError):
        await store.put_blobs([(_claim(big), big)], actor=ACTOR)
    with pytest.raises(InvalidDigestError):
        await store.put_blobs([("sha256:nope", b"x")], actor=ACTOR)
    assert await store.events() == []


async def test_commit_resolve_and_read_file(store: ArtifactStore) -> None:
    entry = await _put(store, b"payload bytes")
    result = await store.commit_package(_manifest([entry]), actor=ACTOR)
    assert result.created
    info = result.package
    assert info.ref == "acme/ci/report@1.0"
    assert info.digest.startswith("sha256:")
    assert (await store.resolve("acme/ci/report@1.0")).digest == info.digest
    assert (await store.resolve(info.digest)).digest == info.digest
    assert (await store.resolve(f"acme/ci/report@{info.digest}")).digest == info.digest
    got, chunks = await store.open_file("acme/ci/report@1.0", "x")
    assert got == entry
    assert await _read(chunks) == b"payload bytes"
    _, chunks = await store.open_file("acme/ci/report@1.0", "x", ByteRange.parse("bytes=-5"))
    assert await _read(chunks) == b"bytes"


async def test_manifest_round_trips_through_the_store(store: ArtifactStore) -> None:
    entry = await _put(store, b"m")
    manifest = _manifest([entry])
    info = (await store.commit_package(manifest, actor=ACTOR)).package
    got_info, got, data = await store.get_manifest(info.digest)
    assert got == manifest
    assert data == encode_manifest(manifest)
    assert got_info.labels == {"team": "qa"}


async def test_identical_recommit_is_a_no_op(store: ArtifactStore) -> None:
    entry = await _put(store, b"a")
    first = await store.commit_package(_manifest([entry]), actor=ACTOR)
    head = await store.head()
    again = await store.commit_package(encode_manifest(_manifest([entry])), actor=ACTOR)
    assert not again.created
    assert again.package.digest == first.package.digest
    assert await store.head() == head


async def test_different_manifest_at_same_version_conflicts(store: ArtifactStore) -> None:
    a = await _put(store, b"a")
    b = await _put(store, b"b")
    await store.commit_package(_manifest([a]), actor=ACTOR)
    before = await store.dump_views()
    with pytest.raises(VersionConflictError):
        await store.commit_package(_manifest([b]), actor=ACTOR)
    assert await store.dump_views() == before


async def test_commit_with_missing_blob_lists_it(store: ArtifactStore) -> None:
    ghost = digest_bytes(b"never stored")
    entry = FileEntry(
        path="g", size=ghost.size, sha256=ghost.sha256, blake3=ghost.blake3, media_type="text/plain"
    )
    with pytest.raises(MissingBlobsError) as caught:
        await store.commit_package(_manifest([entry]), actor=ACTOR)
    assert caught.value.extra["missing"] == [ghost.sha256_digest]
    assert await store.events() == []


async def test_commit_checks_size_and_blake3(store: ArtifactStore) -> None:
    entry = await _put(store, b"real")
    wrong_size = FileEntry(
        path="x", size=99, sha256=entry.sha256, blake3=entry.blake3, media_type="text/plain"
    )
    with pytest.raises(SizeMismatchError):
        await store.commit_package(_manifest([wrong_size]), actor=ACTOR)
    wrong_b3 = FileEntry(
        path="x", size=entry.size, sha256=entry.sha256, blake3="0" * 64, media_type="text/plain"
    )
    with pytest.raises(DigestMismatchError):
        await store.commit_package(_manifest([wrong_b3]), actor=ACTOR)


async def test_non_canonical_manifest_bytes_are_rejected(store: ArtifactStore) -> None:
    entry = await _put(store, b"a")
    data = encode_manifest(_manifest([entry]))
    # 0xb8 LL: a map length written in the 1-byte form although it is < 24 (not shortest).
    assert data[0] & 0xE0 == 0xA0
    longer = bytes([0xB8, data[0] & 0x1F]) + data[1:]
    with pytest.raises(NonCanonicalError):
        await store.commit_package(longer, actor=ACTOR)


async def test_tags_set_move_remove(store: ArtifactStore) -> None:
    a = await _put(store, b"a")
    one = (await store.commit_package(_manifest([a], version="1"), actor=ACTOR)).package
    two = (await store.commit_package(_manifest([a], version="2"), actor=ACTOR)).package
    await store.set_tag("acme/ci/report@1", "latest", actor=ACTOR)
    assert (await store.resolve("acme/ci/report:latest")).digest == one.digest
    await store.set_tag(two.digest, "latest", actor=ACTOR)
    assert (await store.resolve("acme/ci/report:latest")).digest == two.digest
    assert [t.tag for t in await store.list_tags("acme/ci", "report")] == ["latest"]
    await store.remove_tag("acme/ci", "report", "latest", actor=ACTOR)
    with pytest.raises(TagNotFoundError):
        await store.resolve("acme/ci/report:latest")
    with pytest.raises(TagNotFoundError):
        await store.remove_tag("acme/ci", "report", "latest", actor=ACTOR)


async def test_resolve_errors(store: ArtifactStore) -> None:
    with pytest.raises(PackageNotFoundError):
        await store.resolve("acme/ci/report@9")
    with pytest.raises(InvalidRefError):
        await store.resolve("acme/ci/report")
    with pytest.raises(InvalidRefError):
        await store.resolve("../../etc@1")
    with pytest.raises(InvalidRefError):
        await store.resolve("sha256:ABC")


async def test_open_file_errors(store: ArtifactStore) -> None:
    entry = await _put(store, b"abc")
    await store.commit_package(_manifest([entry]), actor=ACTOR)
    with pytest.raises(FileNotInPackageError):
        await store.open_file("acme/ci/report@1.0", "nope")
    with pytest.raises(InvalidPathError):
        await store.open_file("acme/ci/report@1.0", "../x")
    with pytest.raises(InvalidRangeError):
        await store.open_file("acme/ci/report@1.0", "x", ByteRange.parse("bytes=10-20"))
    with pytest.raises(BlobNotFoundError):
        await store.open_blob(f"sha256:{'0' * 64}")


async def test_search_filters_and_pages(store: ArtifactStore, clock: FixedClock) -> None:
    entry = await _put(store, b"s")
    start = clock.now()
    for i in range(5):
        clock.advance(timedelta(minutes=1))
        m = _manifest([entry], version=f"{i}", name="logs" if i % 2 else "report")
        await store.commit_package(m, actor=ACTOR)
    page = await store.list_packages(PackageQuery(limit=2))
    assert [p.version for p in page.items] == ["4", "3"]
    assert page.next_cursor is not None
    rest = await store.list_packages(PackageQuery(limit=10, cursor=page.next_cursor))
    assert [p.version for p in rest.items] == ["2", "1", "0"]
    assert rest.next_cursor is None
    named = await store.list_packages(PackageQuery(prefix="acme/ci/logs"))
    assert [p.version for p in named.items] == ["3", "1"]
    assert len((await store.list_packages(PackageQuery(prefix="acme"))).items) == 5
    assert (await store.list_packages(PackageQuery(prefix="acm"))).items == []
    assert len((await store.list_packages(PackageQuery(labels={"team": "qa"}))).items) == 5
    assert (await store.list_packages(PackageQuery(labels={"team": "dev"}))).items == []
    window = await store.list_packages(
        PackageQuery(since=start + timedelta(minutes=2), until=start + timedelta(minutes=4))
    )
    assert [p.version for p in window.items] == ["2", "1"]
    assert (await store.list_packages(PackageQuery(kind="log"))).items == []


async def test_push_directory_and_pull(store: ArtifactStore, tree: Path, tmp_path: Path) -> None:
    result = await store.push_directory(
        tree,
        namespace="acme/ci",
        name="report",
        version="1.0",
        kind="report",
        tags=["latest"],
        actor=ACTOR,
    )
    assert result.created
    assert result.package.tags == ("latest",)
    again = await store.push_directory(
        tree, namespace="acme/ci", name="report", version="1.0", kind="report", actor=ACTOR
    )
    assert not again.created
    assert again.package.digest == result.package.digest
    dest = tmp_path / "out"
    await store.pull("acme/ci/report:latest", dest)
    for path in sorted(tree.rglob("*")):  # noqa: ASYNC240 - test-side check
        if path.is_file():
            twin = dest / path.relative_to(tree)
            assert twin.read_bytes() == path.read_bytes()
            assert (twin.stat().st_mode & 0o100) == (path.stat().st_mode & 0o100)


async def test_push_changed_tree_conflicts_and_changes_nothing(
    store: ArtifactStore, tree: Path
) -> None:
    await store.push_directory(
        tree, namespace="acme/ci", name="report", version="1.0", kind="report", actor=ACTOR
    )
    before = await store.dump_views()
    make_tree(tree, {"extra.txt": b"new"})
    with pytest.raises(VersionConflictError):
        await store.push_directory(
            tree, namespace="acme/ci", name="report", version="1.0", kind="report", actor=ACTOR
        )
    assert await store.dump_views() == before
    assert await store.missing_blobs([f"sha256:{hashlib.sha256(b'new').hexdigest()}"])


async def test_events_are_chained_and_ordered(store: ArtifactStore) -> None:
    entry = await _put(store, b"e")
    await store.commit_package(_manifest([entry]), actor=ACTOR)
    events = await store.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == [
        "blob.stored",
        "namespace.created",
        "blob.stored",
        "package.committed",
    ]
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert all(e.actor == ACTOR for e in events)
    assert await store.events(after=2, limit=1) == events[2:3]


async def test_rebuild_views_equals_live(store: ArtifactStore, tree: Path) -> None:
    await store.push_directory(
        tree,
        namespace="acme/ci",
        name="report",
        version="1.0",
        kind="report",
        labels={"k": "v"},
        tags=["a", "b"],
        actor=ACTOR,
    )
    await store.remove_tag("acme/ci", "report", "a", actor=ACTOR)
    await store.verify(deep=True)
    live = await store.dump_views()
    report = await store.rebuild_views()
    assert report.events == await store.head()
    assert await store.dump_views() == live


async def test_wait_events_returns_when_one_arrives(store: ArtifactStore) -> None:
    import asyncio

    waiter = asyncio.create_task(store.wait_events(after=0, wait=10))
    await asyncio.sleep(0.05)
    await store.put_blob(_chunks(b"wake"), actor=ACTOR)
    got = await asyncio.wait_for(waiter, 5)
    assert [e.type for e in got] == ["blob.stored"]
    assert await store.wait_events(after=1, wait=0.01) == []
