"""Real services for tests: the PostgreSQL server on 127.0.0.1:5432 (each test gets a fresh
database cloned from a template migrated once per session).

``require_service`` is the only place a test may skip: with ``CI=true`` a missing service fails
the run instead (the project rule: in CI, PostgreSQL and S3 tests must run).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg
import pytest

PG_HOST = os.environ.get("ARTIFACT_STORE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ARTIFACT_STORE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("ARTIFACT_STORE_TEST_PG_USER", "postgres")


def require_service(name: str, reason: str) -> None:
    """Skip locally, fail in CI, when a service a test needs is unavailable."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: service-backed tests must run)")
    pytest.skip(f"{message}; start it to run this test")


def pg_url(database: str, *, driver: str = "postgresql+asyncpg") -> str:
    """A SQLAlchemy URL for ``database`` on the test server."""
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_admin(sql: str) -> None:
    """Run one statement on the ``postgres`` database (CREATE/DROP DATABASE)."""
    asyncio.run(_admin(sql))


class PostgresServer:
    """Creates and drops uniquely named databases on the shared server."""

    def __init__(self) -> None:
        self.prefix = f"as_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.template: str | None = None
        self.created: list[str] = []

    def create(self, *, template: str | None = None) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        clause = f" TEMPLATE {template}" if template else ""
        pg_admin(f"CREATE DATABASE {name}{clause}")
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.created):
            pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.clear()


def postgres_server() -> Iterator[PostgresServer]:
    """Session-scoped server handle (fixture body)."""
    try:
        pg_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        require_service("PostgreSQL", f"{PG_HOST}:{PG_PORT}: {exc}")
    server = PostgresServer()
    try:
        yield server
    finally:
        server.drop_all()
