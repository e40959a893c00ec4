"""The worker side of a shared replay (``catalog.replay_worker``), in this process.

A window's chain check starts from the hash column of the event before it; the folded writes
travel between processes as bytes (``replay.pack``) and must come back equal; the worker's own
dialect, built from a name, must bind rows exactly as the engine's dialect does. The two
processes together are exercised in ``tests/integration/test_rebuild_shared.py``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Dialect, text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.test_events_catalogue import SAMPLES

from artifact_store.catalog import replay_worker
from artifact_store.catalog.ops import Op
from artifact_store.catalog.replay import Steps, pack, unpack
from artifact_store.catalog.replay_worker import Broken, LogRow, fold, start
from artifact_store.ledger.chain import GENESIS, ChainState, link_hash
from artifact_store.ledger.codec import encode_body
from artifact_store.ledger.events import Payload

T0 = datetime(2026, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC)
SPECS = pytest.mark.parametrize("spec", ["sqlite+aiosqlite", "postgresql+asyncpg"])


def chain(payloads: list[Payload]) -> list[LogRow]:
    """A valid log of ``payloads``, hash chain and all."""
    rows: list[LogRow] = []
    prev = GENESIS
    for seq, payload in enumerate(payloads, start=1):
        at = T0 + timedelta(seconds=seq, microseconds=seq * 7)
        body = encode_body(seq=seq, id=uuid.uuid4(), time=at, actor="ci-bot", payload=payload)
        digest = link_hash(prev, body)
        rows.append((seq, body, prev, digest))
        prev = digest
    return rows


def engine_dialect(spec: str) -> Dialect:
    url = "sqlite+aiosqlite://" if spec.startswith("sqlite") else "postgresql+asyncpg://u@h/d"
    return create_async_engine(url).dialect


def plain(steps: Steps) -> list[object]:
    return [
        (step.kind, step.table.name, step.values, step.key)
        if isinstance(step, Op)
        else (step.kind, step.table.name, step.rows)
        for step in steps
    ]


LOG = chain(list(SAMPLES) * 2)


def test_a_window_starts_from_the_hash_column_of_the_event_before_it() -> None:
    begun = start(LOG[4:9], 5)
    assert not isinstance(begun, Broken)
    state, rows = begun
    assert (state.seq, state.hash) == (5, LOG[4][3])
    assert list(rows) == LOG[5:9]
    assert start(LOG[:3], 0) == (ChainState(), LOG[:3])


def test_a_missing_first_row_is_a_gap_named_by_the_row_found() -> None:
    assert start(LOG[5:9], 5) == Broken(6, "expected seq 5, found seq 6 (a gap or reordering)")


@SPECS
def test_windows_folded_apart_check_the_whole_chain(spec: str) -> None:
    dialect = engine_dialect(spec)
    for after in range(0, len(LOG), 4):
        begun = start(LOG[max(after - 1, 0) : after + 4], after)
        assert not isinstance(begun, Broken)
        assert not isinstance(fold(begun[1], begun[0], dialect), Broken)
    altered = list(LOG)
    seq, body, prev, digest = altered[6]
    altered[6] = (seq, body + b"\x00", prev, digest)
    begun = start(altered[3:9], 4)
    assert not isinstance(begun, Broken)
    broken = fold(begun[1], begun[0], dialect)
    assert isinstance(broken, Broken)
    assert broken.seq == 7
    assert "altered" in broken.reason


@SPECS
def test_the_workers_dialect_binds_as_the_engines_does(spec: str) -> None:
    ours = fold(LOG, ChainState(), replay_worker._dialect(spec))
    theirs = fold(LOG, ChainState(), engine_dialect(spec))
    assert not isinstance(ours, Broken)
    assert not isinstance(theirs, Broken)
    assert plain(ours) == plain(theirs)
    assert replay_worker.dialect_spec(engine_dialect(spec)) == spec


@SPECS
def test_packed_steps_come_back_equal(spec: str) -> None:
    steps = fold(LOG, ChainState(), engine_dialect(spec))
    assert not isinstance(steps, Broken)
    assert any(isinstance(step, Op) for step in steps)  # pending operations travel too
    packed = pack(steps)
    # SQLite rows are marshalled; PostgreSQL's hold datetimes and are pickled.
    assert packed[:1] == (b"M" if spec.startswith("sqlite") else b"P")
    assert plain(unpack(packed)) == plain(steps)
    assert unpack(pack([])) == []


@SPECS
def test_fold_columns_is_fold_of_the_rows(spec: str) -> None:
    columns = list(zip(*LOG[2:10], strict=True))
    packed = replay_worker.fold_columns(spec, columns, 3)
    assert isinstance(packed, bytes)
    expected = fold(LOG[3:10], ChainState(3, LOG[2][3]), engine_dialect(spec))
    assert not isinstance(expected, Broken)
    assert plain(unpack(packed)) == plain(expected)


async def test_fold_file_reads_its_window_from_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("CREATE TABLE events (seq INTEGER, body BLOB, prev_hash BLOB, hash BLOB)")
            )
            await conn.execute(
                text("INSERT INTO events VALUES (:s, :b, :p, :h)"),
                [{"s": s, "b": b, "p": p, "h": h} for s, b, p, h in LOG],
            )
    finally:
        await engine.dispose()
    spec = "sqlite+aiosqlite"
    packed = replay_worker.fold_file(spec, str(path), 3, 9)
    assert isinstance(packed, bytes)
    same = replay_worker.fold_columns(spec, list(zip(*LOG[2:9], strict=True)), 3)
    assert isinstance(same, bytes)
    assert plain(unpack(packed)) == plain(unpack(same))
