"""Benchmark 3 of issue #2: ``rebuild-views`` events per second, on SQLite and PostgreSQL.

A log of at least ``--events`` events (default 100,000) is generated, then
``ArtifactStore.rebuild_views()`` (drop every view, replay the log from seq 1, in one write
transaction) is timed ``--reps`` times per backend. Target: >= 50,000 events/s on SQLite;
PostgreSQL is reported for information. The figure is events / wall time of the
``rebuild_views()`` call, commit included; the report's own ``seconds`` (no commit) is printed
beside it.

The log has the mix of a busy CI registry: every package version commits two new file blobs plus
its manifest blob (3 x ``blob.stored``), one ``package.committed`` with three files (the third
file is a blob shared by every package) and two labels, and one ``tag.set`` (``latest`` moves);
every tenth version also gets ``stable``, and each namespace's first package a
``namespace.created``. 20 namespaces x 50 names.

How the log is generated: through the public API (``push_directory``) this mix runs at about
270 events/s here (one fsynced blob file per blob, one synchronous SQLite transaction per
package), i.e. over 6 minutes for 100k events. So the generator builds exactly the payloads that
``ArtifactStore._commit`` records for such a push (same order, real digests of the blob and
manifest bytes) and appends them through the PRIVATE ``ArtifactStore._record`` -- the one writer,
which appends and projects in the same transaction -- in batches of packages inside
``store._db.write()`` transactions. No blob bytes are written: replay reads only the log. After
the first rebuild the views are compared with the live ones (``dump_views``): they must be
equal, which checks that the generated log is a valid one.

PostgreSQL: a database ``bench_replay_<random>`` is created on 127.0.0.1:5432 (user postgres,
trust auth) with ``psql`` and dropped afterwards. ``--no-postgres`` skips it.

    uv run python bench/replay.py                      # 100k events, 3 reps, both backends
    uv run python bench/replay.py --events 10000 --reps 3 --no-postgres
    uv run python bench/replay.py --events 20000 --profile   # where a SQLite rebuild spends time
    uv run python bench/replay.py --shared-vs-alone 20000,40000,100000  # the worker's threshold
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from _common import (
    CpuMeter,
    Row,
    Stats,
    check,
    print_machine,
    print_rows,
    wait_for_quiet,
    workdir,
)
from artifact_store import ArtifactStore, FileEntry, Manifest, Producer, StoreConfig, open_store
from artifact_store.catalog import rebuild, replay
from artifact_store.kernels.clock import format_time
from artifact_store.kernels.digest import Digest, DigestPair, digest_bytes
from artifact_store.ledger.events import (
    BlobStored,
    NamespaceCreated,
    PackageCommitted,
    Payload,
    TagSet,
)
from artifact_store.manifest import encode_manifest, validate_manifest

TARGET_SQLITE = 50_000
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
NAMESPACES = 20
NAMES = 50
#: Packages per write transaction while generating (about 5 events each).
PACKAGES_PER_TXN = 1000


@dataclass(frozen=True, slots=True)
class Result:
    """One backend's figures."""

    backend: str
    events: int
    generate_seconds: float
    wall: Stats  # events/s, commit included
    inner: Stats  # events/s from RebuildReport.seconds
    views_equal: bool
    others: float  # cores used by other processes during the rebuilds (PostgreSQL's included)


