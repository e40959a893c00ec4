"""``_batches`` re-cuts a PATCH body into fixed-size batches (ingest/uploads.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.ingest.uploads import _batches

pieces = st.lists(st.binary(max_size=40), max_size=30)


async def _collect(chunks: list[bytes], size: int) -> list[bytes]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [batch async for batch in _batches(source(), size)]


@settings(max_examples=200, deadline=None)
@given(pieces, st.integers(min_value=1, max_value=50))
async def test_batches_are_full_but_the_last_and_keep_every_byte(
    chunks: list[bytes], size: int
) -> None:
    batches = await _collect(chunks, size)
    assert b"".join(batches) == b"".join(chunks)
    assert all(len(batch) == size for batch in batches[:-1])
    assert all(0 < len(batch) <= size for batch in batches)
    assert all(type(batch) is bytes for batch in batches)


async def test_a_piece_that_is_a_whole_batch_is_not_copied() -> None:
    piece = bytes(range(16))
    [batch] = await _collect([piece], 16)
    assert batch is piece


async def test_bytes_received_before_a_failure_are_handed_over_first() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"abcdefg"
        raise ConnectionResetError("client left")

    seen: list[bytes] = []

    async def drain() -> None:
        async for batch in _batches(failing(), 3):
            seen.append(batch)

    with pytest.raises(ConnectionResetError):
        await drain()
    assert seen == [b"abc", b"def", b"g"]
