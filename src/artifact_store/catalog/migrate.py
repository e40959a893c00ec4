"""Schema migrations (Alembic), run programmatically on an open connection.

The migration scripts live in ``catalog/migrations/``; their target is the shared ``MetaData``
(``ledger.schema`` + ``catalog.schema``). ``upgrade`` runs inside the caller's write
transaction, so two processes opening the same new store do not race.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MIGRATIONS", "alembic_config", "is_initialized", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at our scripts (and at ``connection`` when given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def is_initialized(conn: AsyncConnection) -> bool:
    """True when the catalog's tables exist."""

    def check(sync: Connection) -> bool:
        return inspect(sync).has_table("events")

    return await conn.run_sync(check)


async def upgrade(conn: AsyncConnection, revision: str = "head") -> None:
    """Apply pending migrations up to ``revision``."""

    def run(sync: Connection) -> None:
        command.upgrade(alembic_config(sync), revision)

    await conn.run_sync(run)
