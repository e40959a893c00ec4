"""Every /v1 operation of the SDK, written once as a sans-IO generator (see ``_steps``).

``Client`` and ``AsyncClient`` run these; what differs between them (threads or tasks for
parallel transfers, streaming a body to the caller, the async-only manifest builder and
extractor) stays in the drivers.

Resumable upload, theory of operation (``docs/api/v1.md`` "Upload sessions", tus 1.0):

1. Look for a remembered session of this blob on this server (``_resume``); ``HEAD`` it for
   the durable offset. Gone (404/410) or nothing remembered: ``POST /v1/uploads`` and
   remember the new session before sending a byte.
2. ``PATCH`` chunk after chunk, each with ``Upload-Offset`` and a sha256 ``Upload-Checksum``,
   so a chunk cut short is discarded whole by the server rather than kept half-written. The
   next chunk's checksum is computed on a thread of its own while the current one is sent
   (``ChecksumAhead``).
3. A failure of a chunk (connection lost, timeout, 503, checksum mismatch) waits with backoff,
   then asks the server for its offset (``HEAD``) and continues from there; a 409 offset
   mismatch carries the offset itself. Any progress resets the failure count.
4. ``PUT ?digest=`` finalizes; the remembered session is forgotten (also when the server
   says the bytes do not match: that session is terminated).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Container, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

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
    blob_from_json,
    commit_from_json,
    event_from_json,
    package_from_json,
    parse,
    tag_from_json,
    upload_from_json,
)
from artifact_store.client._resume import ResumeStore, default_cache_dir
from artifact_store.client._steps import Blocking, Call, Close, FileRange, Op, Read, Sleep
from artifact_store.client._transport import (
    IDEMPOTENT_METHODS,
    USER_AGENT,
    RetryPolicy,
    error_for,
    parse_retry_after,
    retryable_exception,
    retryable_status,
    unavailable,
)
from artifact_store.client._upload import (
    SMALL_BLOB,
    Advance,
    ChecksumAhead,
    PushSources,
    conflict,
    offset_from_error,
    read_batch,
)
from artifact_store.errors import (
    ArtifactStoreError,
    BlobNotFoundError,
    ChecksumMismatchError,
    DigestMismatchError,
    FileNotInPackageError,
    MissingBlobsError,
    PackageNotFoundError,
    UnavailableError,
    UploadExpiredError,
    UploadNotFoundError,
    UploadOffsetError,
    VerificationError,
)
from artifact_store.kernels.clock import format_time
from artifact_store.kernels.digest import Digest, digest_file
from artifact_store.kernels.limits import MAX_MISSING_QUERY
from artifact_store.kernels.names import PackageName, PackageRef, validate_tag
from artifact_store.kernels.paths import validate_path
from artifact_store.kernels.progress import Progress
from artifact_store.manifest import FileEntry, Manifest, encode_manifest, manifest_from_json
from artifact_store.wire import paths
from artifact_store.wire.batch import BLOB_BATCH
from artifact_store.wire.headers import (
    CBOR,
    OCTET_STREAM,
    OFFSET_OCTET_STREAM,
    UPLOAD_CHECKSUM,
    UPLOAD_LENGTH,
    UPLOAD_OFFSET,
)

__all__ = ["ClientSettings", "Operations"]

logger = logging.getLogger("artifact_store.client")

type Statuses = Mapping[int, type[ArtifactStoreError]]
_UPLOAD: Statuses = {404: UploadNotFoundError, 410: UploadExpiredError}


def _json(response: httpx.Response, what: str) -> Any:  # noqa: ANN401 - decoded JSON
    return parse(what, lambda r: r.json(), response)


class Operations:
    """The operations against one server (its base URL, retry policy and resume state)."""

    def __init__(
        self, base_url: str, *, retry: RetryPolicy, resume: ResumeStore, timeout: httpx.Timeout
    ) -> None:
        self.base_url = base_url
        self.retry = retry
        self.resume = resume
        self.timeout = timeout

    @classmethod
    def for_server(
        cls,
        base_url: str,
        *,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        cache_dir: Path | None,
    ) -> Operations:
        """The operations of a ``Client`` / ``AsyncClient`` built with these arguments."""
        return cls(
            base_url.rstrip("/"),
            retry=retry or RetryPolicy(),
            resume=ResumeStore(cache_dir or default_cache_dir()),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        )

    def http_options(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """The ``httpx`` client arguments that follow from these settings and ``headers``."""
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT, **(headers or {})},
        }

    # --- one request, with retries -------------------------------------------------------------

    def request(
        self,
        call: Call,
        *,
        idempotent: bool | None = None,
        ok: Container[int] = (),
        statuses: Statuses | None = None,
    ) -> Op[httpx.Response]:
        """Send ``call`` with retries (``_transport`` says when); return a 2xx or ``ok`` answer.

        Raises:
            ArtifactStoreError: the class the problem's ``code`` (or the status) names.
            UnavailableError: the server stayed unreachable through every attempt.
        """
        idem = call.method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        retry = 0
        while True:
            try:
                response: httpx.Response = yield call
            except httpx.TransportError as exc:
                if retry + 1 >= self.retry.attempts or not retryable_exception(
                    exc, idempotent=idem
                ):
                    raise unavailable(exc, f"{call.method} {self.base_url}{call.url}") from exc
                logger.debug("retrying %s %s after %r", call.method, call.url, exc)
                yield Sleep(self.retry.delay(retry))
                retry += 1
                continue
            status = response.status_code
            if response.is_success or status in ok:
                return response
            if retry + 1 < self.retry.attempts and retryable_status(status, idempotent=idem):
                wait = self.retry.delay(
                    retry, parse_retry_after(response.headers.get("Retry-After"))
                )
                if call.stream:
                    yield Close(response)
                logger.debug("retrying %s %s after HTTP %d", call.method, call.url, status)
                yield Sleep(wait)
                retry += 1
                continue
            if call.stream:
                yield Read(response)
            raise error_for(response, statuses=statuses)

    def stream_retry(self, exc: httpx.TransportError, retry: int, url: str) -> float:
        """The wait before re-requesting a download cut at ``retry``; raises when out of tries."""
        if retry + 1 >= self.retry.attempts or not retryable_exception(exc, idempotent=True):
            raise unavailable(exc, f"GET {self.base_url}{url}") from exc
        return self.retry.delay(retry)

    def get_json(self, url: str, what: str, **call: Any) -> Op[Any]:  # noqa: ANN401
        """GET ``url`` and decode its JSON body."""
        return _json((yield from self.request(Call(method="GET", url=url, **call))), what)

    # --- blobs ---------------------------------------------------------------------------------

    def stat_blob(self, digest: str) -> Op[BlobStat]:
        """``HEAD`` a blob."""
        Digest.parse(digest)
        call = Call(method="HEAD", url=paths.blob(digest))
        response = yield from self.request(call, statuses={404: BlobNotFoundError})
        etag = response.headers.get("ETag", "").strip('"')
        size = parse("blob stat", int, response.headers.get("Content-Length", "0"))
        return BlobStat(digest=etag or digest, size=size)

    def missing_blobs(self, digests: Sequence[str]) -> Op[list[str]]:
        """Which of ``digests`` the server lacks, in request order."""
        missing: list[str] = []
        for start in range(0, len(digests), MAX_MISSING_QUERY):
            batch = digests[start : start + MAX_MISSING_QUERY]
            body = {"digests": [str(Digest.parse(d, algorithm="sha256")) for d in batch]}
            call = Call(method="POST", url=paths.BLOBS_MISSING, json=body)
            response = yield from self.request(call, idempotent=True)  # a question, not a change
            found = _json(response, "missing blobs")
            missing.extend(parse("missing blobs", lambda b: [str(d) for d in b["missing"]], found))
        return missing

    def put_blob(self, source: bytes | FileRange, digest: str) -> Op[BlobInfo]:
        """One-request upload (``PUT /v1/blobs?digest=``)."""
        digest = str(Digest.parse(digest, algorithm="sha256"))
        size = len(source) if isinstance(source, bytes) else source.length
        call = Call(
            method="PUT",
            url=paths.BLOBS,
            params={"digest": digest},
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(size)},
            content=source,
        )
        return parse("blob upload", blob_from_json, _json((yield from self.request(call)), "blob"))

    def put_blob_batch(
        self, sources: PushSources, digests: Sequence[str], advance: Advance | None
    ) -> Op[list[BlobInfo]]:
        """Several small blobs in one ``POST /v1/blobs/batch``, read from their files here."""
        body, size = yield Blocking(functools.partial(read_batch, sources, digests))
        call = Call(
            method="POST",
            url=paths.BLOBS_BATCH,
            headers={"Content-Type": BLOB_BATCH},
            content=body,
        )
        # Idempotent: sending the same blobs again stores nothing new.
        response = yield from self.request(call, idempotent=True, ok=(404, 405))
        if response.status_code in (404, 405):  # a server before 0.3: one request per blob
            each: list[BlobInfo] = []
            for digest in digests:
                sha256 = digest.removeprefix("sha256:")
                item = sources.by_sha256[sha256]
                source = FileRange(item.source, 0, item.size)
                each.append(
                    (yield from self.upload(source, sha256, chunk_size=SMALL_BLOB, advance=advance))
                )
            return each
        found = _json(response, "blob batch")
        blobs = parse("blob batch", lambda b: [blob_from_json(x) for x in b["blobs"]], found)
        if advance is not None:
            advance(size)
        return blobs

    def file_digest(self, source: FileRange, digest: str | None) -> Op[str]:
        """``digest`` checked, or the sha256 of the file when it is None (hashing blocks)."""
        if digest is not None:
            return str(Digest.parse(digest, algorithm="sha256"))
        pair = yield Blocking(functools.partial(digest_file, source.path))
        return str(pair.sha256_digest)

    # --- upload sessions -----------------------------------------------------------------------

    def create_upload(self, length: int | None = None) -> Op[UploadStatus]:
        """``POST /v1/uploads``; a duplicate session made by a retry just expires unused."""
        headers = {UPLOAD_LENGTH: str(length)} if length is not None else {}
        call = Call(method="POST", url=paths.UPLOADS, headers=headers)
        response = yield from self.request(call, idempotent=True)
        body = _json(response, "upload session")
        location = response.headers.get("Location") or parse(
            "upload session", lambda b: paths.upload(str(b["id"])), body
        )
        return parse("upload session", lambda b: upload_from_json(b, location=location), body)

    def upload_offset(self, location: str) -> Op[int]:
        """The durable offset of a session (``HEAD``)."""
        call = Call(method="HEAD", url=location)
        response = yield from self.request(call, statuses=_UPLOAD)
        return parse("upload offset", int, response.headers.get(UPLOAD_OFFSET))

    def abort_upload(self, location: str) -> Op[None]:
        """``DELETE`` a session."""
        yield from self.request(Call(method="DELETE", url=location), statuses=_UPLOAD)

    def upload(
        self, source: FileRange, sha256: str, *, chunk_size: int, advance: Advance | None
    ) -> Op[BlobInfo]:
        """Upload a file as a blob: one PUT when small, else a resumable session."""
        size = source.length
        if size <= min(chunk_size, SMALL_BLOB):
            info = yield from self.put_blob(source, f"sha256:{sha256}")
            if advance is not None:
                advance(size)
            return info
        location, offset = yield from self._open_session(sha256, size)
        done = offset
        if advance is not None and done:
            advance(done)
        failures, restarts = 0, 0
        ahead = ChecksumAhead()  # the next chunk is hashed while this one is sent
        try:
            while offset < size:
                if failures >= self.retry.attempts:
                    raise UnavailableError(
                        f"upload of sha256:{sha256} makes no progress at byte {offset}",
                        offset=offset,
                    )
                try:
                    chunk = FileRange(source.path, offset, min(chunk_size, size - offset))
                    checksum = yield Blocking(functools.partial(ahead.take, chunk))
                    end = offset + chunk.length
                    if end < size:
                        following = FileRange(source.path, end, min(chunk_size, size - end))
                        yield Blocking(functools.partial(ahead.start, following))
                    offset = yield from self._patch(location, chunk, str(checksum))
                    failures = 0
                except UploadOffsetError as exc:  # the server holds another offset: go on from it
                    failures += 1
                    reported = offset_from_error(exc)
                    offset = (
                        reported
                        if reported is not None
                        else (yield from self.upload_offset(location))
                    )
                except UploadNotFoundError:  # expired or removed: only a new session helps
                    restarts += 1
                    if restarts > 2:
                        raise
                    yield Blocking(functools.partial(self.resume.forget, self.base_url, sha256))
                    location, offset = yield from self._open_session(sha256, size)
                except (ChecksumMismatchError, UnavailableError) as exc:
                    failures += 1
                    if failures >= self.retry.attempts:
                        raise
                    logger.info(
                        "upload of sha256:%s interrupted at byte %d: %s", sha256, offset, exc
                    )
                    yield Sleep(self.retry.delay(failures - 1))
                    # The HEAD retries on its own; if the server stays unreachable through all
                    # of that, give up now (the session is remembered: a re-run resumes it).
                    offset = yield from self.upload_offset(location)
                if advance is not None and offset > done:
                    advance(offset - done)
                    done = offset
        finally:
            ahead.close()
        return (yield from self._finalize(location, sha256))

    def _open_session(self, sha256: str, size: int) -> Op[tuple[str, int]]:
        """The remembered session of this blob and its offset, or a new session at 0."""
        load = functools.partial(self.resume.load, self.base_url, sha256, size)
        location: str | None = yield Blocking(load)
        if location is not None:
            try:
                offset = yield from self.upload_offset(location)
            except UploadNotFoundError:
                yield Blocking(functools.partial(self.resume.forget, self.base_url, sha256))
            else:
                if offset <= size:
                    logger.info(
                        "resuming upload of sha256:%s at byte %d of %d", sha256, offset, size
                    )
                    return location, offset
        session = yield from self.create_upload(size)
        save = functools.partial(self.resume.save, self.base_url, sha256, size, session.location)
        yield Blocking(save)
        return session.location, session.offset

    def _patch(self, location: str, chunk: FileRange, checksum: str) -> Op[int]:
        call = Call(
            method="PATCH",
            url=location,
            headers={
                UPLOAD_OFFSET: str(chunk.offset),
                UPLOAD_CHECKSUM: str(checksum),
                "Content-Type": OFFSET_OCTET_STREAM,
                "Content-Length": str(chunk.length),
            },
            content=chunk,
        )
        # Not idempotent: only failures before sending (and 503/429) are retried here; the
        # upload loop handles the rest by asking the server for its offset.
        response = yield from self.request(call, statuses=_UPLOAD)
        return parse("upload offset", int, response.headers.get(UPLOAD_OFFSET))

    def _finalize(self, location: str, sha256: str) -> Op[BlobInfo]:
        digest = f"sha256:{sha256}"
        forget = Blocking(functools.partial(self.resume.forget, self.base_url, sha256))
        call = Call(method="PUT", url=location, params={"digest": digest})
        try:
            response = yield from self.request(call, statuses=_UPLOAD)
        except DigestMismatchError:
            yield forget  # the server terminated that session
            raise
        except UploadNotFoundError:
            # A retried finalize whose first attempt completed: the blob is there (its blake3
            # is not in a HEAD answer, so it is left empty here).
            stat = yield from self.stat_blob(digest)
            yield forget
            return BlobInfo(digest=digest, sha256=sha256, blake3="", size=stat.size)
        yield forget
        return parse("upload finalize", blob_from_json, _json(response, "upload finalize"))

    # --- packages ------------------------------------------------------------------------------

    def push_plan(
        self,
        manifest: Manifest,
        existing: PackageInfo | None,
        sources: PushSources,
        progress: Progress | None,
    ) -> Op[tuple[bytes, list[str]]]:
        """The canonical bytes of a built manifest and the blobs the server lacks.

        An existing version is compared here, before any byte is sent, exactly as the
        library's ``push_directory`` compares (same error, same words).
        """
        data = encode_manifest(manifest)
        attempted = str(Digest.sha256_of(data))
        if existing is not None and existing.digest != attempted:
            raise conflict(existing.ref, existing.digest, attempted)
        missing = [] if existing is not None else (yield from self.missing_blobs(sources.digests()))
        if progress is not None:
            progress.start(manifest.total_size)
            progress.advance(manifest.total_size - sources.size_of(missing))
        return data, missing

    def commit_manifest(self, manifest: Manifest | bytes, tags: Sequence[str]) -> Op[CommitResult]:
        """``POST /v1/packages`` with the canonical CBOR and ``?tag=``."""
        data = manifest if isinstance(manifest, bytes) else encode_manifest(manifest)
        call = Call(
            method="POST",
            url=paths.PACKAGES,
            params=[("tag", validate_tag(t)) for t in tags],
            headers={"Content-Type": CBOR},
            content=data,
        )
        # Idempotent: the identical manifest again is a 200, never a second version.
        response = yield from self.request(call, idempotent=True)
        return parse(
            "package commit", lambda r: commit_from_json(r.json(), status=r.status_code), response
        )

    def commit_pushed(
        self, data: bytes, tags: Sequence[str], sources: PushSources, chunk_size: int
    ) -> Op[CommitResult]:
        """Commit a pushed manifest; blobs collected since the missing-query are sent again."""
        try:
            return (yield from self.commit_manifest(data, tags))
        except MissingBlobsError as exc:
            listed = exc.extra.get("missing", [])
            again = [d for d in listed if d.removeprefix("sha256:") in sources.by_sha256]
            if not again:
                raise
        for digest in again:
            item = sources.by_sha256[digest.removeprefix("sha256:")]
            source = FileRange(item.source, 0, item.size)
            yield from self.upload(
                source, digest.removeprefix("sha256:"), chunk_size=chunk_size, advance=None
            )
        return (yield from self.commit_manifest(data, tags))

    def get_manifest(self, ref: str) -> Op[tuple[PackageInfo, Manifest, bytes]]:
        """Resolve ``ref``; the manifest is checked against the package digest."""
        body = yield from self.get_json(paths.ref(str(PackageRef.parse(ref))), "reference")
        info = parse("reference", lambda b: package_from_json(b["package"]), body)
        manifest = manifest_from_json(parse("reference", lambda b: b["manifest"], body))
        data = encode_manifest(manifest)
        if str(Digest.sha256_of(data)) != info.digest:
            raise VerificationError(
                f"the manifest the server sent for {info.ref} does not match {info.digest}",
                digest=info.digest,
            )
        return info, manifest, data

    def find_version(self, namespace: str, name: str, version: str) -> Op[PackageInfo | None]:
        """The package at ``namespace/name@version``, or None."""
        try:
            body = yield from self.get_json(paths.version(namespace, name, version), "version")
        except PackageNotFoundError:
            return None
        return parse("version", lambda b: package_from_json(b["package"]), body)

    def list_packages(
        self,
        *,
        prefix: str | None,
        namespace: str | None,
        name: str | None,
        kind: str | None,
        labels: Mapping[str, str] | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Op[Page[PackageInfo]]:
        """``GET /v1/packages`` (search)."""
        params: list[tuple[str, str | int]] = [("limit", limit)]
        for key, value in (("prefix", prefix), ("namespace", namespace), ("name", name),
                           ("kind", kind), ("cursor", cursor)):  # fmt: skip
            if value is not None:
                params.append((key, value))
        params.extend(("label", f"{k}={v}") for k, v in (labels or {}).items())
        params.extend((k, format_time(t)) for k, t in (("since", since), ("until", until)) if t)
        body = yield from self.get_json(paths.PACKAGES, "package search", params=params)
        return parse("package search", _package_page, body)

    def list_versions(
        self, namespace: str, name: str, cursor: str | None, limit: int
    ) -> Op[Page[PackageInfo]]:
        """``GET …/-/versions``."""
        pkg = PackageName.parse(namespace, name)
        params: dict[str, str | int] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        url = paths.versions(pkg.namespace, pkg.name)
        body = yield from self.get_json(url, "versions", params=params)
        return parse("versions", _package_page, body)

    def locate_file(self, ref: str, path: str) -> Op[tuple[FileEntry, str]]:
        """A file's manifest entry and the URL of its bytes."""
        validate_path(path)
        info, manifest, _ = yield from self.get_manifest(ref)
        entry = manifest.find_file(path)
        if entry is None:
            raise FileNotInPackageError(f"{info.ref} has no file {path!r}", ref=info.ref, path=path)
        return entry, paths.file(info.namespace, info.name, info.version, path)

    # --- tags ----------------------------------------------------------------------------------

    def list_tags(self, namespace: str, name: str) -> Op[list[TagInfo]]:
        """``GET …/-/tags``."""
        pkg = PackageName.parse(namespace, name)
        body = yield from self.get_json(paths.tags(pkg.namespace, pkg.name), "tags")
        ns, nm = pkg.namespace, pkg.name
        return parse(
            "tags", lambda b: [tag_from_json(t, namespace=ns, name=nm) for t in b["items"]], body
        )

    def set_tag(self, target: str, tag: str) -> Op[PackageInfo]:
        """``PUT …/-/tags/{tag}``; a tag or bare-digest target is resolved first."""
        validate_tag(tag)
        parsed = PackageRef.parse(target)
        if parsed.name is None or parsed.kind == "tag":
            info, _, _ = yield from self.get_manifest(target)
            pkg, value = PackageName(info.namespace, info.name), info.digest
        else:
            pkg = parsed.name
            value = str(parsed.version if parsed.kind == "version" else parsed.digest)
        call = Call(
            method="PUT", url=paths.tag(pkg.namespace, pkg.name, tag), json={"target": value}
        )
        response = yield from self.request(call)
        return parse("tag", package_from_json, _json(response, "tag"))

    def remove_tag(self, namespace: str, name: str, tag: str) -> Op[None]:
        """``DELETE …/-/tags/{tag}``."""
        pkg = PackageName.parse(namespace, name)
        url = paths.tag(pkg.namespace, pkg.name, validate_tag(tag))
        yield from self.request(Call(method="DELETE", url=url))

    # --- events --------------------------------------------------------------------------------

    def read_events(self, after: int, limit: int, wait: float) -> Op[list[Event]]:
        """``GET /v1/events``; with ``wait``, a long-poll (the read timeout grows to match)."""
        params: dict[str, int | float] = {"after": after, "limit": limit}
        timeout = None
        if wait > 0:
            params["wait"] = wait
            read = (self.timeout.read or 60.0) + wait
            base = self.timeout
            timeout = httpx.Timeout(
                connect=base.connect, read=read, write=base.write, pool=base.pool
            )
        body = yield from self.get_json(paths.EVENTS, "events", params=params, timeout=timeout)
        return parse("events", lambda b: [event_from_json(e) for e in b["events"]], body)


def _package_page(body: Any) -> Page[PackageInfo]:  # noqa: ANN401 - decoded JSON
    return Page([package_from_json(p) for p in body["items"]], body.get("next_cursor"))


class ClientSettings:
    """What ``Client`` and ``AsyncClient`` expose of their :class:`Operations` (read-only)."""

    _ops: Operations

    @property
    def base_url(self) -> str:
        """The server, without a trailing slash."""
        return self._ops.base_url

    @property
    def timeout(self) -> httpx.Timeout:
        """The per-request timeout."""
        return self._ops.timeout

    @property
    def retry(self) -> RetryPolicy:
        """When and how often a request is retried."""
        return self._ops.retry
