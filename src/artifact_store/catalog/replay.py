"""The replay's projector: trusted event bodies → final view rows, coalesced per primary key.

Theory of operation
-------------------
``projections.project`` turns one decoded ``Event`` into row operations, and the live path runs
those operations as they come. A replay of the whole log does not need every intermediate
state: a tag that moved 20,000 times needs one row, not 20,000 upserts. A :class:`Window`
therefore folds the operations of many events into, per view table, a dict from primary key to
the row as it stands after the last of them, and writes each surviving row once.

Operations on a key the window has not seen (the row, if any, was written by an earlier window)
cannot be folded: they are kept, in order, as *pending* operations. Flushing a window runs the
pending operations first and then the window's rows (``upsert`` where the table saw upserts,
plain ``insert`` otherwise). That order is right because every fold replaces or edits a whole
row by its primary key:

- an insert or upsert puts the complete row in the window, replacing what it held;
- an update of a key in the window edits that row; of a key outside it, it is pending;
- a delete removes the key from the window *and* is pending (an older row may exist in the
  database), so a re-insert after it, being a window row, lands after the delete.

Rows are kept as tuples in column order with the columns' bind processors already applied, so
writing a window is one ``executemany`` per table on SQLite and one ``INSERT … SELECT FROM
unnest(…)`` per table on PostgreSQL, with no per-row work left. ADR-0013 has the measurements.

The hottest event types (``blob.stored``, ``package.committed``, ``tag.set``, ``tag.removed``,
``namespace.created``) are folded straight from the decoded CBOR value, without building the
``Event``, payload and manifest objects; every other type goes through
``log.to_event`` and ``project`` and its operations are folded the same way. Both routes give
the rows ``project`` gives: ``tests/unit/catalog/test_replay.py`` checks them against each
other event by event, and the property tests check a rebuild against the live views table by
table.
"""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Dialect, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.catalog.ops import Op, bind_processor, execute, plan_for
from artifact_store.catalog.projections import project
from artifact_store.catalog.schema import (
    VIEW_TABLES,
    blobs,
    namespaces,
    package_files,
    package_labels,
    package_links,
    packages,
    tags,
)
from artifact_store.errors import EncodingError
from artifact_store.kernels import cbor
from artifact_store.kernels.clock import format_time
from artifact_store.ledger import log
from artifact_store.ledger.schema import UTCDateTime

__all__ = ["Steps", "Window", "pack", "unpack", "write"]

type _Key = tuple[Any, ...]
type _Row = tuple[Any, ...]
type _Handler = Callable[[int, object, str, dict[str, Any]], None]
#: A window's writes, in order (:meth:`Window.take`).
type Steps = list[Op | _Rows]

# The fast handlers below write rows as tuples in these column orders; a schema change that
# reorders or adds columns must change them too (checked when the module loads).
_ORDERS: dict[Table, tuple[str, ...]] = {
    blobs: (
        "sha256", "blake3", "size", "tier", "state", "stored_at", "stored_seq", "verified_at",
        "changed_seq",
    ),
    packages: (
        "digest", "namespace", "name", "version", "kind", "created", "producer", "labels",
        "subject", "file_count", "total_size", "committed_at", "committed_seq", "actor",
        "deleted_seq", "locked_until", "lock_mode",
    ),
    package_files: (
        "package_digest", "path", "sha256", "blake3", "size", "media_type", "executable",
    ),
    package_labels: ("package_digest", "key", "value"),
    package_links: ("package_digest", "rel", "target"),
    tags: ("namespace", "name", "tag", "target", "set_at", "set_seq"),
    namespaces: ("name", "created_at", "created_seq"),
}  # fmt: skip
for _table, _order in _ORDERS.items():
    if tuple(_table.columns.keys()) != _order:  # pragma: no cover - a schema edit without this
        raise RuntimeError(f"replay: column order of {_table.name} changed; update _ORDERS")


def _time_binder(dialect: Dialect) -> Callable[[Any], Any]:
    """The bind processor of ``UTCDateTime`` columns."""
    proc = bind_processor(UTCDateTime(), dialect)
    return proc if proc is not None else (lambda value: value)


