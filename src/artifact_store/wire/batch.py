"""The body of ``POST /v1/blobs/batch``: several small blobs in one request.

The media type is ``application/vnd.artifact-store.blob-batch``; the body is a sequence of
items, each a one-line header and the blob's bytes::

    item   = digest SP size LF bytes
    digest = "sha256:" 64HEXDIG / "blake3:" 64HEXDIG     (lower-case, as everywhere)
    size   = "0" / %x31-39 *DIGIT                        (decimal, no leading zeros)

A length-prefixed framing, rather than CBOR (whose data model here has no byte strings) or
multipart (boundaries to scan for), so the server parses it as it arrives, with a header line
of bounded length, and any client writes it with a few lines of code. Limits, all checked while
reading: ``MAX_BATCH_BLOBS`` items, ``MAX_BATCH_BLOB_SIZE`` bytes each, ``MAX_BATCH_BYTES`` of
blob bytes in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from artifact_store.errors import EncodingError
from artifact_store.kernels.limits import (
    MAX_BATCH_BLOB_SIZE,
    MAX_BATCH_BLOBS,
    MAX_BATCH_BYTES,
    check_limit,
    check_size,
)

__all__ = ["BLOB_BATCH", "MAX_BATCH_BODY_BYTES", "BatchReader", "encode_blob_batch"]

#: The media type of a batch body.
BLOB_BATCH: Final = "application/vnd.artifact-store.blob-batch"

#: Longest header line: "blake3:" + 64 hex, a space, 7 digits (1 MiB), the LF.
_MAX_HEADER: Final = 7 + 64 + 1 + len(str(MAX_BATCH_BLOB_SIZE)) + 1
#: Largest batch body: the blob bytes and a header line per blob.
MAX_BATCH_BODY_BYTES: Final = MAX_BATCH_BYTES + MAX_BATCH_BLOBS * _MAX_HEADER


def encode_blob_batch(items: Sequence[tuple[str, bytes]]) -> bytes:
    """The batch body for ``(digest, bytes)`` pairs."""
    parts: list[bytes] = []
    for digest, data in items:
        parts.append(f"{digest} {len(data)}\n".encode("ascii"))
        parts.append(data)
    return b"".join(parts)


class BatchReader:
    """Parses a batch body fed in chunks of any size; never holds more than one item beyond
    what it has returned."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._want: tuple[str, int] | None = None  # the header of the item being read
        self._count = 0
        self._total = 0

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """The items completed by ``chunk`` (digests not yet parsed).

        Raises:
            EncodingError: a malformed header line.
            LimitExceededError: more than ``MAX_BATCH_BLOBS`` items.
            PayloadTooLargeError: an item over ``MAX_BATCH_BLOB_SIZE`` or all over
                ``MAX_BATCH_BYTES``.
        """
        self._buffer += chunk
        done: list[tuple[str, bytes]] = []
        while True:
            if self._want is None:
                end = self._buffer.find(b"\n", 0, _MAX_HEADER)
                if end < 0:
                    if len(self._buffer) >= _MAX_HEADER:
                        raise EncodingError(f"blob batch item {self._count}: no header line")
                    return done
                self._want = self._header(bytes(self._buffer[:end]))
                del self._buffer[: end + 1]
            digest, size = self._want
            if len(self._buffer) < size:
                return done
            done.append((digest, bytes(self._buffer[:size])))
            del self._buffer[:size]
            self._want = None

    def finish(self) -> None:
        """Check that the body ended on an item boundary.

        Raises:
            EncodingError: the body ends inside an item.
        """
        if self._want is not None or self._buffer:
            raise EncodingError("blob batch: the body ends inside an item")

    def _header(self, line: bytes) -> tuple[str, int]:
        index = self._count
        self._count += 1
        check_limit("blobs in a batch", self._count, MAX_BATCH_BLOBS)
        try:
            digest, size_text = line.decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise EncodingError(
                f"blob batch item {index}: the header is not 'digest size'"
            ) from None
        if not size_text.isdecimal() or (size_text != "0" and size_text.startswith("0")):
            raise EncodingError(f"blob batch item {index}: size {size_text[:24]!r} is not decimal")
        size = int(size_text)
        check_size(f"blob {index} of a batch", size, MAX_BATCH_BLOB_SIZE)
        self._total += size
        check_size("blobs of a batch", self._total, MAX_BATCH_BYTES)
        return digest, size
