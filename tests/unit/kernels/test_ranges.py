"""Byte ranges (kernels.ranges): the single-range header forms and resolution against a size."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.errors import InvalidRangeError
from artifact_store.kernels.ranges import ByteRange

# --- parse -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(start=0, stop=10)),
        ("bytes=0-0", ByteRange(start=0, stop=1)),
        ("bytes=5-5", ByteRange(start=5, stop=6)),
        ("bytes=100-", ByteRange(start=100)),
        ("bytes=0-", ByteRange(start=0)),
        ("bytes=-1", ByteRange(suffix=1)),
        ("bytes=-500", ByteRange(suffix=500)),
        ("bytes=-0", ByteRange(suffix=0)),
        ("bytes=007-010", ByteRange(start=7, stop=11)),
        ("bytes=9999999999999999999-", ByteRange(start=9_999_999_999_999_999_999)),
    ],
)
def test_parse(header: str, expected: ByteRange) -> None:
    assert ByteRange.parse(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=0-1,3-4", id="multi-range"),
        pytest.param("bytes=0-1, 3-4", id="multi-range-space"),
        pytest.param("bytes 0-9", id="content-range-style"),
        pytest.param("bytes=9-0", id="end-before-start"),
        pytest.param("bytes=-", id="no-numbers"),
        pytest.param("bytes=", id="no-spec"),
        pytest.param("bytes=5", id="no-dash"),
        pytest.param("bytes=--5", id="double-dash"),
        pytest.param("bytes=-5-", id="negative-start"),
        pytest.param("bytes=-1-5", id="negative-start-with-end"),
        pytest.param("bytes=1--5", id="negative-end"),
        pytest.param("bytes=" + "1" * 20 + "-", id="20-digit-start"),
        pytest.param("bytes=0-" + "1" * 20, id="20-digit-end"),
        pytest.param("bytes=-" + "1" * 20, id="20-digit-suffix"),
        pytest.param("bytes=+1-2", id="plus-sign"),
        pytest.param("bytes=1_0-20", id="underscore-digits"),
        pytest.param("bytes=0x10-20", id="hex"),
        pytest.param("bytes=1.5-2", id="fraction"),
        pytest.param("bytes=\u0660-\u0669", id="arabic-indic-digits"),
        pytest.param("bytes=\uff10-\uff19", id="fullwidth-digits"),
        pytest.param("bytes=\u00b2-3", id="superscript-digit"),
        pytest.param("items=0-9", id="other-unit"),
        pytest.param("Bytes=0-9", id="upper-case-unit"),
        pytest.param("bytes = 0-9", id="spaces-around-equals"),
        pytest.param("bytes=0 - 9", id="spaces-around-dash"),
        pytest.param("0-9", id="no-unit"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_rejects(header: str) -> None:
    with pytest.raises(InvalidRangeError):
        ByteRange.parse(header)


@pytest.mark.parametrize("value", [None, 5, b"bytes=0-9"])
def test_parse_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidRangeError):
        ByteRange.parse(value)  # type: ignore[arg-type]


def test_parse_ignores_surrounding_whitespace() -> None:
    assert ByteRange.parse(" bytes=0-9 ") == ByteRange(start=0, stop=10)


# --- of ----------------------------------------------------------------------------------------


def test_of_with_length() -> None:
    assert ByteRange.of(10, 5) == ByteRange(start=10, stop=15)


def test_of_to_the_end() -> None:
    assert ByteRange.of(10) == ByteRange(start=10)


@pytest.mark.parametrize(("start", "length"), [(-1, None), (-1, 5), (0, -1)])
def test_of_rejects_negative(start: int, length: int | None) -> None:
    with pytest.raises(InvalidRangeError):
        ByteRange.of(start, length)


# --- resolve -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=0-9", 5, (0, 5)),
        ("bytes=0-0", 1, (0, 1)),
        ("bytes=99-200", 100, (99, 100)),
        ("bytes=10-", 100, (10, 100)),
        ("bytes=0-", 1, (0, 1)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-100", 100, (0, 100)),
        ("bytes=-1000", 100, (0, 100)),
        ("bytes=-1", 1, (0, 1)),
        ("bytes=0-9999999999999999999", 100, (0, 100)),
    ],
)
def test_resolve_clamps(header: str, size: int, expected: tuple[int, int]) -> None:
    assert ByteRange.parse(header).resolve(size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        pytest.param("bytes=100-", 100, id="start-at-size"),
        pytest.param("bytes=100-200", 100, id="start-at-size-with-end"),
        pytest.param("bytes=101-", 100, id="start-past-size"),
        pytest.param("bytes=-0", 100, id="suffix-zero"),
        pytest.param("bytes=0-", 0, id="empty-blob"),
        pytest.param("bytes=0-0", 0, id="empty-blob-first-byte"),
        pytest.param("bytes=-5", 0, id="empty-blob-suffix"),
    ],
)
def test_resolve_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(InvalidRangeError):
        ByteRange.parse(header).resolve(size)


def test_resolve_of_length_range() -> None:
    assert ByteRange.of(3, 4).resolve(100) == (3, 7)


def test_resolve_of_past_the_end_is_unsatisfiable() -> None:
    with pytest.raises(InvalidRangeError):
        ByteRange.of(100, 1).resolve(100)


@settings(max_examples=200)
@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(1, 10**6),
)
def test_resolved_range_is_inside_the_blob(first: int, last: int, size: int) -> None:
    start, end = sorted((first, last))
    if start >= size:
        with pytest.raises(InvalidRangeError):
            ByteRange.parse(f"bytes={start}-{end}").resolve(size)
        return
    lo, hi = ByteRange.parse(f"bytes={start}-{end}").resolve(size)
    assert (lo, hi) == (start, min(end + 1, size))
    assert 0 <= lo < hi <= size


@settings(max_examples=200)
@given(st.integers(1, 10**6), st.integers(0, 10**6))
def test_resolved_suffix_is_the_tail(suffix: int, size: int) -> None:
    if size == 0:
        with pytest.raises(InvalidRangeError):
            ByteRange(suffix=suffix).resolve(size)
        return
    lo, hi = ByteRange.parse(f"bytes=-{suffix}").resolve(size)
    assert hi == size
    assert hi - lo == min(suffix, size)
