"""Row operations on view tables, and their executor (one-by-one or batched).

Projections (``projections.py``) are pure: an event becomes a list of :class:`Op` values. The
executor turns runs of alike operations (same kind, table and columns) into one multi-row
statement, so the live path (a package commit with thousands of files) and a full replay of the
log both cost a handful of round trips instead of one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from sqlalchemy import (
    Dialect,
    Select,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from artifact_store.ledger.schema import metadata

__all__ = ["Op", "Plan", "bind_processor", "execute", "plan_for"]

type OpKind = Literal["insert", "upsert", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Op:
    """One row operation.

    - ``insert``: ``values`` is the row.
    - ``upsert``: ``values`` is the row; on a clash of ``key`` columns the other columns update.
    - ``update``: rows matching ``key`` get ``values``.
    - ``delete``: rows matching ``key`` go.
    """

    kind: OpKind
    table: Table
    values: dict[str, Any]
    key: tuple[str, ...] = ()

    def shape(self) -> tuple[OpKind, str, tuple[str, ...], tuple[str, ...]]:
        """Operations of the same shape run as one multi-row statement."""
        return self.kind, self.table.name, tuple(self.values), self.key

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by table name (a Table drags its whole MetaData along): the replay's worker
        # process hands its operations back to the writer this way.
        return _op_on, (self.kind, self.table.name, self.values, self.key)


def _op_on(kind: OpKind, table: str, values: dict[str, Any], key: tuple[str, ...]) -> Op:
    """An unpickled :class:`Op` (its table looked up by name)."""
    return Op(kind, metadata.tables[table], values, key)


def _statement(op: Op, dialect: str, *, arrays: bool = False) -> Any:  # noqa: ANN401
    """The SQLAlchemy statement of ``op``'s shape. With ``arrays`` (PostgreSQL; inserts and
    upserts), each parameter is an array of one column's values and the rows come from
    ``SELECT * FROM unnest(...)``: one statement for any number of rows."""
    table = op.table
    match op.kind:
        case "insert" | "upsert":
            ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
            if arrays:
                params = [bindparam(f"v_{c}", type_=ARRAY(table.c[c].type)) for c in op.values]
                rows: Select[Any] = select(literal_column("*")).select_from(func.unnest(*params))
                ins = ins.from_select(list(op.values), rows)
            else:
                ins = ins.values({c: bindparam(f"v_{c}") for c in op.values})
            if op.kind == "insert":
                return ins
            changing = {c: ins.excluded[c] for c in op.values if c not in op.key}
            return ins.on_conflict_do_update(index_elements=list(op.key), set_=changing)
        case "update":
            where = [table.c[k] == bindparam(f"k_{k}") for k in op.key]
            changing = {c: bindparam(f"v_{c}") for c in op.values if c not in op.key}
            return update(table).where(*where).values(changing)
        case "delete":
            return delete(table).where(*[table.c[k] == bindparam(f"k_{k}") for k in op.key])


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement compiled once for a dialect: its SQL text, and for each positional
    parameter the op field it comes from and the column type's bind processor."""

    sql: str
    fields: tuple[tuple[str, str, Callable[[Any], Any] | None], ...]

    def row(self, op: Op) -> tuple[Any, ...]:
        """The driver's parameters for ``op``."""
        values = op.values
        return tuple(
            values[name] if proc is None else proc(values[name]) for _, name, proc in self.fields
        )


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What a column of ``type_`` does to a value before the driver gets it (None: nothing)."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


_PLANS: dict[tuple[str, bool, OpKind, str, tuple[str, ...], tuple[str, ...]], Plan] = {}


def _plan(op: Op, dialect: Dialect, *, arrays: bool = False) -> Plan:
    key = (dialect.name, arrays, *op.shape())
    plan = _PLANS.get(key)
    if plan is None:
        compiled = _statement(op, dialect.name, arrays=arrays).compile(dialect=dialect)
        fields = []
        for param in compiled.positiontup or ():
            proc = bind_processor(compiled.binds[param].type, dialect)
            fields.append((param, param[2:], proc))  # "v_col" / "k_col" -> "col"
        plan = _PLANS[key] = Plan(str(compiled), tuple(fields))
    return plan


def plan_for(
    kind: OpKind,
    table: Table,
    columns: Sequence[str],
    key: tuple[str, ...],
    dialect: Dialect,
    *,
    arrays: bool = False,
) -> Plan:
    """The compiled statement for operations of this shape, its parameters in ``columns`` order,
    for callers that build the driver's rows themselves (the replay). With ``arrays``
    (PostgreSQL inserts and upserts), each parameter takes the list of one column's values."""
    plan = _plan(Op(kind, table, dict.fromkeys(columns), key), dialect, arrays=arrays)
    if tuple(name for _, name, _ in plan.fields) != tuple(columns):  # pragma: no cover
        raise RuntimeError(f"{kind} on {table.name}: parameters not in column order")
    return plan


async def execute(conn: AsyncConnection, ops: Sequence[Op]) -> None:
    """Run ``ops``, batching operations of the same shape into one ``executemany``.

    Operations are grouped by table first (a stable sort, so the order of operations on any
    one table is kept). That is safe because projections never read and the views have no
    foreign keys: operations on different tables commute. Each statement shape is compiled
    once per dialect; rows go to the driver as plain tuples through the column types' own bind
    processors, which skips SQLAlchemy's per-row parameter handling (the replay's hot path).
    """
    dialect = conn.dialect
    ordered = sorted(ops, key=lambda op: op.table.name)
    for _, run in groupby(ordered, key=Op.shape):
        batch = list(run)
        plan = _plan(batch[0], dialect)
        rows = [plan.row(op) for op in batch]
        if len(rows) == 1:
            await conn.exec_driver_sql(plan.sql, rows[0])
        else:
            await conn.exec_driver_sql(plan.sql, rows)
