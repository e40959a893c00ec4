"""Where blobs live inside a backend, and the checks every backend applies the same way.

Keys are relative POSIX paths, so the same layout serves a directory tree (``LocalBlobStore``)
and an object-store prefix. The algorithm is part of every key (blueprint §6.1): a blake3 hex is
64 characters too, and must never be mistaken for a sha256 address. A key is only ever derived
from a validated digest (:func:`blob_key`), never from raw input, so no request can reach a path
outside ``blobs/``.

The tree under a local store's data directory (distribution's ``paths.go`` idea)::

    <root>/blobs/sha256/ab/cd/<64 hex>   published blobs, read-only, never overwritten
    <root>/staging/<uuid>                in-flight writes (same filesystem: link() needs it)
    <root>/staging/sessions/<upload id>  bytes of resumable upload sessions (removed by the
                                         session layer: stage_discard, or published)

``ab`` and ``cd`` are the first two and next two hex characters of the digest, so no directory
holds more than about 1/65536 of the blobs. Anything else found under ``blobs/`` (a stray file,
a name that is not a valid key) is not a blob and is ignored when listing.
"""

from __future__ import annotations

import re
from typing import Final

from artifact_store.errors import (
    BlobCorruptError,
    DigestMismatchError,
    InvalidDigestError,
    InvalidInputError,
    SizeMismatchError,
)
from artifact_store.kernels.digest import DigestPair, Expected, is_hex64
from artifact_store.kernels.ranges import ByteRange

__all__ = [
    "BLOBS_DIR",
    "BLOB_PREFIX",
    "SESSIONS_DIR",
    "STAGING_DIR",
    "blob_dir",
    "blob_key",
    "check_expected",
    "check_stored",
    "is_fanout_name",
    "stored_span",
    "session_key",
    "sha256_of_key",
]

#: Top-level directory (or key prefix) of published blobs.
BLOBS_DIR: Final = "blobs"
#: Staged (in-flight) uploads; a sibling of ``BLOBS_DIR`` so a hard link can publish them.
STAGING_DIR: Final = "staging"
#: Every published key starts with this; the algorithm is part of the key.
BLOB_PREFIX: Final = f"{BLOBS_DIR}/sha256"
#: Staged bytes of resumable upload sessions, kept apart from one-shot writes (which
#: ``sweep_staging`` may remove) because a session outlives a process.
SESSIONS_DIR: Final = f"{STAGING_DIR}/sessions"

_HEX_DIGITS: Final = frozenset("0123456789abcdef")
_UPLOAD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _checked(sha256: str) -> str:
    if not is_hex64(sha256):
        raise InvalidDigestError(
            f"a blob address must be 64 lower-case hex characters, got {str(sha256)[:80]!r}",
            digest=str(sha256)[:80],
        )
    return sha256


def blob_dir(sha256: str) -> str:
    """The directory key holding the blob: ``blobs/sha256/ab/cd``.

    Raises:
        InvalidDigestError: ``sha256`` is not 64 lower-case hex characters.
    """
    hexdigest = _checked(sha256)
    return f"{BLOB_PREFIX}/{hexdigest[:2]}/{hexdigest[2:4]}"


def blob_key(sha256: str) -> str:
    """The key of a published blob: ``blobs/sha256/ab/cd/<64 hex>``.

    Raises:
        InvalidDigestError: ``sha256`` is not 64 lower-case hex characters.
    """
    return f"{blob_dir(sha256)}/{sha256}"


def session_key(upload_id: str) -> str:
    """The key of a session's staged bytes: ``staging/sessions/<upload id>``.

    Raises:
        InvalidInputError: ``upload_id`` is not a lower-case canonical UUID (the form the
            session layer issues); nothing else may become a file name.
    """
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise InvalidInputError(
            f"not an upload id: {str(upload_id)[:80]!r}", upload_id=str(upload_id)[:80]
        )
    return f"{SESSIONS_DIR}/{upload_id}"


def is_fanout_name(name: str) -> bool:
    """True for a fan-out directory name (two lower-case hex characters)."""
    return len(name) == 2 and set(name) <= _HEX_DIGITS


def sha256_of_key(key: str) -> str | None:
    """The sha256 a key addresses, or None when ``key`` is not exactly a blob key."""
    parts = key.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != BLOB_PREFIX:
        return None
    first, second, name = parts[2:]
    if not is_hex64(name) or first != name[:2] or second != name[2:4]:
        return None
    return name


def check_expected(expected: DigestPair | Expected | None, actual: DigestPair) -> None:
    """Compare what arrived with what the caller announced (every field it announced).

    The size is compared first: when it differs the digests differ too, and the size is the
    more useful thing to report.

    Raises:
        SizeMismatchError: the byte counts differ.
        DigestMismatchError: the sha256 or the blake3 differs.
    """
    if expected is None:
        return
    if expected.size is not None and expected.size != actual.size:
        raise SizeMismatchError(
            f"expected {expected.size} bytes, received {actual.size}",
            expected=expected.size,
            actual=actual.size,
        )
    for algorithm in ("sha256", "blake3"):
        want, got = getattr(expected, algorithm), getattr(actual, algorithm)
        if want is not None and want != got:
            raise DigestMismatchError(
                f"{algorithm} of the received bytes is {got}, expected {want}",
                algorithm=algorithm,
                expected=f"{algorithm}:{want}",
                actual=f"{algorithm}:{got}",
            )


def check_stored(expected: DigestPair, actual: DigestPair) -> None:
    """Compare a re-hash of a stored blob with what it should be (scrub, verify).

    Raises:
        BlobCorruptError: naming the blob and every field that differs.
    """
    differs = [
        field
        for field in ("size", "sha256", "blake3")
        if getattr(expected, field) != getattr(actual, field)
    ]
    if differs:
        raise BlobCorruptError(
            f"stored blob sha256:{expected.sha256} is corrupt: {', '.join(differs)} differ"
            f" (size {actual.size}, expected {expected.size})",
            digest=expected.sha256_digest,
            differs=differs,
            expected={field: getattr(expected, field) for field in differs},
            actual={field: getattr(actual, field) for field in differs},
        )


def stored_span(
    sha256: str, stored: int, size: int | None, byte_range: ByteRange | None
) -> tuple[int, int]:
    """The ``[start, stop)`` of a stored blob a read returns: all of it, or ``byte_range``.

    Raises:
        BlobCorruptError: ``size`` (what the catalog recorded) is given and is not ``stored``.
        InvalidRangeError: the range does not overlap the blob.
    """
    if size is not None and stored != size:
        raise BlobCorruptError(
            f"stored blob sha256:{sha256} has {stored} bytes, the catalog says {size}",
            digest=f"sha256:{sha256}",
            expected=size,
            actual=stored,
        )
    return (0, stored) if byte_range is None else byte_range.resolve(stored)
