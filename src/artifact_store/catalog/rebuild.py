"""Rebuild every view by replaying the log from seq 1 (blueprint invariant 3).

Runs in one write transaction: the views are emptied, then the log is read in windows of events;
each window is folded into the rows it leaves (``replay.Window``: one row per primary key, so a
tag moved a thousand times is written once) and written with one ``executemany`` per table.
Either the whole rebuild commits or nothing changes.

The replay checks the hash chain as it reads (one sha256 per event) and refuses to build views
from a broken log (``ChainBrokenError``; ``verify`` says where). Because every body is then
known to be the one that was validated on append, it is decoded without re-validation.

A long log is replayed by two processes (ADR-0015): a worker process checks and folds windows
(``replay_worker``) while this one writes the windows before them, and folds a window itself
whenever the next one to write is not back yet, so both cores stay busy from the start (the
worker needs ~0.4 s to import the library). Windows are written strictly in log order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Dialect, delete
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.catalog import replay_worker
from artifact_store.catalog.db import SQLITE_CACHE_KIB
from artifact_store.catalog.replay import Steps, Window, unpack, write
from artifact_store.catalog.replay_worker import Broken
from artifact_store.catalog.schema import VIEW_TABLES
from artifact_store.errors import ChainBrokenError, UnavailableError
from artifact_store.ledger import log
from artifact_store.ledger.chain import ChainState

__all__ = ["RebuildReport", "rebuild_views"]

logger = logging.getLogger(__name__)

#: Events folded into one window before its rows are written (one process).
WINDOW_EVENTS = 50_000
#: Logs at least this long are replayed by two processes; shorter ones would wait longer for
#: the worker to start than it saves them.
SHARED_MIN_EVENTS = 40_000
#: Events per window when two processes share the replay: small enough to keep both busy,
#: large enough that a window still folds most repeated keys.
SHARED_WINDOW_EVENTS = 10_000
#: Windows handed to the worker ahead (one folding, one queued), and windows handed out
#: ahead of the next one to write at most. The second bounds what this process folds itself
#: while the worker starts: every window it folds is one more to do besides the writes.
_WORKER_AHEAD = 2
_AHEAD_MAX = 6
#: Windows this process folds and writes first, while the worker starts.
_HEAD_START = 3
#: Events decoded between two yields to the event loop during a replay.
_YIELD_EVERY = 1000
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


async def rebuild_views(
    conn: AsyncConnection, *, batch: int | None = None, shared: bool | None = None
) -> RebuildReport:
    """Empty the views and replay the log into them, inside the caller's write transaction.

    ``batch`` is the window: events folded together before their rows are written. Larger
    windows fold more (fewer rows written) and hold more rows in memory (about 1 KiB each).
    ``shared`` says whether a worker process shares the replay (default: for logs of
    ``SHARED_MIN_EVENTS`` events and more).
    """
    started = time.perf_counter()
    # The caller's write transaction holds the log's write lock: no event is appended meanwhile.
    top = (await log.head(conn)).seq
    if shared is None:
        shared = top >= SHARED_MIN_EVENTS
    worker = None
    if shared:
        # Started first: its interpreter imports the library while the views are emptied.
        try:
            worker = await _Worker.start(conn.dialect)
        except OSError as exc:  # no interpreter to start, no processes left: go on alone
            logger.warning("replay worker not started (%s); replaying in one process", exc)
    try:
        if conn.dialect.name == "sqlite":
            # The whole replay is one transaction: keep its pages in memory instead of spilling
            # them into the WAL halfway (which made large replays slower than linear).
            await conn.exec_driver_sql(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")
        for table in VIEW_TABLES:
            await conn.execute(delete(table))
        # The replay allocates millions of small containers that all stay alive until they are
        # written; the cyclic collector would walk them again and again for nothing (it cost
        # ~40 % of the fold). It is paused for the replay and restored as it was.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if worker is None:
                count = await _replay(conn, batch or WINDOW_EVENTS)
            else:
                count = await _replay_shared(conn, top, batch or SHARED_WINDOW_EVENTS, worker)
        finally:
            if collecting:
                gc.enable()
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    except BaseException:
        if worker is not None:
            await asyncio.shield(worker.abandon())
        raise
    if worker is not None:
        await worker.stop()
    return RebuildReport(count, time.perf_counter() - started)


#: Where this library was imported from: the worker imports the same one.
_LIBRARY_ROOT = str(Path(__file__).resolve().parents[2])
#: Bytes the writer buffers from the worker's pipe before it stops reading it.
_PIPE_BUFFER = 16 * 1024 * 1024
#: What the worker's interpreter runs (``-c``; ``-m`` would import the module twice).
_WORKER_MAIN = (
    "import sys\nfrom artifact_store.catalog.replay_worker import serve\nserve(sys.argv[1])"
)


class _Worker:
    """The replay's worker process (``replay_worker.serve``), and its calls in flight.

    Calls are answered in the order they were sent; a reader task resolves their futures as
    the answers arrive, so the writer can look at ``done()`` without waiting.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._calls: deque[asyncio.Future[object]] = deque()
        self._started: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._failure: UnavailableError | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, dialect: Dialect) -> _Worker:
        """Start the worker (it imports the library, ~0.4 s, while the caller goes on)."""
        path = os.pathsep.join(p for p in (_LIBRARY_ROOT, os.environ.get("PYTHONPATH")) if p)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER_MAIN,
            replay_worker.dialect_spec(dialect),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
            limit=_PIPE_BUFFER,  # a window's answer is a few MB: read it without pausing
        )
        return cls(process)

    @property
    def ready(self) -> bool:
        """Whether it has started (a call sent before would only queue)."""
        return self._started.done()

    def call(self, name: str, *args: object) -> asyncio.Future[object]:
        """Send a call; its future resolves to the answer."""
        assert self._process.stdin is not None  # noqa: S101 - opened with a pipe
        future = asyncio.get_running_loop().create_future()
        if self._failure is not None:  # it is gone: nothing would ever answer
            _fail(future, self._failure)
            return future
        self._calls.append(future)
        self._process.stdin.write(replay_worker.frame((name, args)))
        return future

    async def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None  # noqa: S101 - opened with a pipe
        try:
            while True:
                header = await stdout.readexactly(replay_worker.FRAME_HEADER.size)
                (size,) = replay_worker.FRAME_HEADER.unpack(header)
                status, value = pickle.loads(await stdout.readexactly(size))  # noqa: S301
                # The first answer says it has started; then each answers the oldest call.
                future = self._calls.popleft() if self._started.done() else self._started
                if status == "ok":
                    future.set_result(value)
                else:
                    _fail(future, value)
        except asyncio.IncompleteReadError:
            code = await self._process.wait()
            self._failure = UnavailableError(
                f"the replay's worker process exited (code {code}); views not rebuilt"
            )
            if not self._started.done():
                _fail(self._started, self._failure)
            while self._calls:
                _fail(self._calls.popleft(), self._failure)

    async def stop(self) -> None:
        """Let it finish (it exits when its stdin closes)."""
        assert self._process.stdin is not None  # noqa: S101 - opened with a pipe
        self._process.stdin.close()
        await self._process.wait()
        await self._reader

    async def abandon(self) -> None:
        """Kill it (the replay failed or was cancelled)."""
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()
        self._reader.cancel()


