"""Digests (kernels.digest): the strict text form and every hasher against hashlib + blake3."""

import hashlib
import io
import threading
from collections.abc import AsyncIterator, Iterator
from itertools import pairwise
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.errors import InvalidDigestError, PayloadTooLargeError
from artifact_store.kernels.digest import (
    Digest,
    Digester,
    DigestPair,
    ThreadedDigester,
    adigest_chunks,
    digest_bytes,
    digest_chunks,
    digest_file,
    digest_stream,
    is_hex64,
)
from artifact_store.kernels.limits import CHUNK_SIZE

HEX = "0123456789abcdef" * 4


def expected(data: bytes) -> DigestPair:
    """The reference answer, straight from hashlib and the blake3 package."""
    return DigestPair(hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest(), len(data))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (clamped and sorted; empty pieces kept)."""
    points = sorted(min(cut, len(data)) for cut in cuts)
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


def digest_threads() -> set[threading.Thread]:
    """The live worker threads of every ThreadedDigester."""
    return {t for t in threading.enumerate() if t.name.startswith("digest-")}


# --- Digest.parse ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_parse_accepts_algorithm_and_64_lower_hex(algorithm: str) -> None:
    digest = Digest.parse(f"{algorithm}:{HEX}")
    assert (digest.algorithm, digest.hex) == (algorithm, HEX)


@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_str_round_trips(algorithm: str) -> None:
    text = f"{algorithm}:{HEX}"
    assert str(Digest.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("sha256:" + HEX.upper(), id="upper-hex"),
        pytest.param("sha256:" + HEX[:-1] + "A", id="one-upper-hex-digit"),
        pytest.param("SHA256:" + HEX, id="upper-algorithm"),
        pytest.param("sha256:" + HEX[:63], id="63-hex"),
        pytest.param("sha256:" + HEX + "0", id="65-hex"),
        pytest.param("sha256:" + "g" * 64, id="non-hex"),
        pytest.param("sha512:" + HEX, id="sha512-64"),
        pytest.param("sha512:" + HEX * 2, id="sha512-128"),
        pytest.param("md5:" + HEX[:32], id="md5"),
        pytest.param(HEX, id="bare-hex"),
        pytest.param("sha256" + HEX, id="no-colon"),
        pytest.param("sha256::" + HEX, id="double-colon"),
        pytest.param(" sha256:" + HEX, id="leading-space"),
        pytest.param("sha256:" + HEX + " ", id="trailing-space"),
        pytest.param("sha256:" + HEX + "\n", id="trailing-newline"),
        pytest.param("\nsha256:" + HEX, id="leading-newline"),
        pytest.param("sha256: " + HEX[1:], id="space-after-colon"),
        pytest.param("sha256:" + "\u0661" * 64, id="arabic-indic-digits"),
        pytest.param("sha256:" + "\uff10" * 64, id="fullwidth-digits"),
        pytest.param("", id="empty"),
        pytest.param("sha256:", id="algorithm-only"),
        pytest.param(":" + HEX, id="hex-only"),
        pytest.param("sha256:" + HEX * 50, id="long"),
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(text)


@pytest.mark.parametrize("value", [None, 42, b"sha256:" + HEX.encode(), ["sha256", HEX]])
def test_parse_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(value)  # type: ignore[arg-type]


def test_parse_rejects_blake3_where_sha256_is_required() -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(f"blake3:{HEX}", algorithm="sha256")


def test_parse_rejects_sha256_where_blake3_is_required() -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(f"sha256:{HEX}", algorithm="blake3")


def test_parse_with_matching_algorithm_accepts() -> None:
    assert Digest.parse(f"sha256:{HEX}", algorithm="sha256") == Digest("sha256", HEX)


def test_sha256_of_matches_hashlib() -> None:
    assert Digest.sha256_of(b"abc") == Digest("sha256", hashlib.sha256(b"abc").hexdigest())


@pytest.mark.parametrize(
    ("text", "ok"),
    [(HEX, True), (HEX.upper(), False), (HEX[:63], False), (HEX + "0", False), (None, False)],
)
def test_is_hex64(text: object, ok: bool) -> None:
    assert is_hex64(text) is ok


def test_digest_pair_prefixed_forms() -> None:
    pair = digest_bytes(b"x")
    assert pair.sha256_digest == f"sha256:{pair.sha256}"
    assert pair.blake3_digest == f"blake3:{pair.blake3}"


# --- hashers agree with hashlib + blake3 -------------------------------------------------------

chunked = st.tuples(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=8)).map(
    lambda pair: (pair[0], split(*pair))
)


@settings(max_examples=200, deadline=None)
@given(chunked)
def test_digester_matches_reference(case: tuple[bytes, list[bytes]]) -> None:
    data, chunks = case
    digester = Digester()
    for chunk in chunks:
        digester.update(chunk)
    assert digester.finish() == expected(data)


@settings(max_examples=100, deadline=None)
@given(chunked)
def test_threaded_digester_matches_reference(case: tuple[bytes, list[bytes]]) -> None:
    data, chunks = case
    digester = ThreadedDigester()
    try:
        for chunk in chunks:
            digester.update(chunk)
        assert digester.finish() == expected(data)
    finally:
        digester.close()


@settings(max_examples=100, deadline=None)
@given(chunked, st.integers(min_value=1, max_value=5))
def test_update_many_matches_reference(case: tuple[bytes, list[bytes]], group: int) -> None:
    data, chunks = case
    groups = [chunks[at : at + group] for at in range(0, len(chunks), group)]
    for digester in (Digester(), ThreadedDigester()):
        try:
            for index, parts in enumerate(groups):  # lists and single chunks, interleaved
                if index % 2:
                    digester.update_many(parts)
                else:
                    for part in parts:
                        digester.update(part)
            assert digester.finish() == expected(data)
            assert digester.size == len(data)
        finally:
            digester.close()


def test_update_many_over_limit_raises_payload_too_large() -> None:
    for digester in (Digester(limit=10), ThreadedDigester(limit=10)):
        try:
            digester.update_many([b"x" * 6])
            with pytest.raises(PayloadTooLargeError):
                digester.update_many([b"x" * 2, b"x" * 3])
        finally:
            digester.close()


@settings(max_examples=100, deadline=None)
@given(chunked)
def test_digest_chunks_matches_reference(case: tuple[bytes, list[bytes]]) -> None:
    data, chunks = case
    assert digest_chunks(iter(chunks)) == expected(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_digest_bytes_matches_reference(data: bytes) -> None:
    assert digest_bytes(data) == expected(data)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4096), st.sampled_from([None, 0, 1 << 30]))
def test_digest_stream_matches_reference(data: bytes, size_hint: int | None) -> None:
    assert digest_stream(io.BytesIO(data), size_hint=size_hint) == expected(data)


@pytest.mark.parametrize("size_hint", [None, 0])
def test_digest_stream_of_empty_input(size_hint: int | None) -> None:
    assert digest_stream(io.BytesIO(b""), size_hint=size_hint) == expected(b"")


def test_every_hasher_agrees_on_empty_input() -> None:
    assert digest_bytes(b"") == expected(b"")
    assert digest_chunks([]) == expected(b"")
    assert digest_chunks([b"", b""]) == expected(b"")
    empty = ThreadedDigester()
    assert empty.finish() == expected(b"")


@pytest.fixture(scope="module")
def big() -> bytes:
    """A few MiB that cross several CHUNK_SIZE boundaries and end mid-chunk."""
    pattern = hashlib.sha256(b"seed").digest() * (CHUNK_SIZE // 32)
    return (pattern * 4)[: 4 * CHUNK_SIZE + 12345]


def test_digest_stream_of_a_few_mib(big: bytes) -> None:
    assert digest_stream(io.BytesIO(big)) == expected(big)


def test_digest_stream_single_threaded_of_a_few_mib(big: bytes) -> None:
    assert digest_stream(io.BytesIO(big), size_hint=0) == expected(big)


def test_digest_chunks_of_a_few_mib_in_odd_chunks(big: bytes) -> None:
    step = CHUNK_SIZE - 7
    pieces = [big[i : i + step] for i in range(0, len(big), step)]
    assert digest_chunks(pieces) == expected(big)


def test_digest_file_of_a_few_mib(tmp_path: Path, big: bytes) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    assert digest_file(path) == expected(big)


@pytest.mark.parametrize("content", [b"", b"hello\n"])
def test_digest_file_of_small_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(content)
    assert digest_file(path) == expected(content)


async def test_adigest_chunks_matches_reference() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"c" * 1000):
            yield piece

    assert await adigest_chunks(chunks()) == expected(b"ab" + b"c" * 1000)


# --- limits and thread hygiene -----------------------------------------------------------------


def test_digester_over_limit_raises_payload_too_large() -> None:
    digester = Digester(limit=10)
    digester.update(b"x" * 10)
    with pytest.raises(PayloadTooLargeError):
        digester.update(b"x")


def test_threaded_digester_at_limit_is_accepted() -> None:
    digester = ThreadedDigester(limit=10)
    digester.update(b"x" * 10)
    assert digester.finish() == expected(b"x" * 10)


def test_threaded_digester_over_limit_raises_payload_too_large() -> None:
    digester = ThreadedDigester(limit=10)
    try:
        digester.update(b"x" * 6)
        with pytest.raises(PayloadTooLargeError) as info:
            digester.update(b"x" * 5)
        assert info.value.extra == {"limit": "blob", "value": 11, "maximum": 10}
    finally:
        digester.close()


def test_digest_chunks_over_limit_raises_and_stops_its_threads() -> None:
    before = digest_threads()

    def chunks() -> Iterator[bytes]:
        yield b"x" * 8
        yield b"x" * 8

    with pytest.raises(PayloadTooLargeError):
        digest_chunks(chunks(), limit=10)
    assert digest_threads() <= before


def test_threaded_digester_close_is_idempotent_and_stops_threads() -> None:
    before = digest_threads()
    digester = ThreadedDigester()
    digester.update(b"abc")
    assert len(digest_threads() - before) == 2
    digester.close()
    digester.close()
    assert digest_threads() <= before


def test_threaded_digester_finish_then_close_stops_threads() -> None:
    before = digest_threads()
    digester = ThreadedDigester()
    digester.update(b"abc")
    assert digester.finish() == expected(b"abc")
    digester.close()
    assert digest_threads() <= before
