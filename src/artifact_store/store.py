"""``ArtifactStore``: the library's one way in. Every front end calls these methods and nothing
below them.

Every mutation has one shape (CONVENTIONS §8.4): validate → make the bytes durable in the data
plane → one write transaction that re-checks, appends the events and runs their projections
(blueprint invariants 1 and 2). Reads run in read transactions and stream bytes from the blob
store in bounded chunks (invariant 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_store.blobstore.base import BlobStore, FileBacked, FileRegion, PutResult
from artifact_store.blobstore.layout import check_expected
from artifact_store.blobstore.registry import open_blobstore
from artifact_store.catalog import queries
from artifact_store.catalog import uploads as upload_rows
from artifact_store.catalog.db import Database
from artifact_store.catalog.migrate import is_initialized, upgrade
from artifact_store.catalog.ops import execute
from artifact_store.catalog.projections import project
from artifact_store.catalog.rebuild import RebuildReport, rebuild_views
from artifact_store.config import StoreConfig
from artifact_store.errors import (
    ArtifactStoreError,
    BlobCorruptError,
    BlobNotFoundError,
    DigestMismatchError,
    FileNotInPackageError,
    MissingBlobsError,
    PackageNotFoundError,
    SizeMismatchError,
    StoreNotInitializedError,
    TagNotFoundError,
    VersionConflictError,
)
from artifact_store.ingest.uploads import Uploads
from artifact_store.kernels.clock import Clock, SystemClock, format_time
from artifact_store.kernels.digest import Digest, DigestPair, Expected, digest_bytes, digest_file
from artifact_store.kernels.limits import (
    MAX_BATCH_BLOB_SIZE,
    MAX_BATCH_BLOBS,
    MAX_BATCH_BYTES,
    MAX_MANIFEST_BYTES,
    check_limit,
    check_size,
)
from artifact_store.kernels.names import (
    PackageName,
    PackageRef,
    validate_tag,
    validate_version,
)
from artifact_store.kernels.paths import validate_path
from artifact_store.kernels.progress import Progress
from artifact_store.kernels.ranges import ByteRange
from artifact_store.kernels.records import (
    BlobRecord,
    CommitResult,
    PackageInfo,
    PackageQuery,
    Page,
    StoredBlob,
    TagInfo,
    UploadSession,
)
from artifact_store.kernels.ring import ByteSource
from artifact_store.ledger import log
from artifact_store.ledger.codec import payload_to_value
from artifact_store.ledger.events import (
    BlobStored,
    BlobVerified,
    Event,
    NamespaceCreated,
    PackageCommitted,
    Payload,
    TagRemoved,
    TagSet,
)
from artifact_store.manifest import (
    FileEntry,
    Link,
    Manifest,
    Producer,
    build_manifest,
    decode_manifest,
    encode_manifest,
    validate_manifest,
)
from artifact_store.manifest.build import ScannedFile, scan_directory
from artifact_store.manifest.extract import extract

__all__ = [
    "ArtifactStore",
    "BlobRecord",
    "ByteSource",
    "CommitResult",
    "FileBacked",
    "FileRegion",
    "PackageInfo",
    "PackageQuery",
    "Page",
    "RebuildReport",
    "StoredBlob",
    "TagInfo",
    "UploadSession",
    "VerifyProblem",
    "VerifyReport",
    "event_to_json",
    "open_store",
]

#: How often a follower polls the log for events written by other processes.
_FOLLOW_POLL_SECONDS = 0.5
#: Blobs of one ``put_blobs`` batch written to the blob store at the same time (each write
#: waits mostly on its fsyncs, so a few in flight keep the disk busy).
BATCH_PARALLEL = 8


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    """One thing ``verify`` found wrong."""

    kind: str  # "chain" | "blob"
    subject: str
    detail: str
    packages: tuple[str, ...] = ()


@dataclass(slots=True)
class VerifyReport:
    """What ``verify`` checked and found."""

    deep: bool
    events: int = 0
    blobs: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


async def open_store(config: StoreConfig, *, clock: Clock | None = None) -> ArtifactStore:
    """Open (and with ``config.create``, initialise) a store.

    Raises:
        StoreNotInitializedError: no store there and ``create`` is False.
        DatabaseUnavailableError, StorageUnavailableError: a backend cannot be reached.
    """
    db = Database.open(config.database_url)
    try:
        async with db.write() as conn:
            if not await is_initialized(conn) and not config.create:
                raise StoreNotInitializedError(
                    "no artifact store here: run 'artifact-store init' first",
                    database=db.engine.url.render_as_string(hide_password=True),
                )
            if config.create or config.upgrade:
                await upgrade(conn)
        blobs = open_blobstore(config.blobstore_url)
        await blobs.sweep_staging(config.staging_grace)
    except BaseException:
        await db.close()
        raise
    return ArtifactStore(
        db,
        blobs,
        clock or SystemClock(),
        upload_idle_timeout=config.upload_idle_timeout,
        staging_grace=config.staging_grace,
    )


class ArtifactStore:
    """Blobs, packages, tags and the event log behind one async API."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        clock: Clock,
        *,
        upload_idle_timeout: timedelta = timedelta(hours=24),
        staging_grace: timedelta = timedelta(hours=6),
    ) -> None:
        self._db = db
        self._staging_grace = staging_grace
        self._blobs = blobs
        self._clock = clock
        self._appended = asyncio.Event()
        self._uploads = Uploads(db, blobs, clock, idle=upload_idle_timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the database engine and the blob store."""
        await self._blobs.close()
        await self._db.close()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect

    # --- the one writer --------------------------------------------------------------------

    async def _record(
        self, conn: AsyncConnection, payloads: Sequence[Payload], *, actor: str
    ) -> list[Event[Payload]]:
        """Append ``payloads`` and project them, in the caller's write transaction."""
        if not payloads:
            return []
        batch = log.build(await log.head(conn), payloads, actor=actor, now=self._clock.now())
        await log.write(conn, batch)
        await execute(conn, [op for event in batch for op in project(event)])
        return batch

    def _notify(self) -> None:
        """Wake followers in this process after a commit."""
        self._appended.set()
        self._appended = asyncio.Event()

    async def _register(self, conn: AsyncConnection, pairs: Sequence[DigestPair]) -> list[Payload]:
        """``blob.stored`` payloads for the durable blobs the catalog does not know yet."""
        unique = {p.sha256: p for p in pairs}
        known = await queries.find_blobs(conn, unique)
        payloads: list[Payload] = []
        for sha256, pair in sorted(unique.items()):
            row = known.get(sha256)
            if row is not None and row.state != "deleted":
                if (row.blake3, row.size) != (pair.blake3, pair.size):
                    raise BlobCorruptError(
                        f"blob sha256:{sha256} is recorded with another blake3 or size",
                        digest=f"sha256:{sha256}",
                    )
                continue
            payloads.append(BlobStored(sha256=sha256, blake3=pair.blake3, size=pair.size))
        return payloads

    async def _catalog_blobs(
        self, conn: AsyncConnection, pairs: Sequence[DigestPair], *, actor: str
    ) -> list[StoredBlob]:
        """Record ``blob.stored`` for the durable blobs ``pairs`` the catalog lacks, in the
        caller's write transaction; their records in order (``created``: new to the store)."""
        payloads = await self._register(conn, pairs)
        await self._record(conn, payloads, actor=actor)
        records = await queries.find_blobs(conn, [p.sha256 for p in pairs])
        created = {p.sha256 for p in payloads if isinstance(p, BlobStored)}
        return [StoredBlob(records[p.sha256], created=p.sha256 in created) for p in pairs]

    # --- blobs -----------------------------------------------------------------------------

    async def put_blob(
        self,
        source: AsyncIterable[bytes] | Path | ByteSource,
        *,
        actor: str,
        expected: DigestPair | None = None,
        digest: str | None = None,
    ) -> StoredBlob:
        """Store bytes (a stream, a local file, or a blocking :class:`ByteSource` such as a
        request body read off its socket: ADR-0018), hashing both digests in one pass.

        ``expected`` (all of sha256, blake3, size) or ``digest`` (a claimed ``sha256:`` or
        ``blake3:`` digest) are checked before anything is published. ``created`` says whether
        the store did not hold the blob before.

        Raises:
            InvalidDigestError: a malformed ``digest``.
            DigestMismatchError, SizeMismatchError: the bytes are not what was claimed; nothing
                is stored.
            PayloadTooLargeError: over ``MAX_BLOB_SIZE``.
        """
        claim: DigestPair | Expected | None = expected
        if digest is not None:
            claim = Expected.of(Digest.parse(digest))
        if isinstance(source, Path):
            result = await self._blobs.put_file(source, expected=claim)
        elif isinstance(source, ByteSource):
            result = await self._blobs.put_source(source, expected=claim)
        else:
            result = await self._blobs.put(source, expected=claim)
        async with self._db.write() as conn:
            (stored,) = await self._catalog_blobs(conn, [result.digests], actor=actor)
        self._notify()
        return stored

    async def put_blobs(
        self, items: Sequence[tuple[str, bytes]], *, actor: str
    ) -> list[StoredBlob]:
        """Store several small blobs at once: ``(claimed digest, bytes)`` pairs, in one
        catalog transaction (one durable commit for all of them, instead of one per blob).

        Every claim (``sha256:`` or ``blake3:``) is checked before anything is stored, so a
        batch with one wrong digest stores nothing. The blobs are written to the blob store
        ``BATCH_PARALLEL`` at a time. The answer is in the order of ``items``; ``created`` says
        whether the blob was new to the store (for every item that carries it, if it repeats).

        Raises:
            InvalidDigestError: a malformed digest.
            DigestMismatchError: the bytes of an item do not match its digest; nothing stored.
            LimitExceededError, PayloadTooLargeError: over ``MAX_BATCH_BLOBS``,
                ``MAX_BATCH_BLOB_SIZE`` or ``MAX_BATCH_BYTES``.
        """
        check_limit("blobs in a batch", len(items), MAX_BATCH_BLOBS)
        for index, (_, data) in enumerate(items):
            check_size(f"blob {index} of a batch", len(data), MAX_BATCH_BLOB_SIZE)
        check_size("blobs of a batch", sum(len(data) for _, data in items), MAX_BATCH_BYTES)
        claims = [Expected.of(Digest.parse(digest)) for digest, _ in items]
        pairs = await asyncio.to_thread(lambda: [digest_bytes(data) for _, data in items])
        for index, (claim, pair) in enumerate(zip(claims, pairs, strict=True)):
            try:
                check_expected(claim, pair)
            except DigestMismatchError as exc:
                raise DigestMismatchError(
                    f"blob {index} of the batch: {exc}", index=index, **exc.extra
                ) from None
        unique = {pair.sha256: (pair, data) for pair, (_, data) in zip(pairs, items, strict=True)}
        limit = asyncio.Semaphore(BATCH_PARALLEL)

        async def put(pair: DigestPair, data: bytes) -> None:
            async with limit:
                await self._blobs.put(_one(data), expected=pair)

        async with asyncio.TaskGroup() as group:
            for pair, data in unique.values():
                group.create_task(put(pair, data))
        async with self._db.write() as conn:
            stored = await self._catalog_blobs(conn, pairs, actor=actor)
        self._notify()
        return stored

    async def stat_blob(self, digest: str) -> BlobRecord:
        """The catalog's record of a blob, by ``sha256:`` or ``blake3:`` digest.

        Raises:
            InvalidDigestError: a malformed digest.
            BlobNotFoundError: the blob is not stored.
        """
        parsed = Digest.parse(digest)
        async with self._db.read() as conn:
            if parsed.algorithm == "sha256":
                record = await queries.find_blob(conn, parsed.hex)
            else:
                record = await queries.find_blob_by_blake3(conn, parsed.hex)
        if record is None or record.state == "deleted":
            raise BlobNotFoundError(f"no blob {digest}", digest=digest)
        return record

    async def missing_blobs(self, digests: Sequence[str]) -> list[str]:
        """Which of ``digests`` (``sha256:`` form) the store does not hold."""
        parsed = [Digest.parse(d, algorithm="sha256") for d in digests]
        async with self._db.read() as conn:
            known = await queries.find_blobs(conn, [p.hex for p in parsed])
        return [str(p) for p in parsed if p.hex not in known or known[p.hex].state == "deleted"]

    async def open_blob(
        self, digest: str, byte_range: ByteRange | None = None
    ) -> tuple[BlobRecord, AsyncIterator[bytes]]:
        """A stored blob's record and a stream of its bytes (or of ``byte_range`` of them)."""
        record = await self.stat_blob(digest)
        if byte_range is not None:
            byte_range.resolve(record.size)  # InvalidRangeError before any byte moves
        return record, self._blobs.open(record.sha256, byte_range, size=record.size)

    # --- upload sessions (resumable) -------------------------------------------------------

    async def create_upload(self, *, actor: str, length: int | None = None) -> UploadSession:
        """Open a resumable upload session (``length``: the total size, when known)."""
        return await self._uploads.create(actor=actor, length=length)

    async def append_upload(
        self,
        upload_id: str,
        *,
        offset: int,
        chunks: AsyncIterable[bytes] | ByteSource,
        actor: str,
        checksum_sha256: bytes | None = None,
    ) -> UploadSession:
        """Append a chunk at ``offset`` (the session's durable offset), from a stream or a
        blocking :class:`ByteSource`; see ``ingest.uploads``.

        Raises:
            UploadOffsetError: ``offset`` is not the session's (``extra['offset']`` is).
            ChecksumMismatchError: the chunk did not match ``checksum_sha256``; discarded.
            UploadNotFoundError, UploadExpiredError, UploadStateError, PayloadTooLargeError.
        """
        return await self._uploads.append(
            upload_id, offset=offset, chunks=chunks, checksum_sha256=checksum_sha256
        )

    async def upload_status(self, upload_id: str) -> UploadSession:
        """The session's durable offset, length and expiry."""
        return await self._uploads.status(upload_id)

    async def finalize_upload(self, upload_id: str, *, digest: str, actor: str) -> StoredBlob:
        """Check the staged bytes against ``digest`` (``sha256:`` or ``blake3:``) and publish.

        Raises:
            DigestMismatchError: naming expected and actual; nothing stored, session failed.
            UploadNotFoundError, UploadExpiredError, UploadStateError.
        """
        claimed = Digest.parse(digest)
        async with self._uploads.lock(upload_id):
            session, pair = await self._uploads.digests(upload_id)
            actual = Digest(claimed.algorithm, getattr(pair, claimed.algorithm))
            if actual != claimed:
                failed = await self._uploads.end(session, ok=False)
                async with self._db.write() as conn:
                    await upload_rows.save_session(conn, failed)
                raise DigestMismatchError(
                    f"the uploaded bytes hash to {actual}, not {claimed}; nothing was stored",
                    expected=str(claimed),
                    actual=str(actual),
                )
            await self._blobs.stage_publish(upload_id, pair)
            done = await self._uploads.end(session, ok=True)
            async with self._db.write() as conn:
                (stored,) = await self._catalog_blobs(conn, [pair], actor=actor)
                await upload_rows.save_session(conn, done)
        self._notify()
        return stored

    async def abort_upload(self, upload_id: str, *, actor: str) -> None:
        """Remove an upload session and its staged bytes."""
        await self._uploads.abort(upload_id)

    async def expire_uploads(self) -> int:
        """The janitor: expire sessions idle past their timeout (returns how many) and sweep
        staged writes a crash left behind."""
        expired = await self._uploads.expire()
        await self._blobs.sweep_staging(self._staging_grace)
        return expired

    # --- packages --------------------------------------------------------------------------

    async def commit_package(
        self, manifest: Manifest | bytes, *, actor: str, tags: Sequence[str] = ()
    ) -> CommitResult:
        """Commit a package version described by ``manifest`` (a value or its canonical CBOR).

        Re-committing the identical manifest is a no-op; a different manifest at an existing
        version is a conflict. Every file's blob must be stored with the same size and blake3.

        Raises:
            ManifestInvalidError, NonCanonicalError, EncodingError: a bad manifest.
            VersionConflictError: another manifest holds this version.
            MissingBlobsError: blobs are missing (``extra['missing']`` lists them).
            DigestMismatchError, SizeMismatchError: a file's blake3 or size disagrees.
        """
        if isinstance(manifest, bytes):
            data = manifest
            manifest = decode_manifest(data)
        else:
            manifest = validate_manifest(manifest)
            data = encode_manifest(manifest)
        for tag in tags:
            validate_tag(tag)
        return await self._commit(manifest, data, new_blobs=[], tags=tags, actor=actor)

    async def _commit(
        self,
        manifest: Manifest,
        data: bytes,
        *,
        new_blobs: Sequence[DigestPair],
        tags: Sequence[str],
        actor: str,
    ) -> CommitResult:
        digest = Digest.sha256_of(data)
        async with self._db.read() as conn:
            existing = await self._existing_version(conn, manifest, str(digest))
            if existing is None:
                await self._check_files(conn, manifest, new_blobs)
        if existing is not None:
            return CommitResult(await self._set_tags(existing, tags, actor=actor), created=False)
        stored = await self._blobs.put(_one(data), limit=MAX_MANIFEST_BYTES)
        async with self._db.write() as conn:
            existing = await self._existing_version(conn, manifest, str(digest))
            if existing is None:
                await self._check_files(conn, manifest, new_blobs)
                payloads = await self._register(conn, [*new_blobs, stored.digests])
                if not await queries.namespace_exists(conn, manifest.namespace):
                    payloads.insert(0, NamespaceCreated(namespace=manifest.namespace))
                payloads.append(PackageCommitted(digest=str(digest), manifest=manifest))
                payloads.extend(
                    TagSet(
                        namespace=manifest.namespace, name=manifest.name, tag=t, target=str(digest)
                    )
                    for t in tags
                )
                await self._record(conn, payloads, actor=actor)
                info = await queries.find_package(conn, str(digest))
        if existing is not None:
            return CommitResult(await self._set_tags(existing, tags, actor=actor), created=False)
        self._notify()
        assert info is not None  # noqa: S101 - inserted in this very transaction
        return CommitResult(info, created=True)

    async def _existing_version(
        self, conn: AsyncConnection, manifest: Manifest, digest: str
    ) -> PackageInfo | None:
        """The package already at this version when it is identical; conflict otherwise."""
        found = await queries.find_package_version(
            conn, manifest.namespace, manifest.name, manifest.version
        )
        if found is None:
            return None
        if found.digest != digest:
            raise VersionConflictError(
                f"{found.ref} already exists with different content ({found.digest})",
                ref=found.ref,
                existing=found.digest,
                attempted=digest,
            )
        return found

    async def _check_files(
        self, conn: AsyncConnection, manifest: Manifest, incoming: Sequence[DigestPair]
    ) -> None:
        """Every file's blob is stored (or arriving in this commit) with matching size/blake3."""
        arriving = {p.sha256: p for p in incoming}
        known = await queries.find_blobs(conn, {f.sha256 for f in manifest.files} - set(arriving))
        missing: list[str] = []
        for entry in manifest.files:
            pair = arriving.get(entry.sha256)
            row = known.get(entry.sha256)
            if pair is not None:
                blake3, size = pair.blake3, pair.size
            elif row is not None and row.state == "stored":
                blake3, size = row.blake3, row.size
            else:
                missing.append(f"sha256:{entry.sha256}")
                continue
            if size != entry.size:
                raise SizeMismatchError(
                    f"{entry.path}: manifest says {entry.size} bytes, blob has {size}",
                    path=entry.path,
                )
            if blake3 != entry.blake3:
                raise DigestMismatchError(
                    f"{entry.path}: manifest blake3 does not match the stored blob's",
                    path=entry.path,
                    expected=f"blake3:{entry.blake3}",
                    actual=f"blake3:{blake3}",
                )
        if missing:
            unique = sorted(set(missing))
            raise MissingBlobsError(
                f"{len(unique)} blob(s) named by the manifest are not stored", missing=unique
            )

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
        subject: str | None = None,
        links: Sequence[Link] = (),
        tags: Sequence[str] = (),
        follow_symlinks: bool = False,
        progress: Progress | None = None,
    ) -> CommitResult:
        """Store every file under ``root`` (each read once) and commit them as one package.

        When the version exists, the directory is only hashed (nothing stored) and compared:
        identical content (same files, kind, labels, ...) succeeds without a change, anything
        else is a ``VersionConflictError``.
        """
        pkg = PackageName.parse(namespace, name)
        validate_version(version)
        for tag in tags:
            validate_tag(tag)
        async with self._db.read() as conn:
            existing = await queries.find_package_version(conn, pkg.namespace, pkg.name, version)
        created_at = format_time(self._clock.now())
        if existing is not None:
            created_at = existing.created
        pairs: list[DigestPair] = []

        async def ingest(item: ScannedFile) -> DigestPair:
            if existing is not None:  # compare only: hash, store nothing
                pair = await asyncio.to_thread(digest_file, item.source)
            else:
                result: PutResult = await self._blobs.put_file(
                    item.source, progress=None if progress is None else progress.advance
                )
                pair = result.digests
                pairs.append(pair)
                return pair
            if progress is not None:
                progress.advance(item.size)
            return pair

        if progress is not None:
            scanned = await asyncio.to_thread(scan_directory, root, follow_symlinks=follow_symlinks)
            progress.start(sum(f.size for f in scanned))

        manifest = await build_manifest(
            root,
            namespace=pkg.namespace,
            name=pkg.name,
            version=version,
            kind=kind,
            created=created_at,
            producer=producer or Producer(name="artifact-store"),
            labels=labels or {},
            annotations=annotations or {},
            subject=subject,
            links=tuple(links),
            digest=ingest,
            follow_symlinks=follow_symlinks,
        )
        return await self._commit(
            manifest, encode_manifest(manifest), new_blobs=pairs, tags=tags, actor=actor
        )

    async def resolve(self, ref: str | PackageRef) -> PackageInfo:
        """The package a reference names.

        Raises:
            InvalidRefError: a malformed reference.
            PackageNotFoundError, TagNotFoundError: nothing there.
        """
        parsed = ref if isinstance(ref, PackageRef) else PackageRef.parse(ref)
        async with self._db.read() as conn:
            return await self._resolve(conn, parsed)

    async def _resolve(self, conn: AsyncConnection, ref: PackageRef) -> PackageInfo:
        found: PackageInfo | None
        if ref.kind == "tag":
            assert ref.name is not None  # noqa: S101 - PackageRef.parse guarantees these
            assert ref.tag is not None  # noqa: S101
            tag = await queries.find_tag(conn, ref.name.namespace, ref.name.name, ref.tag)
            if tag is None:
                raise TagNotFoundError(f"no tag {ref}", ref=str(ref))
            found = await queries.find_package(conn, tag.target)
        elif ref.kind == "version":
            assert ref.name is not None  # noqa: S101
            assert ref.version is not None  # noqa: S101
            found = await queries.find_package_version(
                conn, ref.name.namespace, ref.name.name, ref.version
            )
        else:
            assert ref.digest is not None  # noqa: S101
            found = await queries.find_package(conn, ref.digest)
            if (
                found is not None
                and ref.name is not None
                and ((found.namespace, found.name) != (ref.name.namespace, ref.name.name))
            ):
                found = None
        if found is None or found.deleted:
            raise PackageNotFoundError(f"no package {ref}", ref=str(ref))
        return found

    async def get_manifest(self, ref: str | PackageRef) -> tuple[PackageInfo, Manifest, bytes]:
        """A package, its manifest, and the manifest's canonical bytes (checked against the
        digest before they are returned)."""
        info = await self.resolve(ref)
        sha256 = Digest.parse(info.digest, algorithm="sha256").hex
        chunks = [c async for c in self._blobs.open(sha256)]
        data = b"".join(chunks)
        if Digest.sha256_of(data).hex != sha256:
            raise BlobCorruptError(
                f"the manifest blob of {info.ref} does not match its digest", digest=info.digest
            )
        return info, decode_manifest(data), data

    async def list_packages(self, query: PackageQuery | None = None) -> Page[PackageInfo]:
        """Search packages (newest first), one page at a time."""
        async with self._db.read() as conn:
            return await queries.list_packages(conn, query or PackageQuery())

    async def list_tags(self, namespace: str, name: str) -> list[TagInfo]:
        """The tags of a package name."""
        pkg = PackageName.parse(namespace, name)
        async with self._db.read() as conn:
            return await queries.list_tags(conn, pkg.namespace, pkg.name)

    async def open_file(
        self, ref: str | PackageRef, path: str, byte_range: ByteRange | None = None
    ) -> tuple[FileEntry, AsyncIterator[bytes]]:
        """One file of a package: its manifest entry and a stream of its bytes.

        Raises:
            InvalidPathError: a malformed path.
            FileNotInPackageError: the package has no such file.
            InvalidRangeError: the range does not overlap the file.
        """
        validate_path(path)
        info = await self.resolve(ref)
        async with self._db.read() as conn:
            entry = await queries.find_file(conn, info.digest, path)
        if entry is None:
            raise FileNotInPackageError(f"{info.ref} has no file {path!r}", ref=info.ref, path=path)
        if byte_range is not None:
            byte_range.resolve(entry.size)
        return entry, self._blobs.open(entry.sha256, byte_range, size=entry.size)

    async def pull(
        self,
        ref: str | PackageRef,
        dest: Path,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> PackageInfo:
        """Write a package's files under ``dest``: paths re-checked, digests verified, atomic."""
        info, manifest, _ = await self.get_manifest(ref)

        async def opener(entry: FileEntry) -> AsyncIterator[bytes]:
            return self._blobs.open(entry.sha256, size=entry.size)

        await extract(manifest, dest, opener, progress=progress)
        return info

    # --- tags ------------------------------------------------------------------------------

    async def _set_tags(self, info: PackageInfo, tags: Sequence[str], *, actor: str) -> PackageInfo:
        for tag in tags:
            info = await self.set_tag(info.digest, tag, actor=actor)
        return info

    async def set_tag(self, target: str | PackageRef, tag: str, *, actor: str) -> PackageInfo:
        """Point ``tag`` of the target's package name at the target (create or move)."""
        validate_tag(tag)
        ref = target if isinstance(target, PackageRef) else PackageRef.parse(target)
        async with self._db.write() as conn:
            info = await self._resolve(conn, ref)
            current = await queries.find_tag(conn, info.namespace, info.name, tag)
            if current is None or current.target != info.digest:
                await self._record(
                    conn,
                    [TagSet(namespace=info.namespace, name=info.name, tag=tag, target=info.digest)],
                    actor=actor,
                )
            info = await self._resolve(conn, PackageRef("digest", digest=info.digest))
        self._notify()
        return info

    async def remove_tag(self, namespace: str, name: str, tag: str, *, actor: str) -> None:
        """Remove a tag.

        Raises:
            TagNotFoundError: there is no such tag.
        """
        pkg = PackageName.parse(namespace, name)
        validate_tag(tag)
        async with self._db.write() as conn:
            if await queries.find_tag(conn, pkg.namespace, pkg.name, tag) is None:
                raise TagNotFoundError(f"no tag {pkg}:{tag}", ref=f"{pkg}:{tag}")
            await self._record(
                conn, [TagRemoved(namespace=pkg.namespace, name=pkg.name, tag=tag)], actor=actor
            )
        self._notify()

    # --- events ----------------------------------------------------------------------------

    async def events(
        self, *, after: int = 0, limit: int = 100, namespace: str | None = None
    ) -> list[Event[Payload]]:
        """Events with ``seq > after``, in order."""
        limit = max(1, min(limit, 1000))
        async with self._db.read() as conn:
            return await log.read(conn, after=after, limit=limit, namespace=namespace)

    async def wait_events(
        self, *, after: int = 0, limit: int = 100, wait: float = 0.0
    ) -> list[Event[Payload]]:
        """Like :meth:`events`, but wait up to ``wait`` seconds for one to arrive."""
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            batch = await self.events(after=after, limit=limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            wake = self._appended
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, _FOLLOW_POLL_SECONDS))

    async def follow(self, *, after: int = 0) -> AsyncIterator[Event[Payload]]:
        """Every event after ``after``, then each new one as it is appended (never ends)."""
        while True:
            batch = await self.wait_events(after=after, limit=500, wait=30.0)
            for event in batch:
                yield event
                after = event.seq

    async def head(self) -> int:
        """The seq of the newest event (0 for an empty log)."""
        async with self._db.read() as conn:
            return (await log.head(conn)).seq

    # --- integrity -------------------------------------------------------------------------

    async def verify(self, *, deep: bool = False) -> VerifyReport:
        """Check the event chain and every stored blob (``deep``: re-hash both digests).

        Deep verification records a ``blob.verified`` event for each blob found intact when
        the chain itself is intact.
        """
        report = VerifyReport(deep=deep)
        async with self._db.read() as conn:
            report.events, broken = await log.verify(conn)
            if broken is not None:
                seq, why = broken
                report.problems.append(VerifyProblem("chain", f"event {seq}", why))
            damaged: dict[str, str] = {}
            intact: list[str] = []
            async for batch in queries.iter_blobs(conn):
                for blob in batch:
                    if blob.state != "stored":
                        continue
                    report.blobs += 1
                    reason = await self._check_blob(blob, deep=deep)
                    if reason is None:
                        intact.append(blob.sha256)
                    else:
                        damaged[blob.sha256] = reason
            users = await queries.packages_using_blobs(conn, sorted(damaged))
        for sha256, reason in sorted(damaged.items()):
            report.problems.append(
                VerifyProblem("blob", f"sha256:{sha256}", reason, tuple(users.get(sha256, ())))
            )
        if deep and intact and broken is None:
            async with self._db.write() as conn:
                await self._record(conn, [BlobVerified(sha256=s) for s in intact], actor="verify")
            self._notify()
        return report

    async def _check_blob(self, blob: BlobRecord, *, deep: bool) -> str | None:
        try:
            if deep:
                await self._blobs.verify(DigestPair(blob.sha256, blob.blake3, blob.size))
                return None
            found = await self._blobs.stat(blob.sha256)
        except ArtifactStoreError as exc:
            return str(exc)
        if found is None:
            return "missing from the blob store"
        if found.size != blob.size:
            return f"stored size {found.size} differs from the recorded {blob.size}"
        return None

    async def rebuild_views(self) -> RebuildReport:
        """Drop every view and rebuild it by replaying the log from seq 1."""
        async with self._db.write() as conn:
            return await rebuild_views(conn)

    async def dump_views(self) -> dict[str, list[tuple[object, ...]]]:
        """Every view table's rows, sorted (to compare a rebuild with the live state)."""
        async with self._db.read() as conn:
            return await queries.dump_views(conn)

    async def ping(self) -> None:
        """Raise unless the database answers (liveness of the catalog)."""
        await self._db.ping()

    async def check_ready(self) -> None:
        """Raise ``DatabaseUnavailableError`` or ``StorageUnavailableError`` unless both the
        database and the blob store answer (readiness)."""
        await self._db.ping()
        await self._blobs.exists("0" * 64)

    async def stats(self) -> dict[str, int]:
        """Counts for monitoring: stored blobs, live packages, events, open upload sessions."""
        async with self._db.read() as conn:
            counts = await queries.counts(conn)
            counts["events"] = (await log.head(conn)).seq
        counts["open_uploads"] = await self._uploads.count_open()
        return counts


def event_to_json(event: Event[Payload]) -> dict[str, object]:
    """An event as a JSON-ready dict (the payload in its wire form)."""
    return {
        "seq": event.seq,
        "id": str(event.id),
        "time": format_time(event.time),
        "type": event.type,
        "actor": event.actor,
        "payload": payload_to_value(event.payload),
        "hash": event.hash.hex(),
        "prev_hash": event.prev_hash.hex(),
    }


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