def _fail(future: asyncio.Future[object], exc: BaseException) -> None:
    """Fail ``future`` without asyncio logging it if the replay stops before awaiting it (the
    first failure awaited is the one raised)."""
    future.set_exception(exc)
    future.exception()  # marks it retrieved


async def _replay_shared(conn: AsyncConnection, top: int, size: int, worker: _Worker) -> int:
    """Replay events 1..``top`` in windows of ``size`` with the worker; write them in order.

    Both processes take the lowest window nobody has taken yet: the worker as soon as fewer
    than ``_WORKER_AHEAD`` of its windows are unfinished, this process whenever the next window
    to write is not folded yet. While the worker starts, this process folds and writes the
    first ``_HEAD_START`` windows, and the worker's first windows are the ones after those.
    Folded windows wait in ``ready`` for their turn; no window is taken more than
    ``_AHEAD_MAX`` ahead of the next one to write, which bounds that memory.
    """
    spec = replay_worker.dialect_spec(conn.dialect)
    path = _sqlite_file(conn)
    bounds = [(after, min(after + size, top)) for after in range(0, top, size)]
    todo = list(range(len(bounds)))  # windows nobody has taken, in order
    ready: dict[int, Steps | Broken] = {}  # a broken window is raised in its turn, so the
    # first break in log order is the one reported, whichever process found which first
    sent: deque[tuple[int, asyncio.Future[object]]] = deque()

    async def send(index: int) -> None:
        after, last = bounds[index]
        if path is not None:
            sent.append((index, worker.call("fold_file", spec, path, after, last)))
        else:
            # As columns: a list of SQLAlchemy rows pickles four times slower.
            columns = list(zip(*await _read(conn, after, last), strict=True))
            sent.append((index, worker.call("fold_columns", spec, columns, after)))

    while len(sent) < _WORKER_AHEAD and len(todo) > _HEAD_START:
        await send(todo.pop(_HEAD_START))  # queued until it has started
    for index in range(len(bounds)):
        limit = index + _AHEAD_MAX  # windows below this may be taken now
        while True:
            while sent and sent[0][1].done():
                first, future = sent.popleft()
                ready[first] = _unpacked(future.result())
            if worker.ready:
                while len(sent) < _WORKER_AHEAD and todo and todo[0] < limit:
                    await send(todo.pop(0))
            if index in ready:
                break
            if todo and todo[0] < limit:
                taken = todo.pop(0)
                ready[taken] = await _fold_here(conn, *bounds[taken])
            else:  # nothing left to take: wait for the worker's
                first, future = sent.popleft()
                ready[first] = _unpacked(await future)
        steps = ready.pop(index)
        if isinstance(steps, Broken):
            raise _broken(steps)
        await write(conn, steps)
    return top


