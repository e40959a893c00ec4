"""``verify`` finds tampering: a flipped byte in a stored blob, an altered event row."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from artifact_store.store import ArtifactStore

ACTOR = "tester"


def _blob_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256


def _flip_byte(path: Path, offset: int = 0) -> None:
    path.chmod(0o644)
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


async def _push_two(store: ArtifactStore, tree: Path) -> None:
    for version in ("1.0", "2.0"):
        await store.push_directory(
            tree,
            namespace="acme/ci",
            name="report",
            version=version,
            kind="report",
            labels={"v": version},
            actor=ACTOR,
        )


async def test_flipped_byte_names_blob_and_every_package(
    local_store: ArtifactStore, tree: Path, tmp_path: Path
) -> None:
    await _push_two(local_store, tree)
    content = (tree / "README.md").read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    assert (await local_store.verify(deep=True)).ok
    _flip_byte(_blob_path(tmp_path / "data", sha256))

    shallow = await local_store.verify()
    assert shallow.ok  # same size: only re-hashing can tell
    report = await local_store.verify(deep=True)
    assert not report.ok
    (problem,) = report.problems
    assert problem.kind == "blob"
    assert problem.subject == f"sha256:{sha256}"
    assert problem.packages == ("acme/ci/report@1.0", "acme/ci/report@2.0")


async def test_missing_blob_file_is_reported(
    local_store: ArtifactStore, tree: Path, tmp_path: Path
) -> None:
    await _push_two(local_store, tree)
    sha256 = hashlib.sha256((tree / "empty.txt").read_bytes()).hexdigest()
    _blob_path(tmp_path / "data", sha256).unlink()
    report = await local_store.verify()
    assert [p.subject for p in report.problems] == [f"sha256:{sha256}"]
    assert "missing" in report.problems[0].detail


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", "x'00'"),
        ("hash", "x'" + "11" * 32 + "'"),
        ("prev_hash", "x'" + "22" * 32 + "'"),
        ("actor", "'mallory'"),
        ("type", "'tag.removed'"),
        ("namespace", "'evil/ns'"),
    ],
)
async def test_altered_event_row_names_first_broken_link(
    store: ArtifactStore, tree: Path, database_url: str, column: str, value: str
) -> None:
    await _push_two(store, tree)
    total = await store.head()
    assert (await store.verify()).ok
    target = 3
    if database_url.startswith("postgresql"):
        value = value.replace("x'", "'\\x") if value.startswith("x'") else value
        value = value + "::bytea" if column in {"body", "hash", "prev_hash"} else value
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"UPDATE events SET {column} = {value} WHERE seq = {target}"))
    finally:
        await engine.dispose()
    report = await store.verify()
    assert not report.ok
    chain = [p for p in report.problems if p.kind == "chain"]
    assert chain[0].subject == f"event {target}", chain
    assert report.events == target - 1 < total


async def test_deleted_event_row_breaks_the_chain(
    store: ArtifactStore, tree: Path, database_url: str
) -> None:
    await _push_two(store, tree)
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM events WHERE seq = 2"))
    finally:
        await engine.dispose()
    report = await store.verify()
    assert [p.subject for p in report.problems if p.kind == "chain"] == ["event 3"]


async def test_rebuild_refuses_a_broken_chain_and_changes_nothing(
    store: ArtifactStore, tree: Path, database_url: str
) -> None:
    from artifact_store.errors import ChainBrokenError

    await _push_two(store, tree)
    live = await store.dump_views()
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE events SET actor = 'mallory' WHERE seq = 4"))
            await conn.execute(text("UPDATE events SET hash = prev_hash WHERE seq = 2"))
    finally:
        await engine.dispose()
    with pytest.raises(ChainBrokenError) as caught:
        await store.rebuild_views()
    assert caught.value.extra["seq"] == 2
    assert await store.dump_views() == live
