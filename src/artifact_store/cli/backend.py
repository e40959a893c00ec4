"""The store a command talks to: ``StoreAPI``, met by ``ArtifactStore`` (local mode) and by
``RemoteStore`` over the SDK's ``AsyncClient`` (remote mode, ``--url``).

The protocol is declared here, by its consumer (CONVENTIONS §3): the library and the client
never import each other. Both backends return the library's own values (``PackageInfo``,
``CommitResult``, ``Page``), so every command renders the same text, the same JSON and the
same exit codes in both modes; ``RemoteStore`` converts the SDK's values field by field.
Events are the one exception: the CLI only reads the ``EventView`` members and the wire JSON
(:func:`event_json`).

Actor (issue #3 item 9): local mode passes the OS user; the server attributes remote
mutations itself (``anonymous`` until authentication exists), so ``RemoteStore`` ignores the
``actor`` argument.
"""

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

from artifact_store.client import AsyncClient
from artifact_store.client import Event as RemoteEvent
from artifact_store.kernels.progress import Progress
from artifact_store.manifest import FileEntry, Manifest, Producer
from artifact_store.store import (
    ArtifactStore,
    CommitResult,
    PackageInfo,
    PackageQuery,
    Page,
    event_to_json,
)

__all__ = ["EventView", "RemoteStore", "StoreAPI", "event_json", "local", "remote"]


class EventView(Protocol):
    """What the CLI reads from an event of either backend."""

    @property
    def seq(self) -> int:
        """Position in the log (gapless, from 1)."""
        ...

    @property
    def time(self) -> datetime:
        """When it was appended (UTC)."""
        ...

    @property
    def type(self) -> str:
        """The payload's stable wire name (``package.committed``, …)."""
        ...

    @property
    def actor(self) -> str:
        """Who caused it."""
        ...


class StoreAPI(Protocol):
    """The operations the commands need; each is one library (or one SDK) call."""

    async def push_directory(
        self,
        root: Path,
        *,
        namespace: str,
        name: str,
        version: str,
        kind: str,
        actor: str,
        producer: Producer | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        tags: Sequence[str] = (),
        follow_symlinks: bool = False,
        progress: Progress | None = None,
    ) -> CommitResult:
        """Store a directory as one package version (identical re-push: ``created`` False)."""
        ...

    async def resolve(self, ref: str) -> PackageInfo:
        """The package a reference names."""
        ...

    async def get_manifest(self, ref: str) -> tuple[PackageInfo, Manifest, bytes]:
        """A package, its manifest and the manifest's canonical bytes."""
        ...

    async def pull(
        self, ref: str, dest: Path, *, progress: Callable[[int], None] | None = None
    ) -> PackageInfo:
        """Write the package's files under ``dest`` (verified, atomic)."""
        ...

    async def list_packages(self, query: PackageQuery | None = None) -> Page[PackageInfo]:
        """Search packages, newest first."""
        ...

    async def open_file(self, ref: str, path: str) -> tuple[FileEntry, AsyncIterator[bytes]]:
        """One file of a package and a stream of its bytes."""
        ...

    async def set_tag(self, target: str, tag: str, *, actor: str) -> PackageInfo:
        """Point ``tag`` at the target (create or move)."""
        ...

    async def remove_tag(self, namespace: str, name: str, tag: str, *, actor: str) -> None:
        """Remove a tag (``TagNotFoundError`` when there is none)."""
        ...

    async def events(self, *, after: int = 0, limit: int = 100) -> Sequence[EventView]:
        """Events with ``seq > after``, in order."""
        ...

    def follow(self, *, after: int = 0) -> AsyncIterator[EventView]:
        """Every event after ``after``, then each new one (never ends)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def local(store: ArtifactStore) -> StoreAPI:
    """The library itself as the CLI's backend (mypy proves it meets ``StoreAPI``)."""
    return store


def remote(client: AsyncClient) -> StoreAPI:
    """A server, through the SDK, as the CLI's backend."""
    return RemoteStore(client)


def event_json(event: EventView) -> dict[str, object]:
    """The wire JSON of an event from either backend (``GET /v1/events`` has the same)."""
    if isinstance(event, RemoteEvent):
        return event.to_json()
    # Local events are the library's ``Event`` (a ledger type the CLI may not import by name).
    return event_to_json(cast("Any", event))


class _Advance:
    """A ``Progress`` whose start is already shown by the caller: only ``advance`` is passed on."""

    def __init__(self, advance: Callable[[int], None]) -> None:
        self._advance = advance

    def start(self, total: int) -> None:
        """Ignored: the command started its bar with the package size."""

    def advance(self, done: int) -> None:
        """Pass on."""
        self._advance(done)


class RemoteStore:
    """``StoreAPI`` over an :class:`~artifact_store.client.AsyncClient`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def push_directory(
        self,
        root: Path,
        *,
        namespace: str,
        name: str,
        version: str,
        kind: str,
        actor: str,
        producer: Producer | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        tags: Sequence[str] = (),
        follow_symlinks: bool = False,
        progress: Progress | None = None,
    ) -> CommitResult:
        """See ``StoreAPI``; ``actor`` is the server's to decide."""
        return await self.client.push_directory(
            root,
            namespace=namespace,
            name=name,
            version=version,
            kind=kind,
            producer=producer,
            labels=labels,
            annotations=annotations,
            tags=tags,
            follow_symlinks=follow_symlinks,
            progress=progress,
        )

    async def resolve(self, ref: str) -> PackageInfo:
        """See ``StoreAPI``."""
        return await self.client.resolve(ref)

    async def get_manifest(self, ref: str) -> tuple[PackageInfo, Manifest, bytes]:
        """See ``StoreAPI``."""
        return await self.client.get_manifest(ref)

    async def pull(
        self, ref: str, dest: Path, *, progress: Callable[[int], None] | None = None
    ) -> PackageInfo:
        """See ``StoreAPI``."""
        reporter = _Advance(progress) if progress is not None else None
        return await self.client.pull(ref, dest, progress=reporter)

    async def list_packages(self, query: PackageQuery | None = None) -> Page[PackageInfo]:
        """See ``StoreAPI``."""
        q = query or PackageQuery()
        return await self.client.list_packages(
            prefix=q.prefix,
            namespace=q.namespace,
            name=q.name,
            kind=q.kind,
            labels=q.labels,
            since=q.since,
            until=q.until,
            cursor=q.cursor,
            limit=q.limit,
        )

    async def open_file(self, ref: str, path: str) -> tuple[FileEntry, AsyncIterator[bytes]]:
        """See ``StoreAPI``."""
        return await self.client.open_file(ref, path)

    async def set_tag(self, target: str, tag: str, *, actor: str) -> PackageInfo:
        """See ``StoreAPI``; ``actor`` is the server's to decide."""
        return await self.client.set_tag(target, tag)

    async def remove_tag(self, namespace: str, name: str, tag: str, *, actor: str) -> None:
        """See ``StoreAPI``; ``actor`` is the server's to decide."""
        await self.client.remove_tag(namespace, name, tag)

    async def events(self, *, after: int = 0, limit: int = 100) -> Sequence[EventView]:
        """See ``StoreAPI``."""
        return await self.client.read_events(after=after, limit=limit)

    def follow(self, *, after: int = 0) -> AsyncIterator[EventView]:
        """See ``StoreAPI`` (long-polls; survives server restarts without losing an event)."""
        return self.client.events(after, follow=True)

    async def close(self) -> None:
        """See ``StoreAPI``."""
        await self.client.aclose()
