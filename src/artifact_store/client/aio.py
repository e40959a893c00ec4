"""``AsyncClient``: the /v1 API (``docs/api/v1.md``) over ``httpx.AsyncClient``.

The twin of :class:`artifact_store.client.sync.Client`: same methods, same arguments, same
values and errors. The protocol logic lives once in ``_ops``; this module performs its steps
with awaits, and adds what only an event loop does: streaming bodies to the caller, moving
several blobs at once as tasks, and the library's async manifest builder and extractor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import httpx

from artifact_store.client._models import (
    BlobInfo,
    BlobStat,
    CommitResult,
    Event,
    PackageInfo,
    Page,
    TagInfo,
    UploadStatus,
)
from artifact_store.client._ops import ClientSettings, Operations, Statuses
from artifact_store.client._steps import Blocking, Call, Close, FileRange, Op, Read, Sleep, Step
from artifact_store.client._transport import DEFAULT_TIMEOUT, RetryPolicy
from artifact_store.client._upload import (
    DEFAULT_CHUNK_SIZE,
    Advance,
    PushSources,
    aiter_range,
    plan_batches,
    push_target,
)
from artifact_store.errors import (
    ArtifactStoreError,
    BlobNotFoundError,
    FileNotInPackageError,
    UnavailableError,
)
from artifact_store.kernels.clock import SystemClock, format_time
from artifact_store.kernels.digest import Digest, DigestPair, digest_file
from artifact_store.kernels.limits import CHUNK_SIZE
from artifact_store.kernels.names import validate_tag
from artifact_store.kernels.progress import Progress
from artifact_store.manifest import (
    FileEntry,
    Link,
    Manifest,
    Producer,
    ScannedFile,
    build_manifest,
)
from artifact_store.manifest.extract import extract
from artifact_store.wire import paths

__all__ = ["AsyncClient"]


class AsyncClient(ClientSettings):
    """An artifact-store server, reached over HTTP (asyncio).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8080``.
        timeout: per-request timeout (a long-poll adds its wait to the read timeout).
        transport: an httpx transport, e.g. ``httpx.ASGITransport(app)`` in tests.
        retry: how often and how patiently to retry (``_transport`` says what is retried).
        cache_dir: where resumable upload sessions are remembered
            (default ``$ARTIFACT_STORE_CACHE``, else ``~/.cache/artifact-store``).
        headers: extra headers for every request (``Authorization`` once auth exists).
        parallel: blobs moved at once by ``push_directory`` and ``pull``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        cache_dir: Path | None = None,
        headers: Mapping[str, str] | None = None,
        parallel: int = 4,
    ) -> None:
        self._ops = Operations.for_server(
            base_url, timeout=timeout, retry=retry, cache_dir=cache_dir
        )
        self.parallel = max(1, parallel)
        self._http = httpx.AsyncClient(transport=transport, **self._ops.http_options(headers))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- the driver ----------------------------------------------------------------------------

    async def _run[T](self, op: Op[T]) -> T:
        """Perform an operation's steps until it returns (``_steps`` has the contract)."""
        value: Any = None
        error: Exception | None = None
        while True:
            try:
                step = op.send(value) if error is None else op.throw(error)
            except StopIteration as stop:
                return cast("T", stop.value)
            value, error = None, None
            try:
                value = await self._perform(step)
            except Exception as exc:  # thrown into the operation, which decides
                error = exc

    async def _perform(self, step: Step) -> object:
        match step:
            case Call():
                content: Any = step.content
                if isinstance(content, FileRange):
                    content = aiter_range(content.path, content.offset, content.length)
                request = self._http.build_request(
                    step.method,
                    step.url,
                    params=step.params,
                    headers=step.headers,
                    json=step.json,
                    content=content,
                    timeout=step.timeout or self.timeout,
                )
                return await self._http.send(request, stream=step.stream)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
            case Blocking(fn=fn):
                return await asyncio.to_thread(fn)
            case Read(response=response):
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            case Close(response=response):
                await response.aclose()
        return None

    async def _stream(self, url: str, statuses: Statuses | None = None) -> AsyncIterator[bytes]:
        """The body of a GET as it arrives; a broken connection resumes with ``Range``."""
        received, retry = 0, 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else None
            call = Call(method="GET", url=url, headers=headers, stream=True)
            response = await self._run(self._ops.request(call, statuses=statuses))
            try:
                if received and response.status_code != 206:
                    raise UnavailableError(f"the server did not resume {url} at byte {received}")
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    yield chunk
                return
            except httpx.TransportError as exc:
                wait = self._ops.stream_retry(exc, retry, url)
            finally:
                await response.aclose()
            await asyncio.sleep(wait)
            retry += 1

    # --- blobs ---------------------------------------------------------------------------------

    async def stat_blob(self, digest: str) -> BlobStat:
        """A stored blob's digest and size (``HEAD``).

        Raises:
            InvalidDigestError: a malformed digest. BlobNotFoundError: not stored.
        """
        return await self._run(self._ops.stat_blob(digest))

    def open_blob(self, digest: str) -> AsyncIterator[bytes]:
        """A stored blob's bytes, streamed (the request starts at the first iteration)."""
        Digest.parse(digest)
        return self._stream(paths.blob(digest), {404: BlobNotFoundError})

    async def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        """Which of ``digests`` (``sha256:`` form) the server does not hold, in order."""
        return await self._run(self._ops.missing_blobs(digests))

    async def put_blob(self, source: bytes | Path, *, digest: str | None = None) -> BlobInfo:
        """Store a blob in one request (``PUT /v1/blobs?digest=``), streamed from disk.

        Raises:
            DigestMismatchError: the bytes do not hash to ``digest``; nothing stored.
        """
        if isinstance(source, bytes):
            return await self._run(
                self._ops.put_blob(source, digest or str(Digest.sha256_of(source)))
            )
        body = FileRange(source, 0, (await asyncio.to_thread(source.stat)).st_size)
        checked = await self._run(self._ops.file_digest(body, digest))
        return await self._run(self._ops.put_blob(body, checked))

    async def create_upload(self, length: int | None = None) -> UploadStatus:
        """Open an upload session (``POST /v1/uploads``)."""
        return await self._run(self._ops.create_upload(length))

    async def upload_offset(self, location: str) -> int:
        """How many bytes the server holds durably for a session (``HEAD``).

        Raises:
            UploadNotFoundError, UploadExpiredError: the session is gone.
        """
        return await self._run(self._ops.upload_offset(location))

    async def abort_upload(self, location: str) -> None:
        """Abandon a session and its bytes (``DELETE``)."""
        await self._run(self._ops.abort_upload(location))

    async def upload_file(
        self,
        path: Path,
        *,
        digest: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> BlobInfo:
        """Upload one file as a blob, resumably: a re-run after a crash continues the session.

        ``digest`` (``sha256:<hex>``) saves hashing the file first. Files up to
        ``min(chunk_size, 8 MiB)`` go in one request.

        Raises:
            DigestMismatchError: the file does not hash to ``digest`` (or changed meanwhile).
            UnavailableError: the server stayed unreachable through every retry.
        """
        source = FileRange(path, 0, (await asyncio.to_thread(path.stat)).st_size)
        sha256 = (await self._run(self._ops.file_digest(source, digest))).removeprefix("sha256:")
        if progress is not None:
            progress.start(source.length)
        advance = progress.advance if progress is not None else None
        return await self._run(
            self._ops.upload(source, sha256, chunk_size=chunk_size, advance=advance)
        )

    # --- packages ------------------------------------------------------------------------------

    async def commit_manifest(
        self, manifest: Manifest | bytes, *, tags: Sequence[str] = ()
    ) -> CommitResult:
        """Commit a manifest (a value, or its canonical CBOR) and set ``tags`` on it.

        Raises:
            VersionConflictError: another manifest holds this version.
            MissingBlobsError: blobs are missing (``extra['missing']``).
        """
        return await self._run(self._ops.commit_manifest(manifest, tags))

    async def get_manifest(self, ref: str) -> tuple[PackageInfo, Manifest, bytes]:
        """A package, its manifest and the canonical bytes (checked against the digest).

        Raises:
            InvalidRefError: a malformed reference.
            PackageNotFoundError, TagNotFoundError: nothing there.
        """
        return await self._run(self._ops.get_manifest(ref))

    async def resolve(self, ref: str) -> PackageInfo:
        """The package a reference names (``ns/name@version``, ``ns/name:tag``, a digest)."""
        return (await self.get_manifest(ref))[0]

    async def find_version(self, namespace: str, name: str, version: str) -> PackageInfo | None:
        """The package at ``namespace/name@version``, or None."""
        return await self._run(self._ops.find_version(namespace, name, version))

    async def list_packages(
        self,
        *,
        prefix: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        kind: str | None = None,
        labels: Mapping[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[PackageInfo]:
        """Search packages, newest first, one page at a time."""
        op = self._ops.list_packages(
            prefix=prefix,
            namespace=namespace,
            name=name,
            kind=kind,
            labels=labels,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
        return await self._run(op)

    async def list_versions(
        self, namespace: str, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[PackageInfo]:
        """The versions of a package name, newest first."""
        return await self._run(self._ops.list_versions(namespace, name, cursor, limit))

    async def open_file(self, ref: str, path: str) -> tuple[FileEntry, AsyncIterator[bytes]]:
        """One file of a package: its manifest entry and a stream of its bytes.

        Raises:
            InvalidPathError: a malformed path. FileNotInPackageError: no such file.
        """
        entry, url = await self._run(self._ops.locate_file(ref, path))
        return entry, self._stream(url, {404: FileNotInPackageError})

    async def pull(
        self, ref: str, dest: Path, *, parallel: int | None = None, progress: Progress | None = None
    ) -> PackageInfo:
        """Write a package's files under ``dest``: both digests verified, atomic (all or none).

        Raises:
            InvalidInputError: ``dest`` exists and is not an empty directory.
            DigestMismatchError, SizeMismatchError: the server sent other bytes; nothing left.
        """
        info, manifest, _ = await self.get_manifest(ref)
        if progress is not None:
            progress.start(manifest.total_size)

        async def opener(entry: FileEntry) -> AsyncIterator[bytes]:
            return self._stream(paths.blob(f"sha256:{entry.sha256}"))

        await extract(
            manifest,
            dest,
            opener,
            parallel=parallel or self.parallel,
            progress=progress.advance if progress is not None else None,
        )
        return info

    async def push_directory(
        self,
        root: Path,
        ref: str | None = None,
        *,
        namespace: str | None = None,
        name: str | None = None,
        version: str | None = None,
        kind: str = "generic",
        producer: Producer | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        subject: str | None = None,
        links: Sequence[Link] = (),
        tags: Sequence[str] = (),
        follow_symlinks: bool = False,
        progress: Progress | None = None,
        parallel: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> CommitResult:
        """Push a directory as one package version: hash here, send only what the server lacks.

        The manifest is built client-side (each file hashed once); the server says which blobs
        it lacks; those are uploaded ``parallel`` at a time (large ones resumably); then the
        canonical CBOR manifest is committed with ``tags``. When the version exists, its
        ``created`` time is reused, so the identical tree is a no-op success (``created``
        False) and a different one a ``VersionConflictError`` before any byte is sent.
        """
        pkg, ver = push_target(ref, namespace, name, version)
        for tag in tags:
            validate_tag(tag)
        existing = await self.find_version(pkg.namespace, pkg.name, ver)
        sources = PushSources()

        async def digest(item: ScannedFile) -> DigestPair:
            return sources.add(item, await asyncio.to_thread(digest_file, item.source))

        manifest = await build_manifest(
            root,
            namespace=pkg.namespace,
            name=pkg.name,
            version=ver,
            kind=kind,
            created=existing.created if existing else format_time(SystemClock().now()),
            producer=producer or Producer(name="artifact-store-client"),
            labels=labels,
            annotations=annotations,
            subject=subject,
            links=links,
            digest=digest,
            follow_symlinks=follow_symlinks,
        )
        data, missing = await self._run(self._ops.push_plan(manifest, existing, sources, progress))
        advance = progress.advance if progress is not None else None
        await self._upload_many(sources, missing, parallel, chunk_size, advance)
        return await self._run(self._ops.commit_pushed(data, tags, sources, chunk_size))

    async def _upload_many(
        self,
        sources: PushSources,
        digests: Sequence[str],
        parallel: int | None,
        chunk_size: int,
        advance: Advance | None,
    ) -> None:
        limit = asyncio.Semaphore(parallel or self.parallel)
        batches, singles = plan_batches(sources, digests)

        async def one(sha256: str) -> None:
            item = sources.by_sha256[sha256]
            source = FileRange(item.source, 0, item.size)
            async with limit:
                await self._run(
                    self._ops.upload(source, sha256, chunk_size=chunk_size, advance=advance)
                )

        async def batch(members: list[str]) -> None:
            async with limit:
                await self._run(self._ops.put_blob_batch(sources, members, advance))

        try:
            async with asyncio.TaskGroup() as group:
                for members in batches:
                    group.create_task(batch(members))
                for d in singles:
                    group.create_task(one(d.removeprefix("sha256:")))
        except BaseExceptionGroup as failed:
            first = failed.exceptions[0]
            if isinstance(first, ArtifactStoreError | OSError):
                raise first from failed
            raise

    # --- tags ----------------------------------------------------------------------------------

    async def list_tags(self, namespace: str, name: str) -> list[TagInfo]:
        """The tags of a package name."""
        return await self._run(self._ops.list_tags(namespace, name))

    async def set_tag(self, target: str, tag: str) -> PackageInfo:
        """Point ``tag`` of the target's package name at the target (any reference)."""
        return await self._run(self._ops.set_tag(target, tag))

    async def remove_tag(self, namespace: str, name: str, tag: str) -> None:
        """Remove a tag.

        Raises:
            TagNotFoundError: there is no such tag.
        """
        await self._run(self._ops.remove_tag(namespace, name, tag))

    # --- events --------------------------------------------------------------------------------

    async def read_events(
        self, *, after: int = 0, limit: int = 100, wait: float = 0
    ) -> list[Event]:
        """One batch of events with ``seq > after``; with ``wait``, long-poll for the first."""
        return await self._run(self._ops.read_events(after, limit, wait))

    async def events(
        self, after: int = 0, *, follow: bool = False, batch: int = 500, wait: float = 30.0
    ) -> AsyncIterator[Event]:
        """Every event after ``after``, in order; with ``follow``, then each new one, forever.

        Following survives server restarts: it waits and asks again from the last ``seq`` it
        yielded, so no event is lost or repeated.
        """
        failures = 0
        while True:
            try:
                events = await self.read_events(
                    after=after, limit=batch, wait=wait if follow else 0
                )
                failures = 0
            except UnavailableError:
                if not follow:
                    raise
                await asyncio.sleep(self.retry.delay(min(failures, 8)))
                failures += 1
                continue
            for event in events:
                if event.seq > after:  # never repeat one, whatever the server sends
                    yield event
                    after = event.seq
            if not events and not follow:
                return
