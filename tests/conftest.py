"""Shared fixtures: the backend matrix (database x blob store), stores, clocks, test trees."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from artifact_store.config import StoreConfig
from artifact_store.kernels.clock import FixedClock
from artifact_store.store import ArtifactStore, open_store
from tests.services import PostgresServer, pg_url, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The shared PostgreSQL server (skips locally / fails in CI when unreachable)."""
    yield from postgres_server()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A database migrated once per session; each test clones it."""
    name = postgres.create()

    async def migrate() -> None:
        config = StoreConfig(database_url=pg_url(name), blobstore_url="memory://", create=True)
        store = await open_store(config)
        await store.close()

    asyncio.run(migrate())
    return name


@pytest.fixture
def postgres_database(postgres: PostgresServer, postgres_template: str) -> str:
    """A fresh, migrated PostgreSQL database for one test."""
    return pg_url(postgres.create(template=postgres_template))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture(params=["memory", "local"])
def blobstore_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that takes this runs on each blob store backend."""
    if request.param == "memory":
        return "memory://"
    return (tmp_path / "data").as_uri()


@pytest.fixture
def clock() -> FixedClock:
    """A settable clock."""
    return FixedClock()


@pytest.fixture
async def store(
    database_url: str, blobstore_url: str, clock: FixedClock
) -> AsyncIterator[ArtifactStore]:
    """A fresh store over the full matrix."""
    config = StoreConfig(database_url=database_url, blobstore_url=blobstore_url, create=True)
    opened = await open_store(config, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def local_store(
    tmp_path: Path, database_url: str, clock: FixedClock
) -> AsyncIterator[ArtifactStore]:
    """A store on the local filesystem backend (for tests that touch the bytes on disk)."""
    config = StoreConfig(
        database_url=database_url, blobstore_url=(tmp_path / "data").as_uri(), create=True
    )
    opened = await open_store(config, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (relative path → content) under ``root``."""
    for rel, content in files.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree: nested dirs, an empty file, non-ASCII names, an executable."""
    root = make_tree(
        tmp_path / "tree",
        {
            "README.md": b"# report\n",
            "empty.txt": b"",
            "data/r\u00e9sum\u00e9.json": b'{"ok": true}\n',
            "data/deep/nested/\u6c34.bin": os.urandom(300_000),
            "bin/run.sh": b"#!/bin/sh\necho hi\n",
        },
    )
    (root / "bin" / "run.sh").chmod(0o755)
    return root
