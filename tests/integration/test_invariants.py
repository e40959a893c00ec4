"""Blueprint invariants over random command sequences (Hypothesis), on SQLite and PostgreSQL.

- Invariant 3: replaying the log from seq 1 rebuilds views identical, table by table, to the
  live ones.
- Invariant 2 (observable half): a failed command leaves the views and the log unchanged.
- The chain verifies after any sequence.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.services import PostgresServer, pg_url

from artifact_store.catalog.rebuild import rebuild_views
from artifact_store.config import StoreConfig
from artifact_store.errors import ArtifactStoreError
from artifact_store.kernels.clock import FixedClock
from artifact_store.manifest import FileEntry, Manifest, Producer
from artifact_store.store import ArtifactStore, open_store

BLOBS = [b"", b"a", b"bb", b"ccc" * 100, bytes(range(256))]
VERSIONS = ["1", "2", "3"]
NAMES = ["report", "logs"]
TAGS = ["latest", "stable"]
#: Replay window sizes (events folded together) for the second rebuild of each example.
WINDOWS = st.integers(min_value=1, max_value=5)

commands = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(range(len(BLOBS)))),
        st.tuples(
            st.just("commit"),
            st.sampled_from(NAMES),
            st.sampled_from(VERSIONS),
            st.sets(st.sampled_from(range(len(BLOBS))), max_size=3),
            st.sampled_from(["a", "b"]),
        ),
        st.tuples(
            st.just("tag"), st.sampled_from(NAMES), st.sampled_from(VERSIONS), st.sampled_from(TAGS)
        ),
        st.tuples(st.just("untag"), st.sampled_from(NAMES), st.sampled_from(TAGS)),
        st.tuples(st.just("verify")),
    ),
    max_size=12,
)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _prepare(store: ArtifactStore, command: tuple[object, ...]) -> None:
    """Store the blobs a commit names (a separate, always-successful step)."""
    if command[0] == "commit":
        for i in sorted(command[3]):  # type: ignore[call-overload]
            await store.put_blob(_one(BLOBS[i]), actor="prop")


async def _apply(store: ArtifactStore, command: tuple[object, ...]) -> None:
    match command:
        case ("put", int(i)):
            await store.put_blob(_one(BLOBS[i]), actor="prop")
        case ("commit", str(name), str(version), set(chosen), str(label)):
            files = []
            for i in sorted(chosen):
                record = await store.stat_blob(f"sha256:{hashlib.sha256(BLOBS[i]).hexdigest()}")
                files.append(
                    FileEntry(
                        path=f"f{i}",
                        size=record.size,
                        sha256=record.sha256,
                        blake3=record.blake3,
                        media_type="application/octet-stream",
                    )
                )
            manifest = Manifest(
                namespace="acme/ci",
                name=name,
                version=version,
                kind="report",
                created="2026-01-01T00:00:00Z",
                producer=Producer(name="prop"),
                labels={"l": label},
                annotations={},
                files=tuple(files),
            )
            await store.commit_package(manifest, actor="prop")
        case ("tag", str(name), str(version), str(tag)):
            await store.set_tag(f"acme/ci/{name}@{version}", tag, actor="prop")
        case ("untag", str(name), str(tag)):
            await store.remove_tag("acme/ci", name, tag, actor="prop")
        case ("verify",):
            await store.verify(deep=True)
        case _:
            raise AssertionError(command)


async def _check(
    database_url: str, blob_dir: Path, program: list[tuple[object, ...]], window: int
) -> None:
    config = StoreConfig(database_url=database_url, blobstore_url=blob_dir.as_uri(), create=True)
    store = await open_store(config, clock=FixedClock())
    try:
        for command in program:
            await _prepare(store, command)
            before = await store.dump_views()
            head = await store.head()
            try:
                await _apply(store, command)
            except ArtifactStoreError:
                # a refused command changes nothing
                assert await store.head() == head
                assert await store.dump_views() == before
        live = await store.dump_views()
        report = await store.rebuild_views()
        assert report.events == await store.head()
        assert await store.dump_views() == live
        # Again in windows of a few events, so rows are folded across window boundaries too.
        async with store._db.write() as conn:
            await rebuild_views(conn, batch=window)
        assert await store.dump_views() == live
        verified = await store.verify()
        assert verified.ok, verified.problems
    finally:
        await store.close()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite catalog, copied for each example (migrating costs most of the time)."""
    path = tmp_path_factory.mktemp("template") / "catalog.db"

    async def migrate() -> None:
        config = StoreConfig(
            database_url=f"sqlite+aiosqlite:///{path}", blobstore_url="memory://", create=True
        )
        await (await open_store(config)).close()

    asyncio.run(migrate())
    return path


def test_rebuild_equals_live_sqlite(sqlite_template: Path) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(program=commands, window=WINDOWS)
    def run(program: list[tuple[object, ...]], window: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(sqlite_template, Path(tmp) / "catalog.db")
            url = f"sqlite+aiosqlite:///{tmp}/catalog.db"
            asyncio.run(_check(url, Path(tmp) / "data", program, window))

    run()


@pytest.mark.postgres
def test_rebuild_equals_live_postgres(postgres: PostgresServer, postgres_template: str) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(program=commands, window=WINDOWS)
    def run(program: list[tuple[object, ...]], window: int) -> None:
        name = postgres.create(template=postgres_template)
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_check(pg_url(name), Path(tmp) / "data", program, window))

    run()
