"""Pieces of the upload and push protocols that do not depend on sync or async I/O.

Reading a byte range of a file, the per-chunk ``Upload-Checksum`` (tus checksum extension:
``sha256 <base64>``), the upload target of a push, and the conflict a client-side comparison
finds. ``Client`` and ``AsyncClient`` run the loops; these are the rules they share.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from artifact_store.client._steps import FileRange
from artifact_store.errors import InvalidRefError, UploadOffsetError, VersionConflictError
from artifact_store.kernels.digest import DigestPair
from artifact_store.kernels.limits import CHUNK_SIZE
from artifact_store.kernels.names import PackageName, PackageRef, validate_version
from artifact_store.manifest import ScannedFile
from artifact_store.wire.batch import encode_blob_batch

__all__ = [
    "BATCH_BLOB",
    "BATCH_BYTES",
    "BATCH_COUNT",
    "DEFAULT_CHUNK_SIZE",
    "SMALL_BLOB",
    "Advance",
    "ChecksumAhead",
    "PushSources",
    "aiter_range",
    "chunk_checksum",
    "conflict",
    "iter_range",
    "offset_from_error",
    "plan_batches",
    "read_batch",
    "push_target",
]

#: Bytes per PATCH of a resumable upload (a lost chunk costs at most this much to resend).
#: Each PATCH waits for its bytes to be durable on the server (an fsync and a catalog commit)
#: before the next is sent: 1 GiB took 6.5 s in 8 MiB chunks, 4.9 s in 32 MiB and 4.3 s in
#: 64 MiB ones (before the checksums were computed ahead; BENCHMARKS.md, HTTP, fifth session).
DEFAULT_CHUNK_SIZE: Final = 32 << 20
#: Blobs up to this size go in one ``PUT /v1/blobs?digest=`` instead of a session.
SMALL_BLOB: Final = 8 << 20

#: Blobs up to this size are sent several per ``POST /v1/blobs/batch`` (one request and one
#: catalog commit for many small files), at most ``BATCH_COUNT`` blobs and ``BATCH_BYTES``
#: bytes per request; the server's limits are 1000 blobs and 16 MiB.
BATCH_BLOB: Final = 256 << 10
BATCH_BYTES: Final = 4 << 20
BATCH_COUNT: Final = 256

#: Receives the count of bytes that just moved.
type Advance = Callable[[int], None]


class ChecksumAhead:
    """Computes the ``Upload-Checksum`` of the chunk after the one being sent, on a thread of
    its own, so reading and hashing it overlaps the upload of the current one (blocking
    methods: an operation calls them through ``Blocking`` steps)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: tuple[FileRange, Future[str]] | None = None

    def start(self, chunk: FileRange) -> None:
        """Begin hashing ``chunk`` (the one expected next)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="upload-checksum")
        future = self._pool.submit(chunk_checksum, chunk.path, chunk.offset, chunk.length)
        self._ahead = (chunk, future)

    def take(self, chunk: FileRange) -> str:
        """The checksum of ``chunk``: the one computed ahead when it was this chunk (the server
        may have answered another offset), else computed now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            if ahead[0] == chunk:
                return ahead[1].result()
            ahead[1].cancel()
        return chunk_checksum(chunk.path, chunk.offset, chunk.length)

    def close(self) -> None:
        """Drop what is still ahead and let the thread end."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def chunk_checksum(path: Path, offset: int, length: int) -> str:
    """The ``Upload-Checksum`` value of ``length`` bytes of ``path`` from ``offset`` (blocking)."""
    hasher = hashlib.sha256()
    for piece in iter_range(path, offset, length):
        hasher.update(piece)
    return f"sha256 {base64.b64encode(hasher.digest()).decode('ascii')}"


def iter_range(path: Path, offset: int, length: int, piece: int = CHUNK_SIZE) -> Generator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, in pieces (blocking; stops early at EOF)."""
    with path.open("rb", buffering=0) as handle:
        handle.seek(offset)
        left = length
        while left > 0:
            data = handle.read(min(piece, left))
            if not data:
                return
            left -= len(data)
            yield data


