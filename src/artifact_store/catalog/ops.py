"""Row operations on view tables, and their executor (one-by-one or batched).

Projections (``projections.py``) are pure: an event becomes a list of :class:`Op` values. The
executor turns runs of alike operations (same kind, table and columns) into one multi-row
statement, so the live path (a package commit with thousands of files) and a full replay of the
log both cost a handful of round trips instead of one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Op", "execute"]

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


def _statement(op: Op, dialect: str) -> Any:  # noqa: ANN401 - a SQLAlchemy executable
    table = op.table
    match op.kind:
        case "insert":
            return insert(table)
        case "upsert":
            ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
            changing = {c: ins.excluded[c] for c in op.values if c not in op.key}
            return ins.on_conflict_do_update(index_elements=list(op.key), set_=changing)
        case "update":
            where = [table.c[k] == bindparam(f"k_{k}") for k in op.key]
            changing = {c: bindparam(f"v_{c}") for c in op.values if c not in op.key}
            return update(table).where(*where).values(changing)
        case "delete":
            return delete(table).where(*[table.c[k] == bindparam(f"k_{k}") for k in op.key])


def _params(op: Op) -> dict[str, Any]:
    if op.kind in ("insert", "upsert"):
        return op.values
    params = {f"k_{k}": op.values[k] for k in op.key}
    if op.kind == "update":
        params |= {f"v_{c}": v for c, v in op.values.items() if c not in op.key}
    return params


async def execute(conn: AsyncConnection, ops: Sequence[Op]) -> None:
    """Run ``ops``, batching operations of the same shape.

    Operations are grouped by table first (a stable sort, so the order of operations on any
    one table is kept). That is safe because projections never read and the views have no
    foreign keys: operations on different tables commute.
    """
    dialect = conn.dialect.name
    ordered = sorted(ops, key=lambda op: op.table.name)
    for _, run in groupby(ordered, key=Op.shape):
        batch = list(run)
        statement = _statement(batch[0], dialect)
        params = [_params(op) for op in batch]
        if batch[0].kind in ("update", "delete") and len(params) == 1:
            await conn.execute(statement, params[0])
        else:
            await conn.execute(statement, params)
