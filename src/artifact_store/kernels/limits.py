"""Every bound the library enforces, as a named constant, and the one function that checks them.

A limit is never enforced by a crash: exceeding one raises ``LimitExceededError`` (or its
``PayloadTooLargeError`` subclass for byte sizes) naming the limit, the value and the maximum.
"""

from __future__ import annotations

from typing import Final

from artifact_store.errors import LimitExceededError, PayloadTooLargeError

__all__ = [
    "CBOR_MAX_DEPTH",
    "CHUNK_SIZE",
    "DEFAULT_PAGE_SIZE",
    "MAX_ANNOTATIONS",
    "MAX_ANNOTATION_KEY_BYTES",
    "MAX_ANNOTATION_VALUE_BYTES",
    "MAX_BATCH_BLOBS",
    "MAX_BATCH_BLOB_SIZE",
    "MAX_BATCH_BYTES",
    "MAX_BLOB_SIZE",
    "MAX_EVENT_BODY_BYTES",
    "MAX_FILES",
    "MAX_JSON_BODY_BYTES",
    "MAX_KIND_BYTES",
    "MAX_LABELS",
    "MAX_LABEL_KEY_BYTES",
    "MAX_LABEL_VALUE_BYTES",
    "MAX_LINKS",
    "MAX_LINK_REL_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_MEDIA_TYPE_BYTES",
    "MAX_MISSING_QUERY",
    "MAX_NAMESPACE_BYTES",
    "MAX_NAME_BYTES",
    "MAX_PAGE_SIZE",
    "MAX_PATH_BYTES",
    "MAX_PATH_DEPTH",
    "MAX_PATH_SEGMENT_BYTES",
    "MAX_PRODUCER_FIELD_BYTES",
    "MAX_TAG_BYTES",
    "MAX_TEXT_BYTES",
    "MAX_VERSION_BYTES",
    "READ_PIECE_SIZE",
    "check_limit",
    "check_size",
]

#: Bytes moved per read/write/hash step on every streaming path (TOOLING.md §2: 1 MiB is the
#: sweet spot for hashlib, blake3 and file I/O alike).
CHUNK_SIZE: Final = 1 << 20

#: Largest piece a blob store's ``open`` yields when a stored blob is streamed out. Larger than
#: ``CHUNK_SIZE``: each piece crosses a thread hop and the whole HTTP send path once, and 4 MiB
#: pieces made a warm 1 GiB GET 20 % faster than 1 MiB ones (BENCHMARKS.md, HTTP). A stream
#: holds one piece at a time.
READ_PIECE_SIZE: Final = 4 << 20

#: Largest blob accepted (1 TiB).
MAX_BLOB_SIZE: Final = 1 << 40
#: Largest encoded manifest (OCI clients expect at least 4 MB to work; we allow 16 MiB so a
#: package of many thousands of files fits).
MAX_MANIFEST_BYTES: Final = 16 << 20
#: Largest encoded event body (a package.committed event embeds its manifest).
MAX_EVENT_BODY_BYTES: Final = MAX_MANIFEST_BYTES + (64 << 10)
#: Deepest nesting the strict CBOR decoder accepts (a manifest needs 4).
CBOR_MAX_DEPTH: Final = 16
#: Longest text string inside any decoded CBOR document.
MAX_TEXT_BYTES: Final = 64 << 10

MAX_FILES: Final = 100_000
MAX_PATH_BYTES: Final = 4096
MAX_PATH_SEGMENT_BYTES: Final = 255
MAX_PATH_DEPTH: Final = 64
MAX_MEDIA_TYPE_BYTES: Final = 255

MAX_NAMESPACE_BYTES: Final = 255
MAX_NAME_BYTES: Final = 128
MAX_VERSION_BYTES: Final = 128
MAX_TAG_BYTES: Final = 128
MAX_KIND_BYTES: Final = 64
MAX_PRODUCER_FIELD_BYTES: Final = 256

MAX_LABELS: Final = 64
MAX_LABEL_KEY_BYTES: Final = 128
MAX_LABEL_VALUE_BYTES: Final = 1024
MAX_ANNOTATIONS: Final = 256
MAX_ANNOTATION_KEY_BYTES: Final = 256
MAX_ANNOTATION_VALUE_BYTES: Final = 16 << 10
MAX_LINKS: Final = 256
#: Longest link ``rel`` (``derived-from``, ``evidence-for``, …) in a manifest.
MAX_LINK_REL_BYTES: Final = 64

#: Largest JSON request body other than a manifest (tag targets, missing-blob queries).
MAX_JSON_BODY_BYTES: Final = 1 << 20
#: Most digests one "which blobs are missing" query may ask about.
MAX_MISSING_QUERY: Final = 10_000

#: A batch of small blobs (``ArtifactStore.put_blobs``, ``POST /v1/blobs/batch``): at most this
#: many blobs, each at most ``MAX_BATCH_BLOB_SIZE`` and together at most ``MAX_BATCH_BYTES``.
#: A batch is held in memory whole, so these bound the memory one request can take; anything
#: larger goes through the streaming paths.
MAX_BATCH_BLOBS: Final = 1000
MAX_BATCH_BLOB_SIZE: Final = 1 << 20
MAX_BATCH_BYTES: Final = 16 << 20

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000


def check_limit(name: str, value: int, maximum: int) -> None:
    """Raise ``LimitExceededError`` when ``value`` exceeds ``maximum``.

    Raises:
        LimitExceededError: naming the limit, with ``value`` and ``maximum`` in ``extra``.
    """
    if value > maximum:
        raise LimitExceededError(
            f"{name} is {value}, over the limit of {maximum}",
            limit=name,
            value=value,
            maximum=maximum,
        )


def check_size(name: str, size: int, maximum: int) -> None:
    """Like :func:`check_limit` for byte sizes; raises ``PayloadTooLargeError``."""
    if size > maximum:
        raise PayloadTooLargeError(
            f"{name} is {size} bytes, over the limit of {maximum}",
            limit=name,
            value=size,
            maximum=maximum,
        )
