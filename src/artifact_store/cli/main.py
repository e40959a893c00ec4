"""The ``artifact-store`` command (typer): parse, call one backend method, render.

Local mode works on a data directory (``--data``, env ``ARTIFACT_STORE_DATA``, default
``./artifact-store-data``) with an optional PostgreSQL catalog (``--database-url``). Remote mode
(``--url``, env ``ARTIFACT_STORE_URL``) talks to a server through the SDK. Both run the same
commands through one ``StoreAPI`` (``backend.py``), so the output and the exit codes are the
same; ``init``, ``verify``, ``rebuild-views`` and ``serve`` work on a data directory and say so
(exit 2) in remote mode. No business rule lives here; every behaviour is the library's.
``serve`` starts the HTTP server by import string, so this package never imports ``server``.
"""

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from artifact_store.cli.backend import EventView, StoreAPI, event_json, local, remote
from artifact_store.cli.output import emit_json, err, fail, progress_bar, to_jsonable
from artifact_store.client import AsyncClient
from artifact_store.config import StoreConfig
from artifact_store.errors import ArtifactStoreError, InvalidInputError, InvalidRefError
from artifact_store.kernels.clock import format_time, parse_time
from artifact_store.kernels.names import PackageRef
from artifact_store.manifest import Producer, manifest_to_json
from artifact_store.store import ArtifactStore, PackageQuery, open_store

app = typer.Typer(
    name="artifact-store",
    help="A generic artifact registry: push directories as versioned packages, pull them back, "
    "follow the event log, verify everything.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DATA = "./artifact-store-data"
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class _Context:
    data: Path = Path(DEFAULT_DATA)
    database_url: str | None = None
    url: str | None = None


CTX = _Context()


@app.callback()
def _global(
    data: Annotated[
        Path,
        typer.Option(
            "--data", envvar="ARTIFACT_STORE_DATA", help="Data directory of the local store."
        ),
    ] = Path(DEFAULT_DATA),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="ARTIFACT_STORE_DATABASE_URL",
            help="Catalog database (default: SQLite inside the data directory); "
            "e.g. postgresql://user@host/db.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="ARTIFACT_STORE_URL",
            help="Remote mode: the server to talk to, e.g. http://127.0.0.1:8080 "
            "(instead of a local data directory).",
        ),
    ] = None,
) -> None:
    CTX.data = data
    CTX.database_url = database_url
    CTX.url = url or None


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


async def _open_local(*, create: bool = False) -> ArtifactStore:
    config = StoreConfig.for_directory(CTX.data, database_url=CTX.database_url, create=create)
    return await open_store(config)


def _run(work: Callable[[StoreAPI], Awaitable[int | None]], *, as_json: bool) -> None:
    """Open the backend (local store or remote server), run ``work``, close it; map library
    errors to one line and an exit code."""

    async def main() -> int | None:
        backend = remote(AsyncClient(CTX.url)) if CTX.url else local(await _open_local())
        try:
            return await work(backend)
        finally:
            await backend.close()

    code = _guard(main(), as_json=as_json)
    raise typer.Exit(code)


def _run_local(
    command: str,
    work: Callable[[ArtifactStore], Awaitable[int | None]],
    *,
    as_json: bool,
    create: bool = False,
) -> None:
    """Like :func:`_run` for the commands that work on a data directory only."""
    _require_local(command)

    async def main() -> int | None:
        store = await _open_local(create=create)
        try:
            return await work(store)
        finally:
            await store.close()

    raise typer.Exit(_guard(main(), as_json=as_json))


def _require_local(command: str) -> None:
    if CTX.url:
        err.print(
            f"error: '{command}' needs a local data directory (--data); "
            "it is not available with --url",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)


