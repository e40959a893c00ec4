"""The catalog database on SQLite and PostgreSQL: migrations match the tables, appends are
serialised with a gapless seq, and the SQLite durability settings are in force."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

import artifact_store.catalog.schema  # noqa: F401 - registers the views on the metadata
from artifact_store.catalog.db import Database
from artifact_store.catalog.migrate import is_initialized, upgrade
from artifact_store.ledger.schema import metadata
from artifact_store.store import ArtifactStore


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database.open(database_url)
    try:
        yield db
    finally:
        await db.close()


async def test_migrations_create_exactly_the_metadata(database: Database) -> None:
    async with database.write() as conn:
        await upgrade(conn)
        assert await is_initialized(conn)

        def diff(sync: Connection) -> list[object]:
            context = MigrationContext.configure(sync, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        assert await conn.run_sync(diff) == []


async def test_upgrade_is_idempotent(database: Database) -> None:
    for _ in range(2):
        async with database.write() as conn:
            await upgrade(conn)
    async with database.read() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert version == "0001"


async def test_sqlite_runs_wal_with_full_sync(tmp_path: object) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    try:
        async with db.read() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
        assert mode == "wal"
        assert sync == 2  # FULL
    finally:
        await db.close()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_concurrent_appends_keep_seq_gapless(store: ArtifactStore) -> None:
    await asyncio.gather(
        *(store.put_blob(_one(f"blob {i}".encode()), actor=f"a{i}") for i in range(20))
    )
    events = await store.events(limit=100)
    assert [e.seq for e in events] == list(range(1, 21))
    assert (await store.verify()).ok


def test_unsupported_database_url_is_rejected() -> None:
    from artifact_store.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        Database.open("mysql://localhost/x")
    with pytest.raises(InvalidInputError):
        Database.open("not a url")


def test_head_constant_matches_the_scripts() -> None:
    from alembic.script import ScriptDirectory

    from artifact_store.catalog.migrate import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD
