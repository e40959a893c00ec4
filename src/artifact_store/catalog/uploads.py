"""Rows of the ``upload_sessions`` table (operational state: only an upload's outcome, the
stored blob, becomes an event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.catalog.schema import upload_sessions
from artifact_store.kernels.records import UploadSession

__all__ = [
    "count_open",
    "delete_session",
    "find_session",
    "insert_session",
    "list_expired",
    "purge_finished",
    "save_session",
]


def _session(row: Row[Any]) -> UploadSession:
    return UploadSession(
        id=row.id,
        actor=row.actor,
        state=row.state,
        offset=row.offset,
        length=row.length,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        namespace=row.namespace,
        claimed_digest=row.claimed_digest,
    )


def _row(session: UploadSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "namespace": session.namespace,
        "actor": session.actor,
        "state": session.state,
        "offset": session.offset,
        "length": session.length,
        "claimed_digest": session.claimed_digest,
        "backend_id": None,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "expires_at": session.expires_at,
    }


async def insert_session(conn: AsyncConnection, session: UploadSession) -> None:
    """Record a new session."""
    await conn.execute(insert(upload_sessions).values(_row(session)))


async def find_session(conn: AsyncConnection, upload_id: str) -> UploadSession | None:
    """The session, or None."""
    row = (
        await conn.execute(select(upload_sessions).where(upload_sessions.c.id == upload_id))
    ).first()
    return None if row is None else _session(row)


async def save_session(conn: AsyncConnection, session: UploadSession) -> None:
    """Store the session's current state, offset and times."""
    values = _row(session)
    del values["id"]
    await conn.execute(
        update(upload_sessions).where(upload_sessions.c.id == session.id).values(values)
    )


async def delete_session(conn: AsyncConnection, upload_id: str) -> None:
    """Forget the session."""
    await conn.execute(delete(upload_sessions).where(upload_sessions.c.id == upload_id))


async def list_expired(
    conn: AsyncConnection, now: datetime, *, limit: int = 500
) -> list[UploadSession]:
    """Open sessions whose idle time ran out."""
    rows = await conn.execute(
        select(upload_sessions)
        .where(upload_sessions.c.state == "open", upload_sessions.c.expires_at <= now)
        .order_by(upload_sessions.c.expires_at)
        .limit(limit)
    )
    return [_session(r) for r in rows]


async def purge_finished(conn: AsyncConnection, before: datetime) -> int:
    """Delete rows of sessions that ended (completed, failed, expired) before ``before``."""
    result = await conn.execute(
        delete(upload_sessions).where(
            upload_sessions.c.state != "open", upload_sessions.c.updated_at < before
        )
    )
    return int(result.rowcount or 0)


async def count_open(conn: AsyncConnection) -> int:
    """Sessions still taking chunks."""
    query = (
        select(func.count()).select_from(upload_sessions).where(upload_sessions.c.state == "open")
    )
    return int((await conn.execute(query)).scalar_one())