def _package_payloads(
    i: int, shared: DigestPair, seen_namespaces: set[str], created: str
) -> list[Payload]:
    """What ``ArtifactStore._commit`` records for package number ``i`` (see module docstring)."""
    namespace = f"bench/team{i % NAMESPACES:02d}"
    name = f"app{(i // NAMESPACES) % NAMES:02d}"
    version = f"1.{i}.0"
    contents = {
        "bin/app": f"binary of {namespace}/{name}@{version} ".encode() * 8,
        "report.json": f'{{"package": {i}, "tests": {i % 997}}}'.encode(),
    }
    pairs = {path: digest_bytes(data) for path, data in contents.items()}
    files = [
        FileEntry(
            path=path,
            size=pair.size,
            sha256=pair.sha256,
            blake3=pair.blake3,
            media_type="application/octet-stream",
        )
        for path, pair in pairs.items()
    ]
    files.append(
        FileEntry(
            path="docs/LICENSE.txt",
            size=shared.size,
            sha256=shared.sha256,
            blake3=shared.blake3,
            media_type="text/plain",
        )
    )
    manifest = validate_manifest(
        Manifest(
            namespace=namespace,
            name=name,
            version=version,
            kind="build",
            created=created,
            producer=Producer(name="ci", version="1.0", run=f"job-{i}"),
            labels={"branch": "main" if i % 3 else "release", "commit": f"{i:040x}"},
            files=tuple(sorted(files, key=lambda f: f.path)),
        )
    )
    data = encode_manifest(manifest)
    manifest_pair = digest_bytes(data)
    digest = str(Digest.sha256_of(data))
    new_blobs = {p.sha256: p for p in [*pairs.values(), manifest_pair]}
    payloads: list[Payload] = [
        BlobStored(sha256=p.sha256, blake3=p.blake3, size=p.size)
        for _, p in sorted(new_blobs.items())
    ]
    if namespace not in seen_namespaces:
        seen_namespaces.add(namespace)
        payloads.insert(0, NamespaceCreated(namespace=namespace))
    payloads.append(PackageCommitted(digest=digest, manifest=manifest))
    tags = ["latest", "stable"] if i % 10 == 0 else ["latest"]
    payloads.extend(TagSet(namespace=namespace, name=name, tag=t, target=digest) for t in tags)
    return payloads


def _packages(events: int, shared: DigestPair, created: str) -> Iterator[list[Payload]]:
    """Payload lists, one per package, until at least ``events`` events are produced."""
    seen: set[str] = set()
    total = 1  # the shared blob's own blob.stored
    i = 0
    while total < events:
        payloads = _package_payloads(i, shared, seen, created)
        total += len(payloads)
        i += 1
        yield payloads


async def generate(store: ArtifactStore, events: int) -> float:
    """Append at least ``events`` events (see the module docstring); returns the seconds."""
    started = time.perf_counter()
    shared = digest_bytes(b"Apache License, Version 2.0 (the shared file of every package)\n" * 50)
    created = format_time(store._clock.now())
    batch: list[Payload] = [
        BlobStored(sha256=shared.sha256, blake3=shared.blake3, size=shared.size)
    ]
    packages = 0
    for payloads in _packages(events, shared, created):
        batch.extend(payloads)
        packages += 1
        if packages % PACKAGES_PER_TXN == 0:
            await _append(store, batch)
            batch = []
    await _append(store, batch)
    seconds = time.perf_counter() - started
    head = await store.head()
    print(f"  generated {head:,} events ({packages:,} packages) in {seconds:.1f} s")
    return seconds


async def _append(store: ArtifactStore, payloads: list[Payload]) -> None:
    if payloads:
        async with store._db.write() as conn:
            await store._record(conn, payloads, actor="bench")


async def measure(config: StoreConfig, backend: str, events: int, reps: int) -> Result:
    """Generate the log in a fresh store, then time ``rebuild_views()`` ``reps`` times."""
    store = await open_store(config)
    try:
        generate_seconds = await generate(store, events)
        count = await store.head()
        live = await store.dump_views()
        wall: list[float] = []
        inner: list[float] = []
        equal = True
        others: list[float] = []
        for rep in range(reps):
            with CpuMeter() as cpu:
                started = time.perf_counter()
                report = await store.rebuild_views()
                seconds = time.perf_counter() - started
            others.append(cpu.others)
            check(report.events == count, f"replayed {report.events} of {count} events")
            wall.append(count / seconds)
            inner.append(report.events_per_second)
            if rep == 0:
                equal = await store.dump_views() == live
                del live
            print(
                f"  rep {rep + 1}/{reps}: {seconds:.2f} s = {wall[-1]:,.0f} events/s"
                f" (report: {report.seconds:.2f} s); {cpu}"
            )
    finally:
        await store.close()
    print(f"  views after the rebuild equal the live views: {equal}")
    return Result(
        backend,
        count,
        generate_seconds,
        Stats.of(wall),
        Stats.of(inner),
        equal,
        sum(others) / len(others),
    )


