"""Append to and read the event log (protected: only ``store.py`` and the rebuild import it).

Theory of operation
-------------------
The log is a table of rows with a gapless ``seq`` starting at 1. Appends are serialised by the
caller's write transaction (``catalog.db.Database.write``: ``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), so reading the head and inserting ``head + 1``
cannot race. Several payloads recorded by one operation (a package commit with its new blobs)
are built in memory by :func:`build` and written by one multi-row insert; the projections of
the same events run in the same transaction (blueprint invariant 2), so log and views commit
together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.errors import ArtifactStoreError
from artifact_store.kernels.ids import uuid7
from artifact_store.ledger.chain import GENESIS, ChainLink, ChainState, link_hash
from artifact_store.ledger.codec import decode_body, decode_trusted_body, encode_body
from artifact_store.ledger.events import Event, Payload, index_fields
from artifact_store.ledger.schema import events

__all__ = [
    "READ_ROWS_SQL",
    "Head",
    "append",
    "build",
    "count",
    "head",
    "iter_links",
    "iter_rows",
    "read",
    "read_rows",
    "to_event",
    "verify",
    "write",
]


@dataclass(frozen=True, slots=True)
class Head:
    """The last event's position and hash (``seq`` 0 and the genesis hash for an empty log)."""

    seq: int
    hash: bytes


async def head(conn: AsyncConnection) -> Head:
    """The current head of the log."""
    row = (
        await conn.execute(
            select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
        )
    ).first()
    return Head(0, GENESIS) if row is None else Head(row.seq, row.hash)


def build(
    start: Head, payloads: Sequence[Payload], *, actor: str, now: datetime
) -> list[Event[Payload]]:
    """Chain ``payloads`` after ``start`` (pure: no I/O)."""
    built: list[Event[Payload]] = []
    seq, prev = start.seq, start.hash
    for payload in payloads:
        seq += 1
        event_id = uuid7(now)
        body = encode_body(seq=seq, id=event_id, time=now, actor=actor, payload=payload)
        digest = link_hash(prev, body)
        built.append(
            Event(
                seq=seq,
                id=event_id,
                time=now,
                actor=actor,
                payload=payload,
                prev_hash=prev,
                hash=digest,
                body=body,
            )
        )
        prev = digest
    return built


async def write(conn: AsyncConnection, batch: Sequence[Event[Payload]]) -> None:
    """Insert already-built events (the caller holds the write lock)."""
    if not batch:
        return
    rows = []
    for event in batch:
        namespace, subject = index_fields(event.payload)
        rows.append(
            {
                "seq": event.seq,
                "id": str(event.id),
                "time": event.time,
                "type": event.type,
                "actor": event.actor,
                "namespace": namespace,
                "subject": subject,
                "body": event.body,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            }
        )
    await conn.execute(insert(events), rows)


async def append(
    conn: AsyncConnection, payloads: Sequence[Payload], *, actor: str, now: datetime
) -> list[Event[Payload]]:
    """Append ``payloads`` after the current head; returns the stored events."""
    batch = build(await head(conn), payloads, actor=actor, now=now)
    await write(conn, batch)
    return batch


def to_event(
    seq: int, body: bytes, prev_hash: bytes, hash_: bytes, *, trusted: bool = False
) -> Event[Payload]:
    """Decode a stored row into an ``Event`` (the body is the authority for every field).

    ``trusted``: the caller verified the row's place in the hash chain, so the body is decoded
    without re-validation (``decode_trusted_body``).
    """
    envelope = decode_trusted_body(body) if trusted else decode_body(body)
    return Event(
        seq=envelope.seq,
        id=envelope.id,
        time=envelope.time,
        actor=envelope.actor,
        payload=envelope.payload,
        prev_hash=prev_hash,
        hash=hash_,
        body=body,
    )