def _sqlite_time(text: str) -> str:
    """The SQLite value of an event's RFC 3339 time text, without building a ``datetime``.

    SQLAlchemy stores a SQLite ``DATETIME`` as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, and event
    times are ``format_time`` output (``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z``, always UTC), so the
    one is a rearrangement of the other; :func:`_time_text_binder` checks that it still is.
    """
    clock, _, fraction = text[11:-1].partition(".")
    return f"{text[:10]} {clock}.{fraction:0<6}"


def _time_text_binder(dialect: Dialect) -> Callable[[str], Any]:
    """Event time text → the bound value of a ``UTCDateTime`` column.

    On SQLite the text is rearranged (:func:`_sqlite_time`: a fifth of the cost of parsing
    and formatting a ``datetime``), but only if that gives exactly what the column's own
    processor gives for a set of sample times; otherwise, and on other dialects, the text is
    parsed and bound by the processor.
    """
    generic = _time_binder(dialect)

    def parsed(text: str) -> Any:  # noqa: ANN401 - what the driver takes
        return generic(datetime.fromisoformat(text))

    if dialect.name != "sqlite":
        return parsed
    samples = (
        datetime(2026, 11, 24, 23, 1, 2, 345678, UTC),
        datetime(2026, 1, 2, 3, 4, 5, 600000, UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2030, 6, 1, 0, 0, 0, 1, UTC),
    )
    same = all(_sqlite_time(format_time(at)) == generic(at) for at in samples)
    return _sqlite_time if same else parsed