async def _stages(store: ArtifactStore) -> None:
    """Time the stages of one rebuild separately, without a profiler, by wrapping the
    replay's own steps: read a window of rows, fold it (chain check, decode, fold into rows),
    write it; the rest is emptying the views, waiting for the worker and the commit.

    A log of ``rebuild.SHARED_MIN_EVENTS`` events or more is shared with a worker process
    (ADR-0015): then "fold" and "read" count only the windows this process folds itself.
    """
    spent = {"read": 0.0, "fold": 0.0, "write": 0.0}

    def timed(name: str, fn: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        async def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    originals = (rebuild.log.read_rows, rebuild._fold, replay.write, rebuild.write)
    rebuild.log.read_rows = timed("read", originals[0])  # type: ignore[assignment]
    rebuild._fold = timed("fold", originals[1])  # type: ignore[assignment]
    replay.write = timed("write", originals[2])  # type: ignore[assignment]
    rebuild.write = timed("write", originals[3])  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        report = await store.rebuild_views()
        wall = time.perf_counter() - started
    finally:
        rebuild.log.read_rows, rebuild._fold, replay.write, rebuild.write = originals  # type: ignore[assignment]
    events = report.events
    shared = events >= rebuild.SHARED_MIN_EVENTS
    whose = " (this process's windows)" if shared else ""
    print(f"  stages of a replay of {events:,} events, no profiler:")
    for name, seconds in (
        (f"read rows{whose}", spent["read"]),
        (f"fold: chain check, decode, rows per key{whose}", spent["fold"]),
        ("write rows (one executemany per table)", spent["write"]),
        ("the rest: empty the views, wait, commit", wall - sum(spent.values())),
        ("whole rebuild_views(), commit included", wall),
    ):
        print(
            f"    {name:<62} {seconds:6.2f} s  {seconds / events * 1e6:6.1f} us/event"
            f"  {seconds / wall:4.0%}"
        )


async def _profile(config: StoreConfig, events: int, top: int) -> None:
    """One SQLite rebuild under cProfile (main thread only: SQLite runs in aiosqlite's thread,
    so time spent inside SQLite shows up as the event loop waiting in ``select``)."""
    store = await open_store(config)
    try:
        await generate(store, events)
        await _stages(store)
        profiler = cProfile.Profile()
        profiler.enable()
        report = await store.rebuild_views()
        profiler.disable()
    finally:
        await store.close()
    print(f"  profiled rebuild: {report.events:,} events in {report.seconds:.2f} s")
    for key in ("tottime", "cumulative"):
        print(f"\n--- top {top} by {key} ---")
        pstats.Stats(profiler).sort_stats(key).print_stats(top)


async def _shared_vs_alone(config: StoreConfig, events: int, reps: int) -> None:
    """Rebuild the same SQLite log with and without the worker process, alternating (ADR-0015:
    where the threshold ``rebuild.SHARED_MIN_EVENTS`` comes from)."""
    store = await open_store(config)
    try:
        await generate(store, events)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(reps):
            for shared in (False, True):
                started = time.perf_counter()
                async with store._db.write() as conn:
                    await rebuild.rebuild_views(conn, shared=shared)
                times[shared].append(time.perf_counter() - started)
    finally:
        await store.close()
    alone, shared = Stats.of(times[False]), Stats.of(times[True])
    print(
        f"  {events:,} events: shared {shared.median:.3f} s, alone {alone.median:.3f} s "
        f"(median of {reps}, commit included): shared/alone = {shared.median / alone.median:.2f}"
    )


def _psql(sql: str, *, quiet: bool = False) -> None:
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-qc", sql],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else None,
        timeout=60,
    )