async def read(
    conn: AsyncConnection, *, after: int = 0, limit: int = 100, namespace: str | None = None
) -> list[Event[Payload]]:
    """Events with ``seq > after`` in order, at most ``limit``."""
    query = select(events.c.seq, events.c.body, events.c.prev_hash, events.c.hash).where(
        events.c.seq > after
    )
    if namespace is not None:
        query = query.where(events.c.namespace == namespace)
    rows = await conn.execute(query.order_by(events.c.seq).limit(limit))
    return [to_event(r.seq, r.body, r.prev_hash, r.hash) for r in rows]


async def count(conn: AsyncConnection) -> int:
    """Number of events in the log."""
    return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


#: Plain text, so that rows come straight from the driver without per-row type processing
#: (integers and bytes on every supported driver): the replay reads every row of the log. Its
#: worker process runs the same text through ``sqlite3``.
READ_ROWS_SQL = (
    "SELECT seq, body, prev_hash, hash FROM events WHERE seq > :after ORDER BY seq LIMIT :limit"
)
_READ_ROWS = text(READ_ROWS_SQL)


async def read_rows(
    conn: AsyncConnection, *, after: int, limit: int
) -> list[tuple[int, bytes, bytes, bytes]]:
    """Up to ``limit`` rows ``(seq, body, prev_hash, hash)`` with ``seq > after``, in order."""
    result = await conn.execute(_READ_ROWS, {"after": after, "limit": limit})
    # Rows unpack like the tuples they are typed as; copying them into tuples cost 8 % of a
    # replay. (A plain-text query is untyped, hence the cast.)
    return cast("list[tuple[int, bytes, bytes, bytes]]", result.all())


async def iter_rows(
    conn: AsyncConnection, *, batch: int = 5000
) -> AsyncIterator[Sequence[tuple[int, bytes, bytes, bytes]]]:
    """All rows ``(seq, body, prev_hash, hash)`` from seq 1, in batches (keyset pagination)."""
    after = 0
    while rows := await read_rows(conn, after=after, limit=batch):
        yield rows
        after = rows[-1][0]


async def iter_links(conn: AsyncConnection, *, batch: int = 5000) -> AsyncIterator[list[ChainLink]]:
    """The chain columns of every row, in batches."""
    async for rows in iter_rows(conn, batch=batch):
        yield [ChainLink(seq, body, prev, digest) for seq, body, prev, digest in rows]


async def verify(conn: AsyncConnection, *, batch: int = 5000) -> tuple[int, tuple[int, str] | None]:
    """Check the whole log: the hash chain, and that every indexed column matches its body.

    Returns the number of events checked and the first break as ``(seq, reason)`` (None when
    the log is intact). Reading stops at the first break: everything after it is suspect.
    """
    state = ChainState()
    checked = 0
    after = 0
    while True:
        rows = (
            await conn.execute(
                select(events).where(events.c.seq > after).order_by(events.c.seq).limit(batch)
            )
        ).all()
        if not rows:
            return checked, None
        for row in rows:
            reason = state.check(ChainLink(row.seq, row.body, row.prev_hash, row.hash))
            if reason is None:
                reason = _column_mismatch(row)
            if reason is not None:
                return checked, (row.seq, reason)
            checked += 1
        after = rows[-1].seq


def _column_mismatch(row: Row[Any]) -> str | None:
    """Why the row's indexed columns disagree with its (hash-protected) body, or None."""
    try:
        envelope = decode_body(row.body)
    except ArtifactStoreError as exc:
        return f"body does not decode: {exc}"
    namespace, subject = index_fields(envelope.payload)
    expected = {
        "seq": envelope.seq,
        "id": str(envelope.id),
        "time": envelope.time,
        "type": envelope.payload.TYPE,
        "actor": envelope.actor,
        "namespace": namespace,
        "subject": subject,
    }
    for column, value in expected.items():
        if getattr(row, column) != value:
            return f"column {column!r} does not match the event body"
    return None