def _layout(table: Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A view table's columns in order, and its primary key's."""
    return tuple(table.columns.keys()), tuple(c.name for c in table.primary_key.columns)


class _TableFold:
    """One table's rows as they stand after the window's events: tuples in column order, the
    columns' bind processors already applied (what the driver takes)."""

    __slots__ = ("binders", "columns", "index", "key", "key_at", "rows", "table", "upsert")

    def __init__(self, table: Table, dialect: Dialect, time_binder: Callable[[Any], Any]) -> None:
        self.table = table
        self.columns, self.key = _layout(table)
        self.index = {name: i for i, name in enumerate(self.columns)}
        self.key_at = tuple(self.index[name] for name in self.key)
        self.rows: dict[_Key, _Row] = {}
        self.upsert = False
        self.binders = tuple(
            time_binder if isinstance(c.type, UTCDateTime) else bind_processor(c.type, dialect)
            for c in table.columns
        )

    def bind(self, name: str, value: Any) -> Any:  # noqa: ANN401 - a column value
        proc = self.binders[self.index[name]]
        return value if proc is None or value is None else proc(value)

    def put(self, values: dict[str, Any]) -> None:
        """Fold a complete row (Python values)."""
        row = tuple(self.bind(name, values[name]) for name in self.columns)
        self.rows[tuple(row[i] for i in self.key_at)] = row

    def update(self, key: _Key, values: dict[str, Any]) -> bool:
        """Edit the row at ``key`` if the window holds it; False if it does not."""
        row = self.rows.get(key)
        if row is None:
            return False
        edited = list(row)
        for name, value in values.items():
            edited[self.index[name]] = self.bind(name, value)
        self.rows[key] = tuple(edited)
        return True

    def take(self) -> _Rows | None:
        """The folded rows as one write, leaving the fold empty."""
        if not self.rows:
            return None
        rows = _Rows("upsert" if self.upsert else "insert", self.table, list(self.rows.values()))
        self.rows = {}
        self.upsert = False
        return rows


@dataclass(frozen=True, slots=True)
class _Rows:
    """Bound rows to insert (or upsert) into one table."""

    kind: Literal["insert", "upsert"]
    table: Table
    rows: list[_Row]

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by table name, like ``Op``: a worker process folds, the writer writes.
        return _rows_of, (self.kind, self.table.name, self.rows)

    async def run(self, conn: AsyncConnection) -> None:
        table, dialect = self.table, conn.dialect
        columns, key = _layout(table)
        if dialect.name == "postgresql" and len(self.rows) > 1:
            # One statement whose parameters are one array per column: PostgreSQL runs an
            # executemany row by row (about 30 us a row here), this in bulk.
            plan = plan_for(self.kind, table, columns, key, dialect, arrays=True)
            arrays = [list(column) for column in zip(*self.rows, strict=True)]
            await conn.exec_driver_sql(plan.sql, tuple(arrays))
            return
        plan = plan_for(self.kind, table, columns, key, dialect)
        await conn.exec_driver_sql(plan.sql, self.rows if len(self.rows) > 1 else self.rows[0])


def _rows_of(kind: Literal["insert", "upsert"], table: str, rows: list[_Row]) -> _Rows:
    """Unpickled :class:`_Rows`."""
    return _Rows(kind, _VIEWS[table], rows)


_VIEWS = {table.name: table for table in VIEW_TABLES}


class Window:
    """Folds events, in seq order, into the rows they leave; :meth:`flush` writes them."""

    def __init__(self, dialect: Dialect) -> None:
        self._bind_time = _time_text_binder(dialect)
        self._folds = {
            table.name: _TableFold(table, dialect, _time_binder(dialect)) for table in VIEW_TABLES
        }
        self._blobs = self._folds[blobs.name]
        self._packages = self._folds[packages.name]
        self._files = self._folds[package_files.name]
        self._labels = self._folds[package_labels.name]
        self._links = self._folds[package_links.name]
        self._tags = self._folds[tags.name]
        self._namespaces = self._folds[namespaces.name]
        self._executable = (
            self._files.bind("executable", False),
            self._files.bind("executable", True),
        )
        self._pending: list[Op | _Rows] = []
        self._fast: dict[str, _Handler] = {
            "blob.stored": self._blob_stored,
            "package.committed": self._package_committed,
            "tag.set": self._tag_set,
            "tag.removed": self._tag_removed,
            "namespace.created": self._namespace_created,
        }

    # -- events --------------------------------------------------------------------------------

    def add(self, seq: int, body: bytes, prev_hash: bytes, hash_: bytes) -> None:
        """Fold one event whose place in the hash chain the caller has verified.

        Raises:
            EncodingError: the body is not a v1 envelope after all.
        """
        value = cbor.decode_trusted(body)
        try:
            fast = self._fast.get(value["type"])  # type: ignore[index]
            if fast is not None:
                assert isinstance(value, dict)  # noqa: S101 - it was indexed by a str
                fast(value["seq"], self._bind_time(value["time"]), value["actor"], value["payload"])
                return
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            raise EncodingError(f"event {seq}: body is not a v1 envelope: {exc}"[:200]) from exc
        for op in project(log.to_event(seq, body, prev_hash, hash_, trusted=True)):
            self.apply(op)

    # The handlers get the event's time already bound for the driver, and must build exactly
    # the rows ``projections.project`` builds (tests/unit/test_replay.py holds them to it).

    def _blob_stored(self, seq: int, time: object, actor: str, p: dict[str, Any]) -> None:
        fold = self._blobs
        fold.upsert = True
        sha256 = p["sha256"]
        fold.rows[(sha256,)] = (
            sha256,
            p["blake3"],
            p["size"],
            "hot",
            "stored",
            time,
            seq,
            None,
            seq,
        )

    def _package_committed(self, seq: int, time: object, actor: str, p: dict[str, Any]) -> None:
        digest, m = p["digest"], p["manifest"]
        producer = m["producer"]
        files = m["files"]
        labels = m["labels"]
        version = producer.get("version")
        self._packages.rows[(digest,)] = (
            digest, m["namespace"], m["name"], m["version"], m["kind"], m["created"],
            producer["name"] if version is None else f"{producer['name']}/{version}",
            self._packages.bind("labels", dict(labels)), m.get("subject"), len(files),
            sum(f["size"] for f in files), time, seq, actor, None, None, None,
        )  # fmt: skip
        rows = self._files.rows
        executable = self._executable
        for f in files:
            path = f["path"]
            rows[(digest, path)] = (
                digest, path, f["sha256"], f["blake3"], f["size"], f["media_type"],
                executable[f.get("executable", False)],
            )  # fmt: skip
        rows = self._labels.rows
        for key, label in labels.items():
            rows[(digest, key)] = (digest, key, label)
        rows = self._links.rows
        for link in m.get("links", ()):
            rel, target = link["rel"], link["target"]
            rows[(digest, rel, target)] = (digest, rel, target)

    def _tag_set(self, seq: int, time: object, actor: str, p: dict[str, Any]) -> None:
        fold = self._tags
        fold.upsert = True
        namespace, name, tag = p["namespace"], p["name"], p["tag"]
        fold.rows[(namespace, name, tag)] = (namespace, name, tag, p["target"], time, seq)

    def _tag_removed(self, seq: int, time: object, actor: str, p: dict[str, Any]) -> None:
        key = {"namespace": p["namespace"], "name": p["name"], "tag": p["tag"]}
        self.apply(Op("delete", tags, key, ("namespace", "name", "tag")))

    def _namespace_created(self, seq: int, time: object, actor: str, p: dict[str, Any]) -> None:
        name = p["namespace"]
        self._namespaces.rows[(name,)] = (name, time, seq)

    # -- operations ----------------------------------------------------------------------------

    def apply(self, op: Op) -> None:
        """Fold one row operation (see the module docstring for the rules)."""
        fold = self._folds[op.table.name]
        if op.kind in ("insert", "upsert") and len(op.values) == len(fold.columns):
            fold.upsert = fold.upsert or op.kind == "upsert"
            fold.put(op.values)
        elif op.kind in ("insert", "upsert") or op.key != fold.key:
            # A partial row, or not addressed by primary key: nothing folds across it.
            self._barrier()
            self._pending.append(op)
        elif op.kind == "update":
            if not fold.update(tuple(op.values[c] for c in fold.key), op.values):
                self._pending.append(op)
        else:  # delete
            fold.rows.pop(tuple(op.values[c] for c in fold.key), None)
            self._pending.append(op)

    def _barrier(self) -> None:
        """Turn every folded row into a pending write, in order, and start afresh."""
        for fold in self._folds.values():
            if (rows := fold.take()) is not None:
                self._pending.append(rows)

    def take(self) -> Steps:
        """The window's writes, in order (pending ones first), leaving it empty. They pickle,
        so a worker process can fold while the writer writes."""
        self._barrier()
        steps, self._pending = self._pending, []
        return steps

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the window: its pending writes in order, then its rows; it is then empty."""
        await write(conn, self.take())


def pack(steps: Steps) -> bytes:
    """``steps`` as bytes for the trip from the worker process to the writer.

    SQLite rows are plain ``str``/``int``/``None`` tuples, which ``marshal`` writes three times
    faster than ``pickle`` (and reads a third faster); rows holding other values (PostgreSQL's
    ``datetime``) and the rare pending operations are pickled. Only our own worker's bytes are
    ever unpacked.
    """
    plain = [
        (step.kind, str(step.table.name), step.rows)
        if isinstance(step, _Rows)
        else pickle.dumps(step, pickle.HIGHEST_PROTOCOL)
        for step in steps
    ]
    try:
        return b"M" + marshal.dumps(plain)
    except ValueError:  # a value marshal does not know
        return b"P" + pickle.dumps(steps, pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> Steps:
    """The steps :func:`pack` packed."""
    if data[:1] == b"P":
        steps: Steps = pickle.loads(data[1:])  # noqa: S301 - our own worker's bytes
        return steps
    return [
        pickle.loads(item) if isinstance(item, bytes) else _Rows(item[0], _VIEWS[item[1]], item[2])  # noqa: S301
        for item in marshal.loads(data[1:])  # noqa: S302 - our own worker's bytes
    ]


async def write(conn: AsyncConnection, steps: Steps) -> None:
    """Run a window's writes (:meth:`Window.take`) in order."""
    run: list[Op] = []
    for step in steps:
        if isinstance(step, Op):
            run.append(step)
            continue
        if run:
            await execute(conn, run)
            run = []
        await step.run(conn)
    if run:
        await execute(conn, run)
