"""``Database``: one async engine for SQLite or PostgreSQL, serialised write transactions,
and the translation of driver failures into ``errors.py`` classes.

Dialect differences live here and nowhere else:

- SQLite (aiosqlite): WAL journal, ``synchronous=FULL`` (NORMAL may lose acknowledged commits on
  power loss, RELIABILITY.md §3.2), a busy timeout, and pysqlite's implicit transactions turned
  off so that write transactions start with ``BEGIN IMMEDIATE`` (the one-writer lock is taken
  up front, so the log head read inside the transaction cannot go stale).
- PostgreSQL (asyncpg): a write transaction takes ``pg_advisory_xact_lock`` on a fixed key, which
  serialises appends across every server process sharing the database (gapless ``seq``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from artifact_store.errors import ArtifactStoreError, DatabaseUnavailableError, InvalidInputError

__all__ = ["Database", "Dialect"]

logger = logging.getLogger(__name__)

type Dialect = Literal["sqlite", "postgresql"]

#: Key of the PostgreSQL advisory lock that serialises log appends ("artifact" in ASCII).
LOG_LOCK_KEY: Final = 0x6172746966616374
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
SQLITE_CACHE_KIB: Final = 64 * 1024


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:  # noqa: ANN401
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite would emit a deferred BEGIN).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # 64 MiB of page cache instead of 2 MiB: a replay or a big commit touches every view's
    # indexes, and spilling pages mid-transaction is what made rebuilds slow.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:  # noqa: ANN401
    mode = "IMMEDIATE" if conn.get_execution_options().get("artifact_store_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The catalog database: engines, transactions, dialect differences."""

    def __init__(self, engine: AsyncEngine, dialect: Dialect) -> None:
        self.engine = engine
        self.dialect: Dialect = dialect

    @classmethod
    def open(cls, url: str) -> Database:
        """Create the engine for ``url`` (``sqlite+aiosqlite:///path`` or
        ``postgresql+asyncpg://…``; ``sqlite:///`` and ``postgresql://`` are accepted too).

        Raises:
            InvalidInputError: an unsupported URL.
        """
        try:
            parsed = make_url(url)
        except Exception as exc:  # SQLAlchemy raises ArgumentError and friends
            raise InvalidInputError(f"not a database URL: {url!r}") from exc
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(parsed)
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
            return cls(engine, "sqlite")
        if backend == "postgresql":
            parsed = parsed.set(drivername="postgresql+asyncpg")
            engine = create_async_engine(parsed, pool_pre_ping=True, pool_size=10)
            return cls(engine, "postgresql")
        raise InvalidInputError(
            f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://…", url=url
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A serialised write transaction (commits on success, rolls back on error)."""
        async with self._translate(), self.engine.connect() as raw:
            conn = await raw.execution_options(artifact_store_write=True)
            async with conn.begin():
                if self.dialect == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK_KEY}
                    )
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with a consistent snapshot of the catalog."""
        async with self._translate(), self.engine.connect() as conn, conn.begin():
            if self.dialect == "postgresql":
                await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            yield conn

    @asynccontextmanager
    async def _translate(self) -> AsyncIterator[None]:
        """Third-party database errors never cross the seam (CONVENTIONS §4.3)."""
        try:
            yield
        except ArtifactStoreError:
            raise
        except (OperationalError, DBAPIError) as exc:
            logger.warning("database error: %s", exc)
            raise DatabaseUnavailableError(
                f"database error: {str(exc.orig or exc).splitlines()[0][:200]}"
            ) from exc
        except (OSError, SQLAlchemyError) as exc:
            raise DatabaseUnavailableError(f"database unreachable: {exc}"[:240]) from exc

    async def ping(self) -> None:
        """Raise ``DatabaseUnavailableError`` unless the database answers."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        await self.engine.dispose()
