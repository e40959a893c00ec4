"""The blob-batch body (``wire/batch.py``): what is written is read back, however it is cut."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifact_store.errors import EncodingError, LimitExceededError, PayloadTooLargeError
from artifact_store.kernels.limits import MAX_BATCH_BLOB_SIZE, MAX_BATCH_BLOBS, MAX_BATCH_BYTES
from artifact_store.wire.batch import MAX_BATCH_BODY_BYTES, BatchReader, encode_blob_batch


def item(data: bytes) -> tuple[str, bytes]:
    return f"sha256:{hashlib.sha256(data).hexdigest()}", data


def read(body: bytes, cuts: list[int] | None = None) -> list[tuple[str, bytes]]:
    reader = BatchReader()
    items: list[tuple[str, bytes]] = []
    start = 0
    for cut in sorted(cuts or []):
        items.extend(reader.feed(body[start:cut]))
        start = max(start, cut)
    items.extend(reader.feed(body[start:]))
    reader.finish()
    return items


@given(
    blobs=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_round_trip_whatever_the_chunking(blobs: list[bytes], cuts: list[int]) -> None:
    items = [item(b) for b in blobs]
    assert read(encode_blob_batch(items), cuts) == items


def test_empty_body_is_an_empty_batch() -> None:
    assert read(b"") == []


def test_blake3_digests_pass_through_unparsed() -> None:
    body = b"blake3:" + b"a" * 64 + b" 3\nabc"
    assert read(body) == [("blake3:" + "a" * 64, b"abc")]


@pytest.mark.parametrize(
    "body",
    [
        b"sha256:" + b"a" * 64 + b" 3\nab",  # ends inside the bytes
        b"sha256:" + b"a" * 64 + b" 3",  # ends inside the header
        b"sha256:" + b"a" * 64 + b"\nabc",  # no size
        b"sha256:" + b"a" * 64 + b" 03\nabc",  # leading zero
        b"sha256:" + b"a" * 64 + b" -3\nabc",  # not decimal
        b"sha256:" + b"a" * 64 + b" 3 4\nabc",  # three fields
        b"sha256:" + b"a" * 64 + b" \xd9\xa3\nabc",  # not ASCII
        b"x" * 200,  # no header line within the bound
    ],
)
def test_malformed_bodies_are_encoding_errors(body: bytes) -> None:
    with pytest.raises(EncodingError):
        read(body)


def test_an_oversized_item_is_refused_from_its_header() -> None:
    reader = BatchReader()
    with pytest.raises(PayloadTooLargeError):
        reader.feed(f"sha256:{'a' * 64} {MAX_BATCH_BLOB_SIZE + 1}\n".encode())


def test_too_many_items_are_refused() -> None:
    reader = BatchReader()
    one = f"sha256:{'a' * 64} 0\n".encode()
    reader.feed(one * MAX_BATCH_BLOBS)
    with pytest.raises(LimitExceededError):
        reader.feed(one)


def test_too_many_bytes_in_all_are_refused() -> None:
    reader = BatchReader()
    header = f"sha256:{'a' * 64} {MAX_BATCH_BLOB_SIZE}\n".encode()
    for _ in range(MAX_BATCH_BYTES // MAX_BATCH_BLOB_SIZE):
        reader.feed(header + bytes(MAX_BATCH_BLOB_SIZE))
    with pytest.raises(PayloadTooLargeError):
        reader.feed(header)


def test_the_body_bound_covers_a_full_batch() -> None:
    per_item = len(f"blake3:{'a' * 64} {MAX_BATCH_BLOB_SIZE}\n")
    assert MAX_BATCH_BYTES + MAX_BATCH_BLOBS * per_item <= MAX_BATCH_BODY_BYTES
