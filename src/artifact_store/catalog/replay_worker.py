"""The replay's second process: it checks and folds windows of the log while the writer writes.

A rebuild of a long log (``rebuild.py``) cuts it into windows of consecutive seqs. A window can
be checked and folded on its own: its chain check starts from the hash *column* of the event
just before it, and that column is itself checked by the window before. So every link of the
chain is still checked exactly once, whichever process folds which window.

The worker is a fresh interpreter running :func:`serve`, which answers calls sent over its
stdin on its stdout, in order, as length-prefixed pickles (a plain subprocess rather than
``multiprocessing``, which would re-import the caller's ``__main__`` module in the child). On
SQLite over a file the worker reads its windows itself, through its own read-only connection
(WAL lets it read beside the writer's open transaction; the writer holds the write lock, so the
log cannot grow meanwhile); otherwise the writer reads the rows and hands them over. The folded
writes come back packed (``replay.pack``).
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Dialect
from sqlalchemy.engine import make_url

from artifact_store.catalog.replay import Steps, Window, pack
from artifact_store.ledger.chain import ChainState
from artifact_store.ledger.log import READ_ROWS_SQL

__all__ = [
    "FRAME_HEADER",
    "Broken",
    "LogRow",
    "dialect_spec",
    "fold",
    "fold_columns",
    "fold_file",
    "fold_into",
    "frame",
    "serve",
    "start",
]

#: ``(seq, body, prev_hash, hash)``: one row of the log.
type LogRow = tuple[int, bytes, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Broken:
    """Where and why the chain breaks (the writer raises ``ChainBrokenError`` with it)."""

    seq: int
    reason: str


def start(rows: Sequence[LogRow], after: int) -> tuple[ChainState, Sequence[LogRow]] | Broken:
    """The chain state after event ``after`` and the window's own rows, given the rows read from
    seq ``after`` on (that event's row first; none when ``after`` is 0, the genesis)."""
    if after == 0:
        return ChainState(), rows
    if not rows or rows[0][0] != after:  # named by the row found, as ChainState does
        found = rows[0][0] if rows else after
        return Broken(found, f"expected seq {after}, found seq {found} (a gap or reordering)")
    return ChainState(after, rows[0][3]), rows[1:]


def fold_into(window: Window, chain: ChainState, rows: Sequence[LogRow]) -> Broken | None:
    """Check ``rows`` against ``chain`` (advancing it) and fold them into ``window``; say
    where the chain breaks, if it does. Both processes of a replay fold with this."""
    add, advance = window.add, chain.advance
    for seq, body, prev_hash, hash_ in rows:
        reason = advance(seq, body, prev_hash, hash_)
        if reason is not None:
            return Broken(seq, reason)
        add(seq, body, prev_hash, hash_)
    return None


def fold(rows: Sequence[LogRow], chain: ChainState, dialect: Dialect) -> Steps | Broken:
    """Check ``rows`` against ``chain`` and fold them into one window's writes."""
    window = Window(dialect)
    return fold_into(window, chain, rows) or window.take()


def dialect_spec(dialect: Dialect) -> str:
    """What names ``dialect`` for the worker, which builds its own (``sqlite+aiosqlite``)."""
    return f"{dialect.name}+{dialect.driver}"


_DIALECTS: dict[str, Dialect] = {}
_READERS: dict[str, sqlite3.Connection] = {}


def _dialect(spec: str) -> Dialect:
    dialect = _DIALECTS.get(spec)
    if dialect is None:
        dialect = _DIALECTS[spec] = make_url(f"{spec}://").get_dialect()()
    return dialect


def fold_columns(
    spec: str, columns: Sequence[Sequence[int] | Sequence[bytes]], after: int
) -> bytes | Broken:
    """Fold the rows the writer read from seq ``after`` on (see :func:`start`), handed over
    as their four columns."""
    rows: list[LogRow] = list(zip(*columns, strict=True))
    return _fold_rows(spec, rows, after)


def _fold_rows(spec: str, rows: Sequence[LogRow], after: int) -> bytes | Broken:
    begun = start(rows, after)
    if isinstance(begun, Broken):
        return begun
    chain, window_rows = begun
    steps = fold(window_rows, chain, _dialect(spec))
    return steps if isinstance(steps, Broken) else pack(steps)


def fold_file(spec: str, path: str, after: int, last: int) -> bytes | Broken:
    """Read the events ``after``..``last`` from the SQLite file at ``path`` and fold them."""
    reader = _READERS.get(path)
    if reader is None:
        uri = f"{Path(path).absolute().as_uri()}?mode=ro"
        reader = _READERS[path] = sqlite3.connect(uri, uri=True)
    first = max(after - 1, 0)
    rows = reader.execute(READ_ROWS_SQL, {"after": first, "limit": last - first}).fetchall()
    return _fold_rows(spec, rows, after)


#: A frame is its length (8 bytes, big-endian) and a pickle.
FRAME_HEADER = struct.Struct(">Q")
#: Calls the worker answers, by name.
_CALLS: dict[str, Callable[..., object]] = {"fold_file": fold_file, "fold_columns": fold_columns}


def frame(value: object) -> bytes:
    """``value`` as one frame."""
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return FRAME_HEADER.pack(len(data)) + data


def _receive(stream: BinaryIO) -> Any:  # noqa: ANN401 - a call
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None  # the writer closed our stdin: done
    (size,) = FRAME_HEADER.unpack(header)
    return pickle.loads(stream.read(size))  # noqa: S301 - the parent process's own frames


def serve(spec: str) -> None:
    """The worker's main loop: say it is ready, then answer ``(name, args)`` calls with
    ``("ok", result)`` or ``("error", exception)``, in order, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _dialect(spec)  # built before saying ready, so the first window does not wait for it
    stdout.write(frame(("ok", None)))
    stdout.flush()
    while (call := _receive(stdin)) is not None:
        name, args = call
        try:
            answer: tuple[str, object] = ("ok", _CALLS[name](*args))
        except Exception as exc:
            answer = ("error", exc)
        stdout.write(frame(answer))
        stdout.flush()
    # Nothing to tear down (a read-only connection, memory): skip the interpreter's own
    # teardown, which the writer would wait for.
    os._exit(0)
