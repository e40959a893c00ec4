"""``Client``: the blocking twin of :class:`~artifact_store.client.aio.AsyncClient`.

Same methods, same arguments, same values and errors, over ``httpx.Client``; the protocol
logic is ``_ops``, performed here with blocking calls. Parallel blob uploads run on a small
thread pool. The two library helpers that exist only as coroutines (``build_manifest`` and
``extract``) run on a private event loop in a worker thread, so this client also works from
code that already runs a loop (a notebook).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
    iter_range,
    plan_batches,
    push_target,
)
from artifact_store.errors import BlobNotFoundError, FileNotInPackageError, UnavailableError
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

__all__ = ["Client"]


def _run_coroutine[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run a library coroutine to completion on a private loop in a worker thread."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def main() -> None:
        try:
            outcome.append(asyncio.run(coro))
        except BaseException as exc:  # handed to the calling thread below
            failure.append(exc)

    worker = threading.Thread(target=main, name="artifact-store-client-loop")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


async def _from_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator consumed chunk by chunk from worker threads."""
    try:
        while (chunk := await asyncio.to_thread(next, chunks, b"")) != b"":
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class Client(ClientSettings):
    """An artifact-store server, reached over HTTP (blocking); arguments as ``AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        cache_dir: Path | None = None,
        headers: Mapping[str, str] | None = None,
        parallel: int = 4,
    ) -> None:
        self._ops = Operations.for_server(
            base_url, timeout=timeout, retry=retry, cache_dir=cache_dir
        )
        self.parallel = max(1, parallel)
        self._http = httpx.Client(transport=transport, **self._ops.http_options(headers))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # --- the driver ----------------------------------------------------------------------------

    def _run[T](self, op: Op[T]) -> T:
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
                value = self._perform(step)
            except Exception as exc:  # thrown into the operation, which decides
                error = exc

    def _perform(self, step: Step) -> object:
        match step:
            case Call():
                content: Any = step.content
                if isinstance(content, FileRange):
                    content = iter_range(content.path, content.offset, content.length)
                request = self._http.build_request(
                    step.method,
                    step.url,
                    params=step.params,
                    headers=step.headers,
                    json=step.json,
                    content=content,
                    timeout=step.timeout or self.timeout,
                )
                return self._http.send(request, stream=step.stream)
            case Sleep(seconds=seconds):
                time.sleep(seconds)
            case Blocking(fn=fn):
                return fn()
            case Read(response=response):
                try:
                    response.read()
                finally:
                    response.close()
            case Close(response=response):
                response.close()
        return None

    def _stream(self, url: str, statuses: Statuses | None = None) -> Iterator[bytes]:
        """The body of a GET as it arrives; a broken connection resumes with ``Range``."""
        received, retry = 0, 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else None
            call = Call(method="GET", url=url, headers=headers, stream=True)
            response = self._run(self._ops.request(call, statuses=statuses))
            try:
                if received and response.status_code != 206:
                    raise UnavailableError(f"the server did not resume {url} at byte {received}")
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    yield chunk
                return
            except httpx.TransportError as exc:
                wait = self._ops.stream_retry(exc, retry, url)
            finally:
                response.close()
            time.sleep(wait)
            retry += 1

    # --- blobs ---------------------------------------------------------------------------------

    def stat_blob(self, digest: str) -> BlobStat:
        """A stored blob's digest and size (``HEAD``)."""
        return self._run(self._ops.stat_blob(digest))

    def open_blob(self, digest: str) -> Iterator[bytes]:
        """A stored blob's bytes, streamed (the request starts at the first iteration)."""
        Digest.parse(digest)
        return self._stream(paths.blob(digest), {404: BlobNotFoundError})

    def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        """Which of ``digests`` (``sha256:`` form) the server does not hold, in order."""
        return self._run(self._ops.missing_blobs(digests))

    def put_blob(self, source: bytes | Path, *, digest: str | None = None) -> BlobInfo:
        """Store a blob in one request (``PUT /v1/blobs?digest=``), streamed from disk."""
        if isinstance(source, bytes):
            return self._run(self._ops.put_blob(source, digest or str(Digest.sha256_of(source))))
        body = FileRange(source, 0, source.stat().st_size)
        return self._run(self._ops.put_blob(body, self._run(self._ops.file_digest(body, digest))))

    def create_upload(self, length: int | None = None) -> UploadStatus:
        """Open an upload session (``POST /v1/uploads``)."""
        return self._run(self._ops.create_upload(length))

    def upload_offset(self, location: str) -> int:
        """How many bytes the server holds durably for a session (``HEAD``)."""
        return self._run(self._ops.upload_offset(location))

    def abort_upload(self, location: str) -> None:
        """Abandon a session and its bytes (``DELETE``)."""
        self._run(self._ops.abort_upload(location))

    def upload_file(
        self,
        path: Path,
        *,
        digest: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> BlobInfo:
        """Upload one file as a blob, resumably (see ``AsyncClient.upload_file``)."""
        source = FileRange(path, 0, path.stat().st_size)
        sha256 = self._run(self._ops.file_digest(source, digest)).removeprefix("sha256:")
        if progress is not None:
            progress.start(source.length)
        advance = progress.advance if progress is not None else None
        return self._run(self._ops.upload(source, sha256, chunk_size=chunk_size, advance=advance))

    # --- packages ------------------------------------------------------------------------------

    def commit_manifest(
        self, manifest: Manifest | bytes, *, tags: Sequence[str] = ()
    ) -> CommitResult:
        """Commit a manifest (a value, or its canonical CBOR) and set ``tags`` on it."""
        return self._run(self._ops.commit_manifest(manifest, tags))

    def get_manifest(self, ref: str) -> tuple[PackageInfo, Manifest, bytes]:
        """A package, its manifest and the canonical bytes (checked against the digest)."""
        return self._run(self._ops.get_manifest(ref))

    def resolve(self, ref: str) -> PackageInfo:
        """The package a reference names."""
        return self.get_manifest(ref)[0]

    def find_version(self, namespace: str, name: str, version: str) -> PackageInfo | None:
        """The package at ``namespace/name@version``, or None."""
        return self._run(self._ops.find_version(namespace, name, version))

    def list_packages(
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
        return self._run(op)

    def list_versions(
        self, namespace: str, name: str, *, cursor: str | None = None, limit: int = 100
    ) -> Page[PackageInfo]:
        """The versions of a package name, newest first."""
        return self._run(self._ops.list_versions(namespace, name, cursor, limit))

    def open_file(self, ref: str, path: str) -> tuple[FileEntry, Iterator[bytes]]:
        """One file of a package: its manifest entry and a stream of its bytes."""
        entry, url = self._run(self._ops.locate_file(ref, path))
        return entry, self._stream(url, {404: FileNotInPackageError})

    def pull(
        self, ref: str, dest: Path, *, parallel: int | None = None, progress: Progress | None = None
    ) -> PackageInfo:
        """Write a package's files under ``dest``: both digests verified, atomic."""
        info, manifest, _ = self.get_manifest(ref)
        if progress is not None:
            progress.start(manifest.total_size)

        async def opener(entry: FileEntry) -> AsyncIterator[bytes]:
            return _from_thread(self._stream(paths.blob(f"sha256:{entry.sha256}")))

        _run_coroutine(
            extract(
                manifest,
                dest,
                opener,
                parallel=parallel or self.parallel,
                progress=progress.advance if progress is not None else None,
            )
        )
        return info

    def push_directory(
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
        """Push a directory as one package version (see ``AsyncClient.push_directory``)."""
        pkg, ver = push_target(ref, namespace, name, version)
        for tag in tags:
            validate_tag(tag)
        existing = self.find_version(pkg.namespace, pkg.name, ver)
        sources = PushSources()

        async def digest(item: ScannedFile) -> DigestPair:
            return sources.add(item, await asyncio.to_thread(digest_file, item.source))

        manifest = _run_coroutine(
            build_manifest(
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
        )
        data, missing = self._run(self._ops.push_plan(manifest, existing, sources, progress))
        advance = progress.advance if progress is not None else None
        self._upload_many(sources, missing, parallel, chunk_size, advance)
        return self._run(self._ops.commit_pushed(data, tags, sources, chunk_size))

    def _upload_many(
        self,
        sources: PushSources,
        digests: Sequence[str],
        parallel: int | None,
        chunk_size: int,
        advance: Advance | None,
    ) -> None:
        def one(digest: str) -> BlobInfo:
            sha256 = digest.removeprefix("sha256:")
            item = sources.by_sha256[sha256]
            source = FileRange(item.source, 0, item.size)
            return self._run(
                self._ops.upload(source, sha256, chunk_size=chunk_size, advance=advance)
            )

        def batch(members: list[str]) -> list[BlobInfo]:
            return self._run(self._ops.put_blob_batch(sources, members, advance))

        batches, singles = plan_batches(sources, digests)
        if batches or singles:
            with ThreadPoolExecutor(max_workers=parallel or self.parallel) as pool:
                sent: list[Future[object]] = [pool.submit(batch, m) for m in batches]
                sent += [pool.submit(one, digest) for digest in singles]
                for future in sent:
                    future.result()  # re-raises the first failure

    # --- tags ----------------------------------------------------------------------------------

    def list_tags(self, namespace: str, name: str) -> list[TagInfo]:
        """The tags of a package name."""
        return self._run(self._ops.list_tags(namespace, name))

    def set_tag(self, target: str, tag: str) -> PackageInfo:
        """Point ``tag`` of the target's package name at the target (any reference)."""
        return self._run(self._ops.set_tag(target, tag))

    def remove_tag(self, namespace: str, name: str, tag: str) -> None:
        """Remove a tag."""
        self._run(self._ops.remove_tag(namespace, name, tag))

    # --- events --------------------------------------------------------------------------------

    def read_events(self, *, after: int = 0, limit: int = 100, wait: float = 0) -> list[Event]:
        """One batch of events with ``seq > after``; with ``wait``, long-poll for the first."""
        return self._run(self._ops.read_events(after, limit, wait))

    def events(
        self, after: int = 0, *, follow: bool = False, batch: int = 500, wait: float = 30.0
    ) -> Iterator[Event]:
        """Every event after ``after``, in order; with ``follow``, then each new one, forever."""
        failures = 0
        while True:
            try:
                events = self.read_events(after=after, limit=batch, wait=wait if follow else 0)
                failures = 0
            except UnavailableError:
                if not follow:
                    raise
                time.sleep(self.retry.delay(min(failures, 8)))
                failures += 1
                continue
            for event in events:
                if event.seq > after:
                    yield event
                    after = event.seq
            if not events and not follow:
                return
