"""The replay shared with a worker process (ADR-0015), on SQLite and PostgreSQL.

Long logs are replayed by two processes: a spawned worker folds windows (reading them itself
from a SQLite file, or handed the rows by the writer) while the writer writes and folds windows
itself when the next one is late. The views must come out exactly as the live ones, whoever
folded which window; a broken chain anywhere, window boundaries included, refuses the rebuild
and changes nothing.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import cbor2
import pytest
from sqlalchemy import Dialect, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from tests.conftest import make_tree
from tests.unit.catalog.test_replay_worker import chain

from artifact_store.catalog import rebuild, replay_worker
from artifact_store.catalog.rebuild import rebuild_views
from artifact_store.catalog.replay import Steps
from artifact_store.catalog.replay_worker import Broken
from artifact_store.config import StoreConfig
from artifact_store.errors import ChainBrokenError, EncodingError, UnavailableError
from artifact_store.kernels.clock import FixedClock
from artifact_store.ledger.chain import GENESIS, link_hash
from artifact_store.ledger.events import NamespaceCreated
from artifact_store.store import ArtifactStore, open_store

ACTOR = "tester"


@pytest.fixture
async def busy(database_url: str, tmp_path: Path) -> AsyncIterator[ArtifactStore]:
    """A store with a history of every kind the store writes today: blobs, packages (labels,
    links), tags set, moved and removed, and blob verifications (partial row updates)."""
    config = StoreConfig(database_url=database_url, blobstore_url="memory://", create=True)
    store = await open_store(config, clock=FixedClock())
    try:
        for n in range(6):
            tree = make_tree(
                tmp_path / f"t{n}", {"a.txt": b"shared", f"n{n}.bin": bytes([n]) * (n + 1)}
            )
            await store.push_directory(
                tree,
                namespace=f"acme/team{n % 2}",
                name="report",
                version=f"1.{n}",
                kind="report",
                labels={"build": str(n)},
                tags=["latest"] if n % 3 else ["latest", "stable"],
                actor=ACTOR,
            )
            if n == 3:
                await store.remove_tag("acme/team1", "report", "stable", actor=ACTOR)
                await store.verify(deep=True)
        await store.set_tag("acme/team0/report@1.0", "pinned", actor=ACTOR)
        await store.verify(deep=True)
        yield store
    finally:
        await store.close()


@pytest.fixture
def folds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the windows folded by the worker and here. The worker is waited for when it
    starts, so that it takes windows even from a log this short."""
    counts: Counter[str] = Counter()
    start, unpacked, fold_here = rebuild._Worker.start, rebuild._unpacked, rebuild._fold_here

    async def started(dialect: Dialect) -> rebuild._Worker:
        worker = await start(dialect)
        await asyncio.wait_for(worker._started, 60)
        return worker

    def from_worker(result: object) -> Steps | Broken:
        counts["worker"] += 1
        return unpacked(result)

    async def here(conn: AsyncConnection, after: int, last: int) -> Steps | Broken:
        counts["here"] += 1
        return await fold_here(conn, after, last)

    monkeypatch.setattr(rebuild._Worker, "start", started)
    monkeypatch.setattr(rebuild, "_unpacked", from_worker)
    monkeypatch.setattr(rebuild, "_fold_here", here)
    return counts


@pytest.mark.parametrize("window", [1, 3, 8])
async def test_shared_replay_equals_live_views(
    busy: ArtifactStore, folds: Counter[str], window: int
) -> None:
    live = await busy.dump_views()
    async with busy._db.write() as conn:
        report = await rebuild_views(conn, batch=window, shared=True)
    assert report.events == await busy.head()
    assert await busy.dump_views() == live
    windows = -(-report.events // window)
    assert folds["worker"] > 0
    assert folds["here"] > 0
    assert folds["worker"] + folds["here"] == windows


async def test_long_logs_share_the_replay_by_default(
    busy: ArtifactStore, folds: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await busy.dump_views()
    monkeypatch.setattr(rebuild, "SHARED_MIN_EVENTS", 1)
    monkeypatch.setattr(rebuild, "SHARED_WINDOW_EVENTS", 4)
    report = await busy.rebuild_views()
    assert folds["worker"] > 0
    assert report.events == await busy.head()
    assert await busy.dump_views() == live


async def test_short_logs_replay_in_one_process(busy: ArtifactStore, folds: Counter[str]) -> None:
    live = await busy.dump_views()
    await busy.rebuild_views()
    assert folds == Counter()
    assert await busy.dump_views() == live


async def _tamper(database_url: str, *statements: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("statement", "seq", "reason"),
    [
        # an altered body in the middle of a window
        (
            "UPDATE events SET body = (SELECT body FROM events WHERE seq = 7) WHERE seq = 8",
            8,
            "hash",
        ),
        # a row gone at a window boundary (windows of 3: seq 9 ends one)
        ("DELETE FROM events WHERE seq = 9", 10, "expected seq 9, found seq 10"),
        # a hash column rewritten where the next window starts its check
        ("UPDATE events SET hash = prev_hash WHERE seq = 12", 12, "hash"),
    ],
)
@pytest.mark.usefixtures("folds")
async def test_shared_replay_refuses_a_broken_chain_and_changes_nothing(
    busy: ArtifactStore,
    database_url: str,
    statement: str,
    seq: int,
    reason: str,
) -> None:
    live = await busy.dump_views()
    await _tamper(database_url, statement)
    with pytest.raises(ChainBrokenError) as caught:
        async with busy._db.write() as conn:
            await rebuild_views(conn, batch=3, shared=True)
    assert caught.value.extra["seq"] == seq
    assert reason in str(caught.value)
    assert await busy.dump_views() == live


async def test_a_worker_that_dies_fails_the_rebuild_and_changes_nothing(
    busy: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await busy.dump_views()
    monkeypatch.setattr(rebuild, "_WORKER_MAIN", "import sys\nsys.exit(3)")
    with pytest.raises(UnavailableError, match=r"worker process exited \(code 3\)"):
        async with busy._db.write() as conn:
            await rebuild_views(conn, batch=2, shared=True)
    assert await busy.dump_views() == live


async def test_without_a_worker_the_replay_goes_on_in_one_process(
    busy: ArtifactStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    live = await busy.dump_views()
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    async with busy._db.write() as conn:
        report = await rebuild_views(conn, batch=2, shared=True)
    assert report.events == await busy.head()
    assert await busy.dump_views() == live
    assert "replaying in one process" in caplog.text


async def test_the_worker_answers_in_order_and_raises_what_its_calls_raise() -> None:
    dialect = create_async_engine("sqlite+aiosqlite://").dialect
    spec = replay_worker.dialect_spec(dialect)
    good = chain([NamespaceCreated(namespace="acme")] * 3)
    body = cbor2.dumps({"type": "blob.stored"})
    bad = [(1, body, GENESIS, link_hash(GENESIS, body))]
    worker = await rebuild._Worker.start(dialect)
    try:
        first = worker.call("fold_columns", spec, list(zip(*good, strict=True)), 0)
        failing = worker.call("fold_columns", spec, list(zip(*bad, strict=True)), 0)
        broken = worker.call("fold_columns", spec, list(zip(*good[1:], strict=True)), 0)
        assert isinstance(await first, bytes)
        with pytest.raises(EncodingError, match="not a v1 envelope"):
            await failing
        assert await broken == Broken(2, "expected seq 1, found seq 2 (a gap or reordering)")
    finally:
        await worker.stop()
