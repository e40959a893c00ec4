"""Rebuild every view by replaying the log from seq 1 (blueprint invariant 3).

Runs in one write transaction: the views are emptied, each batch of events is decoded and
projected, and the operations of the whole batch run through the batching executor, so a replay
costs a few statements per thousand events. Either the whole rebuild commits or nothing changes.

The replay checks the hash chain as it reads (one sha256 per event) and refuses to build views
from a broken log (``ChainBrokenError``; ``verify`` says where). Because every body is then
known to be the one that was validated on append, it is decoded without re-validation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.catalog.db import SQLITE_CACHE_KIB
from artifact_store.catalog.ops import Op, execute
from artifact_store.catalog.projections import project
from artifact_store.catalog.schema import VIEW_TABLES
from artifact_store.errors import ChainBrokenError
from artifact_store.ledger import log
from artifact_store.ledger.chain import ChainLink, ChainState

__all__ = ["RebuildReport", "rebuild_views"]

#: Events decoded between two yields to the event loop during a replay.
_YIELD_EVERY = 200
#: SQLite page cache for the replay's connection (KiB); the pool's default is 64 MiB.
REBUILD_CACHE_KIB = 512 * 1024


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """How many events were replayed, and how long it took."""

    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Replay throughput."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


async def rebuild_views(conn: AsyncConnection, *, batch: int = 5000) -> RebuildReport:
    """Empty the views and replay the log into them, inside the caller's write transaction.

    Pipelined: while the statements of one batch run (SQLite does its work in the driver's
    thread, outside the GIL; PostgreSQL in its own process), the next batch is decoded and
    projected, yielding to the event loop every few hundred events so the statements keep
    flowing. The connection is never used by two requests at once: the next batch is read
    before the previous batch's statements start.
    """
    started = time.perf_counter()
    if conn.dialect.name == "sqlite":
        # The whole replay is one transaction: keep its pages in memory instead of spilling
        # them into the WAL halfway (which made large replays slower than linear).
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")
    for table in VIEW_TABLES:
        await conn.execute(delete(table))
    try:
        count = await _replay(conn, batch)
    finally:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    return RebuildReport(count, time.perf_counter() - started)


async def _replay(conn: AsyncConnection, batch: int) -> int:
    chain = ChainState()
    count = 0
    rows = await log.read_rows(conn, after=0, limit=batch)
    ops = await _project(rows, chain)
    while rows:
        count += len(rows)
        following = await log.read_rows(conn, after=rows[-1][0], limit=batch)
        writing = asyncio.create_task(execute(conn, ops))
        try:
            ops = await _project(following, chain)
        finally:
            await writing
        rows = following
    return count


async def _project(rows: Sequence[tuple[int, bytes, bytes, bytes]], chain: ChainState) -> list[Op]:
    """Check the chain over ``rows`` and project them; yields to the loop now and then."""
    ops: list[Op] = []
    for index, (seq, body, prev_hash, digest) in enumerate(rows):
        broken = chain.check(ChainLink(seq, body, prev_hash, digest))
        if broken is not None:
            raise ChainBrokenError(
                f"event {seq}: {broken}; views not rebuilt (run verify)", seq=seq
            )
        ops.extend(project(log.to_event(seq, body, prev_hash, digest, trusted=True)))
        if index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
    return ops