async def aiter_range(
    path: Path, offset: int, length: int, piece: int = CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """:func:`iter_range` for the event loop: each read runs in a worker thread."""
    pieces = iter_range(path, offset, length, piece)
    try:
        while (data := await asyncio.to_thread(next, pieces, b"")) != b"":
            yield data
    finally:
        pieces.close()


def offset_from_error(exc: UploadOffsetError) -> int | None:
    """The server's offset named by a 409 ``upload_offset_mismatch`` problem, if it names one."""
    value = exc.extra.get("offset")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def push_target(
    ref: str | None, namespace: str | None, name: str | None, version: str | None
) -> tuple[PackageName, str]:
    """The package name and version a push writes: ``ref`` (``ns/name@version``) or the parts.

    Raises:
        InvalidRefError: neither a version reference nor all three parts.
        InvalidNameError: a part breaks its grammar.
    """
    if ref is not None:
        if namespace is not None or name is not None or version is not None:
            raise InvalidRefError("give a reference or namespace/name/version, not both", ref=ref)
        parsed = PackageRef.parse(ref)
        if parsed.kind != "version" or parsed.name is None or parsed.version is None:
            raise InvalidRefError(f"push needs namespace/name@version, got {ref!r}", ref=ref)
        return parsed.name, parsed.version
    if namespace is None or name is None or version is None:
        raise InvalidRefError("push needs namespace/name@version (or all three parts)", ref="")
    return PackageName.parse(namespace, name), validate_version(version)


def conflict(existing_ref: str, existing_digest: str, attempted: str) -> VersionConflictError:
    """The error the library raises when a version holds other content (same words, same extra)."""
    return VersionConflictError(
        f"{existing_ref} already exists with different content ({existing_digest})",
        ref=existing_ref,
        existing=existing_digest,
        attempted=attempted,
    )


@dataclass(slots=True)
class PushSources:
    """The local file that holds each blob of a push (the first file seen with that content)."""

    by_sha256: dict[str, ScannedFile] = field(default_factory=dict)

    def add(self, item: ScannedFile, pair: DigestPair) -> DigestPair:
        """Remember where ``pair``'s bytes are; return ``pair`` (a ``build_manifest`` digest)."""
        self.by_sha256.setdefault(pair.sha256, item)
        return pair

    def digests(self) -> list[str]:
        """Every distinct blob, as ``sha256:<hex>``."""
        return [f"sha256:{sha256}" for sha256 in self.by_sha256]

    def size_of(self, digests: list[str]) -> int:
        """The bytes these blobs hold."""
        return sum(self.by_sha256[d.removeprefix("sha256:")].size for d in digests)


def plan_batches(sources: PushSources, digests: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Split the blobs to send into batches of small ones and the others (sent one by one)."""
    batches: list[list[str]] = []
    singles: list[str] = []
    current: list[str] = []
    size = 0
    for digest in digests:
        item_size = sources.by_sha256[digest.removeprefix("sha256:")].size
        if item_size > BATCH_BLOB:
            singles.append(digest)
            continue
        if current and (len(current) == BATCH_COUNT or size + item_size > BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(digest)
        size += item_size
    if current:
        batches.append(current)
    return batches, singles


def read_batch(sources: PushSources, digests: Sequence[str]) -> tuple[bytes, int]:
    """The ``POST /v1/blobs/batch`` body of these (small) blobs, read from their files, and
    the count of blob bytes in it (blocking)."""
    items: list[tuple[str, bytes]] = []
    for digest in digests:
        item = sources.by_sha256[digest.removeprefix("sha256:")]
        items.append((digest, item.source.read_bytes()))
    return encode_blob_batch(items), sum(len(data) for _, data in items)