def _sqlite_file(conn: AsyncConnection) -> str | None:
    """The SQLite database file the worker can read by itself, if there is one."""
    url = conn.engine.url
    if conn.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return None if url.query.get("mode") == "memory" else url.database


async def _read(conn: AsyncConnection, after: int, last: int) -> Sequence[replay_worker.LogRow]:
    """The rows of events ``after``..``last`` (see ``replay_worker.start``)."""
    first = max(after - 1, 0)
    return await log.read_rows(conn, after=first, limit=last - first)


async def _fold_here(conn: AsyncConnection, after: int, last: int) -> Steps | Broken:
    """Fold the window ``(after, last]`` in this process."""
    begun = replay_worker.start(await _read(conn, after, last), after)
    if isinstance(begun, Broken):
        return begun
    chain, rows = begun
    window = await _fold(rows, chain, conn.dialect)
    return window if isinstance(window, Broken) else window.take()


def _unpacked(result: object) -> Steps | Broken:
    if isinstance(result, Broken):
        return result
    assert isinstance(result, bytes)  # noqa: S101 - what the worker's folds return
    return unpack(result)


def _broken(broken: Broken) -> ChainBrokenError:
    return ChainBrokenError(
        f"event {broken.seq}: {broken.reason}; views not rebuilt (run verify)", seq=broken.seq
    )


async def _replay(conn: AsyncConnection, window_events: int) -> int:
    """Read, fold and write one window at a time, in this process (short logs).

    Not pipelined with a thread: SQLite's ``executemany`` takes the GIL back for every row, so
    folding the next window while the driver thread writes slowed both down (measured: the
    writes took 1.5x longer than alone). Sharing the work needs a second process.
    """
    chain = ChainState()
    count = 0
    after = 0
    while rows := await log.read_rows(conn, after=after, limit=window_events):
        window = await _fold(rows, chain, conn.dialect)
        if isinstance(window, Broken):
            raise _broken(window)
        await window.flush(conn)
        count += len(rows)
        after = rows[-1][0]
    return count


async def _fold(
    rows: Sequence[tuple[int, bytes, bytes, bytes]], chain: ChainState, dialect: Dialect
) -> Window | Broken:
    """Check the chain over ``rows`` and fold them into a window (or say where the chain
    breaks); yields to the loop now and then so that a long replay does not starve the server's
    other tasks."""
    window = Window(dialect)
    for start in range(0, len(rows), _YIELD_EVERY):
        broken = replay_worker.fold_into(window, chain, rows[start : start + _YIELD_EVERY])
        if broken is not None:
            return broken
        await asyncio.sleep(0)
    return window