def _guard(coro: Coroutine[Any, Any, int | None], *, as_json: bool) -> int:
    try:
        return asyncio.run(coro) or 0
    except ArtifactStoreError as exc:
        return fail(exc, as_json=as_json)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} must be key=value, got {item!r}")
        out[key] = value
    return out


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create an empty store in the data directory (idempotent)."""

    async def work(store: ArtifactStore) -> None:
        if as_json:
            emit_json({"data": str(CTX.data.resolve()), "database": store.dialect})
        else:
            print(f"initialised store in {CTX.data.resolve()} ({store.dialect})")

    _run_local("init", work, as_json=as_json, create=True)


@app.command()
def push(
    directory: Annotated[Path, typer.Argument(help="Directory whose files become the package.")],
    ref: Annotated[str, typer.Argument(help="namespace/name@version, e.g. acme/ci/report@1.0")],
    kind: Annotated[str, typer.Option(help="Package kind: report, log, evidence, ...")] = "generic",
    label: Annotated[list[str] | None, typer.Option(help="Label key=value (repeatable).")] = None,
    annotation: Annotated[
        list[str] | None, typer.Option(help="Annotation key=value (repeatable).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag to set (repeatable).")] = None,
    producer: Annotated[str, typer.Option(help="Producer name recorded in the manifest.")] = (
        "artifact-store-cli"
    ),
    follow_symlinks: Annotated[
        bool, typer.Option(help="Follow symbolic links instead of rejecting them.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Store a directory tree as one immutable package version."""

    async def work(store: StoreAPI) -> None:
        parsed = PackageRef.parse(ref)
        if parsed.kind != "version" or parsed.name is None or parsed.version is None:
            raise InvalidRefError(f"push needs namespace/name@version, got {ref!r}", ref=ref)
        with progress_bar(f"push {parsed}", enabled=not as_json) as bar:
            result = await store.push_directory(
                directory,
                namespace=parsed.name.namespace,
                name=parsed.name.name,
                version=parsed.version,
                kind=kind,
                labels=_pairs(label or [], "--label"),
                annotations=_pairs(annotation or [], "--annotation"),
                tags=tag or [],
                producer=Producer(name=producer),
                follow_symlinks=follow_symlinks,
                actor=_actor(),
                progress=bar,
            )
        pkg = result.package
        if as_json:
            emit_json({"created": result.created, "package": pkg})
            return
        state = "pushed" if result.created else "unchanged (identical content already stored)"
        print(f"{pkg.ref} {state}")
        print(f"  digest  {pkg.digest}")
        print(f"  files   {pkg.file_count}, {pkg.total_size} bytes")

    _run(work, as_json=as_json)


