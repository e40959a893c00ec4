"""Digests: the ``Digest`` value type and the one-pass sha256 + blake3 hashers (ADR-0001).

Every blob has two identities computed in ONE pass over its bytes: sha256 (the address, OCI
compatible) and blake3 (verified beside it). Both hash implementations release the GIL on
large buffers, so :class:`ThreadedDigester` feeds each chunk to two worker threads and gets
both digests for the price of sha256 alone (TOOLING.md §2a: 1.60 GB/s for both versus
1.54 GB/s for sha256 alone on the project machine). :class:`Digester` is the single-thread
variant for small inputs, where starting threads costs more than it saves.

Text forms are strict: ``sha256:<64 lower-case hex>`` or ``blake3:<64 lower-case hex>``;
upper-case hex, other lengths, other algorithms and surrounding whitespace are all rejected,
because a blake3 hex and a sha256 hex have the same length and must never be confused.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Final, Literal, Self

import blake3 as _blake3

from artifact_store.errors import InvalidDigestError
from artifact_store.kernels.limits import CHUNK_SIZE, MAX_BLOB_SIZE, check_size
from artifact_store.kernels.ring import ByteSource, Consumer, at_most, pump

__all__ = [
    "ALGORITHMS",
    "Digest",
    "DigestPair",
    "Expected",
    "Digester",
    "ThreadedDigester",
    "adigest_chunks",
    "digest_bytes",
    "digest_chunks",
    "digest_file",
    "digest_source",
    "digest_stream",
    "is_hex64",
]

type Algorithm = Literal["sha256", "blake3"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("sha256", "blake3")
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Below this many bytes a threaded digest is slower than a plain loop.
_THREAD_THRESHOLD: Final = 4 * CHUNK_SIZE


def is_hex64(text: object) -> bool:
    """True when ``text`` is exactly 64 lower-case hex characters."""
    return isinstance(text, str) and len(text) == 64 and _HEX64.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed ``<algorithm>:<hex>`` digest; ``str()`` gives the canonical text."""

    algorithm: Algorithm
    hex: str

    @classmethod
    def parse(cls, text: str, *, algorithm: Algorithm | None = None) -> Self:
        """Parse ``sha256:<hex>`` or ``blake3:<hex>``; with ``algorithm``, only that one.

        Raises:
            InvalidDigestError: anything but the exact lower-case form.
        """
        if not isinstance(text, str) or len(text) > 80:
            raise InvalidDigestError(f"not a digest: {text!r}"[:120], digest=str(text)[:80])
        alg, sep, hexpart = text.partition(":")
        if not sep or alg not in ALGORITHMS:
            raise InvalidDigestError(
                f"digest must be sha256:<hex> or blake3:<hex>, got {text!r}", digest=text
            )
        if algorithm is not None and alg != algorithm:
            raise InvalidDigestError(
                f"expected a {algorithm} digest, got {text!r}", digest=text, expected=algorithm
            )
        if not is_hex64(hexpart):
            raise InvalidDigestError(
                f"digest hex must be 64 lower-case hex characters: {text!r}", digest=text
            )
        return cls(alg, hexpart)  # alg is one of ALGORITHMS (checked above)

    @classmethod
    def sha256_of(cls, data: bytes) -> Self:
        """The sha256 digest of ``data`` (small in-memory values such as manifests)."""
        return cls("sha256", hashlib.sha256(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True, slots=True)
class DigestPair:
    """Both identities of a byte string and its length; hex values are bare (no prefix)."""

    sha256: str
    blake3: str
    size: int

    @property
    def sha256_digest(self) -> str:
        """``sha256:<hex>``."""
        return f"sha256:{self.sha256}"

    @property
    def blake3_digest(self) -> str:
        """``blake3:<hex>``."""
        return f"blake3:{self.blake3}"


@dataclass(frozen=True, slots=True)
class Expected:
    """What a caller claims about bytes it is sending: any of sha256, blake3 (bare hex) and
    size. Fields left None are not checked."""

    sha256: str | None = None
    blake3: str | None = None
    size: int | None = None

    @classmethod
    def of(cls, digest: Digest) -> Expected:
        """The claim that the bytes have this digest."""
        if digest.algorithm == "sha256":
            return cls(sha256=digest.hex)
        return cls(blake3=digest.hex)


class Digester:
    """One pass over the bytes in the calling thread: each chunk feeds both hashers."""

    threaded: ClassVar[bool] = False

    def __init__(self, *, limit: int = MAX_BLOB_SIZE) -> None:
        self._sha256 = hashlib.sha256()
        self._blake3 = _blake3.blake3()
        self.size = 0
        self._limit = limit

    def update(self, chunk: bytes | memoryview) -> None:
        """Hash one more chunk (both digests)."""
        self.size += len(chunk)
        check_size("blob", self.size, self._limit)
        self._sha256.update(chunk)
        self._blake3.update(chunk)

    def update_many(self, chunks: Sequence[bytes]) -> None:
        """Hash several chunks in order (as :meth:`update` of each)."""
        for chunk in chunks:
            self.update(chunk)

    def finish(self) -> DigestPair:
        """Both digests of everything fed so far."""
        return DigestPair(self._sha256.hexdigest(), self._blake3.hexdigest(), self.size)

    def close(self) -> None:
        """Nothing to release; present so both digesters can be used alike."""


type _Item = bytes | memoryview | tuple[bytes, ...] | None


class ThreadedDigester:
    """sha256 and blake3 on two worker threads; the caller thread only hands chunks over.

    Chunks must be immutable (``bytes``) or not reused until :meth:`finish`: the workers read
    them later. Queues are bounded, so memory stays at ``2 x depth`` chunks whatever the input.
    Always call :meth:`finish` or :meth:`close` (``close`` is idempotent and safe in
    ``finally``), or the worker threads outlive the digester.
    """

    threaded: ClassVar[bool] = True
    _STOP: ClassVar[None] = None

    def __init__(self, *, limit: int = MAX_BLOB_SIZE, depth: int = 8) -> None:
        self.size = 0
        self._limit = limit
        self._sha256 = hashlib.sha256()
        self._blake3 = _blake3.blake3()
        self._queues: list[queue.Queue[_Item]] = [
            queue.Queue(depth),
            queue.Queue(depth),
        ]
        self._threads = [
            threading.Thread(target=self._work, args=(q, h), daemon=True, name=f"digest-{n}")
            for q, h, n in zip(self._queues, (self._sha256, self._blake3), ALGORITHMS, strict=True)
        ]
        self._errors: list[BaseException] = []
        self._closed = False
        for thread in self._threads:
            thread.start()

    def _work(self, q: queue.Queue[_Item], hasher: hashlib._Hash | _blake3.blake3) -> None:
        while (item := q.get()) is not None:
            try:
                if isinstance(item, tuple):
                    for chunk in item:
                        hasher.update(chunk)
                else:
                    hasher.update(item)
            except BaseException as exc:
                self._errors.append(exc)

    def update(self, chunk: bytes | memoryview) -> None:
        """Queue one more chunk for both hashers (blocks while both queues are full)."""
        self._queue(chunk, len(chunk))

    def update_many(self, chunks: Sequence[bytes]) -> None:
        """Queue several chunks as one item (no copy to join them; one hand-off per thread)."""
        item = tuple(chunks)
        self._queue(item, sum(map(len, item)))

    def _queue(self, item: _Item, size: int) -> None:
        self.size += size
        check_size("blob", self.size, self._limit)
        for q in self._queues:
            q.put(item)

    def close(self) -> None:
        """Stop the worker threads; idempotent."""
        if self._closed:
            return
        self._closed = True
        for q in self._queues:
            q.put(self._STOP)
        for thread in self._threads:
            thread.join()

    def finish(self) -> DigestPair:
        """Wait for both hashers and return the digests."""
        self.close()
        if self._errors:
            raise self._errors[0]
        return DigestPair(self._sha256.hexdigest(), self._blake3.hexdigest(), self.size)


def digest_bytes(data: bytes) -> DigestPair:
    """Both digests of an in-memory value."""
    digester = Digester()
    digester.update(data)
    return digester.finish()


def digest_chunks(chunks: Iterable[bytes], *, limit: int = MAX_BLOB_SIZE) -> DigestPair:
    """Both digests of a synchronous stream of immutable chunks, threaded."""
    digester = ThreadedDigester(limit=limit)
    try:
        for chunk in chunks:
            digester.update(chunk)
        return digester.finish()
    finally:
        digester.close()


def digest_stream(stream: BinaryIO, *, size_hint: int | None = None) -> DigestPair:
    """Both digests of a binary stream read in ``CHUNK_SIZE`` pieces (threads when large)."""
    threaded = size_hint is None or size_hint >= _THREAD_THRESHOLD
    digester: Digester | ThreadedDigester = ThreadedDigester() if threaded else Digester()
    try:
        while chunk := stream.read(CHUNK_SIZE):
            digester.update(chunk)
        return digester.finish()
    finally:
        digester.close()


def digest_file(path: Path) -> DigestPair:
    """Both digests of a file, one read pass (blocking: call it from a worker thread)."""
    with path.open("rb", buffering=0) as stream:
        size = path.stat().st_size
        return digest_stream(stream, size_hint=size)


def digest_source(
    source: ByteSource, *, sink: Consumer | None = None, limit: int = MAX_BLOB_SIZE
) -> DigestPair:
    """Both digests of a blocking source, each byte also handed to ``sink`` (the file writer):
    sha256, blake3 and the sink each run on a thread of their own over the same reused buffers
    (:func:`~artifact_store.kernels.ring.pump`: no copies, memory bounded). Blocking.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes.
        BaseException: what the sink or the source raised (the digests are then lost).
    """
    sha256, blake3 = hashlib.sha256(), _blake3.blake3()
    consumers: list[Consumer] = [sha256.update, blake3.update]
    if sink is not None:
        consumers.append(sink)
    size = pump(source, consumers, check=at_most(limit))
    return DigestPair(sha256.hexdigest(), blake3.hexdigest(), size)


async def adigest_chunks(chunks: AsyncIterable[bytes]) -> DigestPair:
    """Both digests of an async stream; hashing stays in the event-loop thread per chunk.

    Both hashers release the GIL, but without threads this is the one-loop speed; callers on
    a hot path use :class:`ThreadedDigester` from a worker thread instead.
    """
    digester = Digester()
    async for chunk in chunks:
        digester.update(chunk)
    return digester.finish()
