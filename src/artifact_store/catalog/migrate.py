"""Schema migrations (Alembic), run programmatically on an open connection.

The migration scripts live in ``catalog/migrations/``; their target is the shared ``MetaData``
(``ledger.schema`` + ``catalog.schema``). ``upgrade`` runs inside the caller's write
transaction, so two processes opening the same new store do not race. Alembic is imported only
when the stored revision differs from :data:`HEAD`: opening an up-to-date store (every CLI
command does) costs one query, not Alembic's import and script scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "MIGRATIONS", "alembic_config", "current_revision", "is_initialized", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration's revision id (a test checks it equals Alembic's head).
HEAD: Final = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at our scripts (and at ``connection`` when given)."""
    from alembic.config import Config  # noqa: PLC0415 - lazy: only needed to migrate

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def is_initialized(conn: AsyncConnection) -> bool:
    """True when the catalog's tables exist."""

    def check(sync: Connection) -> bool:
        return inspect(sync).has_table("events")

    return await conn.run_sync(check)


async def current_revision(conn: AsyncConnection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""

    def read(sync: Connection) -> str | None:
        if not inspect(sync).has_table("alembic_version"):
            return None
        return sync.execute(text("SELECT version_num FROM alembic_version")).scalar()

    return await conn.run_sync(read)


async def upgrade(conn: AsyncConnection, revision: str = "head") -> None:
    """Apply pending migrations up to ``revision`` (a no-op when already at :data:`HEAD`)."""
    if revision == "head" and await current_revision(conn) == HEAD:
        return

    def run(sync: Connection) -> None:
        from alembic import command  # noqa: PLC0415 - lazy: only needed to migrate

        command.upgrade(alembic_config(sync), revision)

    await conn.run_sync(run)
