"""``open_blobstore``: URL schemes to backends."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifact_store.blobstore.layout import BLOB_PREFIX, STAGING_DIR
from artifact_store.blobstore.local import LocalBlobStore
from artifact_store.blobstore.memory import MemoryBlobStore
from artifact_store.blobstore.registry import known_schemes, open_blobstore
from artifact_store.errors import InvalidInputError
from artifact_store.kernels.limits import CHUNK_SIZE


def test_registry_opens_file_urls_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_url = open_blobstore(f"file://{tmp_path}/a")
    assert isinstance(by_url, LocalBlobStore)
    assert by_url.root == tmp_path / "a"
    assert (tmp_path / "a" / BLOB_PREFIX).is_dir()
    assert (tmp_path / "a" / STAGING_DIR).is_dir()
    by_path = open_blobstore(str(tmp_path / "b"))
    assert isinstance(by_path, LocalBlobStore)
    assert by_path.root == tmp_path / "b"
    monkeypatch.chdir(tmp_path)
    relative = open_blobstore("c")
    assert isinstance(relative, LocalBlobStore)
    assert relative.root == tmp_path / "c"
    spaced = open_blobstore(f"file://{tmp_path}/with%20space")
    assert isinstance(spaced, LocalBlobStore)
    assert spaced.root == tmp_path / "with space"


@pytest.mark.parametrize(
    ("query", "mode"),
    [
        ("", "direct"),
        ("?write=drop-behind", "drop-behind"),
        ("?write=cached", "cached"),
        ("?write=Direct", "direct"),
    ],
)
def test_file_urls_choose_the_write_mode(tmp_path: Path, query: str, mode: str) -> None:
    store = open_blobstore(f"file://{tmp_path}/a{query}")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "a"
    assert store.write == mode
    assert store.drops_behind is (mode != "cached")  # buffered writes of direct mode too


@pytest.mark.parametrize("mode", ["drop-behind", "cached"])
async def test_a_store_not_in_direct_mode_writes_large_blobs_buffered(
    tmp_path: Path, mode: str
) -> None:
    store = open_blobstore(f"file://{tmp_path}/a?write={mode}")
    assert isinstance(store, LocalBlobStore)
    data = os.urandom(9 * CHUNK_SIZE + 5)

    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(data), CHUNK_SIZE):
            yield data[at : at + CHUNK_SIZE]

    writer = await store.begin()
    assert not writer.start_direct_locked()  # the store says no before the filesystem is asked
    await writer.abort()
    result = await store.put(chunks())
    assert b"".join([c async for c in store.open(result.digests.sha256)]) == data
    await store.close()


def test_registry_opens_memory() -> None:
    first, second = open_blobstore("memory://"), open_blobstore("memory://")
    assert isinstance(first, MemoryBlobStore)
    assert first is not second


def test_registry_rejects_unknown_schemes() -> None:
    with pytest.raises(InvalidInputError) as caught:
        open_blobstore("ftp://example.com/x")
    assert caught.value.extra["known"] == known_schemes() == ["file", "memory"]
    assert "file, memory" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "  ",
        "file://host/dir",
        "file:relative/dir",
        "file:///x?y=1",
        "file:///x#frag",
        "file:///x?write=maybe",
        "file:///x?write=cached&write=direct",
        "file:///x?write=cached&other=1",
        "file:///x?write",
        "file:///x?direct_io=off",
        "file:///x?=",
        "memory://x",
    ],
)
def test_registry_rejects_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidInputError):
        open_blobstore(url)