def _postgres_up() -> bool:
    try:
        _psql("SELECT 1", quiet=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


async def measure_postgres(tmp: Path, events: int, reps: int) -> Result:
    """The PostgreSQL run, in a database of its own that is dropped afterwards."""
    db = f"bench_replay_{secrets.token_hex(4)}"
    _psql(f"CREATE DATABASE {db}")
    try:
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"
        config = StoreConfig.for_directory(tmp / "pg-data", database_url=url, create=True)
        return await measure(config, "PostgreSQL", events, reps)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def run(events: int, reps: int, *, postgres: bool = True) -> list[Row]:
    """Both backends; prints the details, returns the rows."""
    results: list[Result] = []
    with workdir("artifact-store-replay-") as tmp:
        print(f"SQLite (WAL, synchronous=FULL) in {tmp}:")
        config = StoreConfig.for_directory(tmp / "sqlite-data", create=True)
        results.append(asyncio.run(measure(config, "SQLite", events, reps)))
        if postgres and not _postgres_up():
            print(f"PostgreSQL on {PG_HOST}:{PG_PORT} is not reachable: skipped")
            postgres = False
        if postgres:
            print(f"PostgreSQL on {PG_HOST}:{PG_PORT}:")
            results.append(asyncio.run(measure_postgres(tmp, events, reps)))
    rows: list[Row] = []
    for r in results:
        target = TARGET_SQLITE if r.backend == "SQLite" else None
        passed = None if target is None else (r.wall.median >= target and r.views_equal)
        rows.append(
            Row(
                f"rebuild-views, {r.backend}, {r.events:,} events",
                f"{r.wall.rate('ev/s')}, {r.events / r.wall.median:.2f} s",
                f"{target:,} ev/s = {r.events / target:.2f} s" if target else "",
                f"{r.wall.median / target:.2f}x" if target else "",
                f">= {target:,} ev/s" if target else "none (info)",
                passed,
                f"{r.others:.2f} cores" + ("" if target else " (incl. the server)"),
            )
        )
        print(
            f"{r.backend}: {r.wall.rate('events/s')} wall; {r.inner.rate('events/s')} by the"
            f" report; log generated in {r.generate_seconds:.1f} s; views equal: {r.views_equal}"
        )
    if not postgres:
        rows.append(Row("rebuild-views, PostgreSQL", "skipped", "", "", "none (info)", None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the log (min)")
    parser.add_argument("--reps", type=int, default=3, help="rebuilds per backend")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--profile", action="store_true", help="profile one SQLite rebuild instead (cProfile)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine to be idle (shared machines)",
    )
    parser.add_argument(
        "--shared-vs-alone",
        metavar="N,N,...",
        help="instead: time SQLite rebuilds of logs of N events with and without the worker",
    )
    args = parser.parse_args()
    print_machine()
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    if args.profile:
        with workdir("artifact-store-replay-") as tmp:
            config = StoreConfig.for_directory(tmp / "sqlite-data", create=True)
            asyncio.run(_profile(config, args.events, top=30))
        return
    if args.shared_vs_alone:
        for events in (int(n) for n in args.shared_vs_alone.split(",")):
            with workdir("artifact-store-replay-") as tmp:
                config = StoreConfig.for_directory(tmp / "sqlite-data", create=True)
                asyncio.run(_shared_vs_alone(config, events, args.reps))
        return
    rows = run(args.events, args.reps, postgres=not args.no_postgres)
    print_rows(rows, "replay")


if __name__ == "__main__":
    main()