@app.command()
def pull(
    ref: Annotated[str, typer.Argument(help="Package reference (name@version, name:tag, digest).")],
    dest: Annotated[
        Path, typer.Argument(help="Destination directory (must not exist or be empty).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Write a package's files into a directory, verifying both digests of each."""

    async def work(store: StoreAPI) -> None:
        with progress_bar(f"pull {ref}", enabled=not as_json) as bar:
            info = await store.resolve(ref)
            bar.start(info.total_size)
            await store.pull(info.digest, dest, progress=bar.advance)
        if as_json:
            emit_json({"package": info, "dest": str(dest)})
        else:
            print(f"{info.ref} → {dest} ({info.file_count} files, {info.total_size} bytes)")

    _run(work, as_json=as_json)


@app.command("ls")
def list_(
    prefix: Annotated[
        str | None, typer.Argument(help="Namespace (and below) or namespace/name.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Label key=value (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Committed at or after (RFC 3339 Z).")] = None,
    until: Annotated[str | None, typer.Option(help="Committed before (RFC 3339 Z).")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List packages, newest first."""

    async def work(store: StoreAPI) -> None:
        page = await store.list_packages(
            PackageQuery(
                prefix=prefix,
                kind=kind,
                labels=_pairs(label or [], "--label"),
                since=_time(since),
                until=_time(until),
                limit=limit,
                cursor=cursor,
            )
        )
        if as_json:
            emit_json({"items": page.items, "next_cursor": page.next_cursor})
            return
        for pkg in page.items:
            tags = f"  [{', '.join(pkg.tags)}]" if pkg.tags else ""
            print(
                f"{pkg.ref}  {pkg.kind}  {pkg.file_count} files  {pkg.total_size} B  "
                f"{format_time(pkg.committed_at)}{tags}"
            )
        if page.next_cursor:
            err.print(f"more: --cursor {page.next_cursor}")

    _run(work, as_json=as_json)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="Package reference.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a package: metadata, tags and every file with both digests."""

    async def work(store: StoreAPI) -> None:
        info, manifest, _ = await store.get_manifest(ref)
        if as_json:
            emit_json({"package": info, "manifest": manifest_to_json(manifest)})
            return
        print(f"{info.ref}\n  digest     {info.digest}\n  kind       {info.kind}")
        print(f"  created    {info.created}\n  committed  {format_time(info.committed_at)}")
        print(f"  by         {info.actor}\n  producer   {info.producer}")
        if info.tags:
            print(f"  tags       {', '.join(info.tags)}")
        for key, value in sorted(info.labels.items()):
            print(f"  label      {key}={value}")
        print(f"  files      {info.file_count} ({info.total_size} bytes)")
        for f in manifest.files:
            mode = "x" if f.executable else "-"
            print(f"    {mode} {f.size:>12}  {f.path}")
            print(f"        sha256:{f.sha256}\n        blake3:{f.blake3}")

    _run(work, as_json=as_json)


@app.command()
def cat(
    ref: Annotated[str, typer.Argument(help="Package reference.")],
    path: Annotated[str, typer.Argument(help="File path inside the package.")],
) -> None:
    """Write one file of a package to standard output."""

    async def work(store: StoreAPI) -> None:
        _, chunks = await store.open_file(ref, path)
        out = sys.stdout.buffer
        async for chunk in chunks:
            out.write(chunk)
        out.flush()

    _run(work, as_json=False)


@app.command()
def tag(
    ref: Annotated[str, typer.Argument(help="Package to tag (name@version, name:tag, digest).")],
    name: Annotated[str, typer.Argument(help="Tag name, e.g. latest.")],
    as_json: JsonOpt = False,
) -> None:
    """Point a tag at a package (creating or moving it)."""

    async def work(store: StoreAPI) -> None:
        info = await store.set_tag(ref, name, actor=_actor())
        if as_json:
            emit_json({"package": info, "tag": name})
        else:
            print(f"{info.namespace}/{info.name}:{name} → {info.ref} ({info.digest})")

    _run(work, as_json=as_json)


@app.command()
def untag(
    ref: Annotated[str, typer.Argument(help="namespace/name:tag to remove.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a tag."""

    async def work(store: StoreAPI) -> None:
        parsed = PackageRef.parse(ref)
        if parsed.kind != "tag" or parsed.name is None or parsed.tag is None:
            raise InvalidRefError(f"untag needs namespace/name:tag, got {ref!r}", ref=ref)
        await store.remove_tag(parsed.name.namespace, parsed.name.name, parsed.tag, actor=_actor())
        if as_json:
            emit_json({"removed": str(parsed)})
        else:
            print(f"removed {parsed}")

    _run(work, as_json=as_json)


@app.command()
def events(
    after: Annotated[int, typer.Option(help="Only events with seq greater than this.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many (without --follow).")] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the event log (one event per line; ``--json``: one JSON object per line)."""

    def line(event: EventView) -> None:
        if as_json:
            print(json.dumps(to_jsonable(event_json(event)), ensure_ascii=False), flush=True)
        else:
            payload = event_json(event)["payload"]
            assert isinstance(payload, dict)  # noqa: S101 - payloads are maps
            what = payload.get("digest") or payload.get("sha256") or payload.get("namespace", "")
            when = format_time(event.time)
            print(f"{event.seq:>8}  {when}  {event.type:<22} {what}  by {event.actor}", flush=True)

    async def work(store: StoreAPI) -> None:
        if follow:
            async for event in store.follow(after=after):
                line(event)
        else:
            for event in await store.events(after=after, limit=limit):
                line(event)

    _run(work, as_json=as_json)


@app.command()
def verify(
    deep: Annotated[
        bool, typer.Option("--deep", help="Re-hash every blob (both digests).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the event chain and the stored blobs; exit 6 when anything is wrong."""

    async def work(store: ArtifactStore) -> int:
        report = await store.verify(deep=deep)
        if as_json:
            emit_json({"ok": report.ok, **to_jsonable(report)})
        else:
            mode = "deep" if deep else "shallow"
            print(f"checked {report.events} events and {report.blobs} blobs ({mode})")
            for problem in report.problems:
                used = f" (used by {', '.join(problem.packages)})" if problem.packages else ""
                print(f"PROBLEM {problem.kind} {problem.subject}: {problem.detail}{used}")
            print("ok" if report.ok else f"{len(report.problems)} problem(s) found")
        return 0 if report.ok else 6

    _run_local("verify", work, as_json=as_json)


@app.command("rebuild-views")
def rebuild_views(as_json: JsonOpt = False) -> None:
    """Drop every view and rebuild it from the event log."""

    async def work(store: ArtifactStore) -> None:
        report = await store.rebuild_views()
        if as_json:
            emit_json(
                {
                    "events": report.events,
                    "seconds": report.seconds,
                    "events_per_second": report.events_per_second,
                }
            )
        else:
            print(f"replayed {report.events} events in {report.seconds:.3f}s")

    _run_local("rebuild-views", work, as_json=as_json)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
) -> None:
    """Run the HTTP server on this store (created if missing)."""
    _require_local("serve")
    code = _guard(_open_and_close(create=True), as_json=False)
    if code:
        raise typer.Exit(code)
    os.environ["ARTIFACT_STORE_DATA"] = str(CTX.data.resolve())
    if CTX.database_url:
        os.environ["ARTIFACT_STORE_DATABASE_URL"] = CTX.database_url
    err.print(f"serving {CTX.data.resolve()} on http://{host}:{port}")
    http: type[asyncio.Protocol] | str
    try:  # httptools without two copies of every uploaded byte (server/protocol.py)
        from artifact_store.server.protocol import PiecesProtocol  # noqa: PLC0415

        http = PiecesProtocol
    except ImportError:  # no httptools here: uvicorn picks its own
        http = "auto"
    uvicorn.run(
        "artifact_store.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        http=http,
        log_level="info",
        access_log=False,  # the app writes its own structured access log
        timeout_graceful_shutdown=10,
    )


async def _open_and_close(*, create: bool) -> None:
    config = StoreConfig.for_directory(CTX.data, database_url=CTX.database_url, create=create)
    store = await open_store(config)
    await store.close()


def main() -> None:
    """Console-script entry point."""
    app()
