"""Time, ids and limits (kernels.clock, kernels.ids, kernels.limits)."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store.errors import InvalidInputError, LimitExceededError, PayloadTooLargeError
from artifact_store.kernels.clock import FixedClock, SystemClock, format_time, parse_time
from artifact_store.kernels.ids import uuid7
from artifact_store.kernels.limits import check_limit, check_size

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Hypothesis takes naive bounds for ``st.datetimes``.
FIRST = datetime(1970, 1, 1)  # noqa: DTZ001
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999)  # noqa: DTZ001


def unix_millis(at: datetime) -> int:
    """``at`` in whole Unix milliseconds, computed exactly (no float)."""
    return (at - EPOCH) // timedelta(milliseconds=1)


#: Aware datetimes from 1970 to 9999 with microseconds, in UTC or a fixed offset (a day of
#: margin at both ends so converting to UTC stays inside the four-digit years).
aware_datetimes = st.builds(
    lambda naive, offset: naive.replace(tzinfo=timezone(timedelta(minutes=offset))),
    st.datetimes(FIRST + timedelta(days=1), LAST - timedelta(days=1)),
    st.sampled_from([0, 0, 60, -300, 330, 14 * 60, -12 * 60]),
)

# --- format_time / parse_time ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2026, 3, 1, 12, 30, tzinfo=UTC), "2026-03-01T12:30:00Z"),
        (datetime(2026, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC), "2026-03-01T12:30:00.25Z"),
        (datetime(2026, 3, 1, 12, 30, 0, 1, tzinfo=UTC), "2026-03-01T12:30:00.000001Z"),
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
        (
            datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=1))),
            "2026-03-01T12:30:00Z",
        ),
    ],
)
def test_format_time(at: datetime, text: str) -> None:
    assert format_time(at) == text


@settings(max_examples=200)
@given(aware_datetimes)
def test_format_then_parse_round_trips(at: datetime) -> None:
    parsed = parse_time(format_time(at))
    assert parsed == at
    assert parsed.tzinfo is UTC


@settings(max_examples=200)
@given(aware_datetimes)
def test_formatted_time_is_canonical(at: datetime) -> None:
    text = format_time(at)
    assert format_time(parse_time(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:30:00Z", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        ("2026-03-01T12:30:00.5Z", datetime(2026, 3, 1, 12, 30, 0, 500_000, tzinfo=UTC)),
        ("2026-03-01T12:30:00.123456Z", datetime(2026, 3, 1, 12, 30, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2026-03-01T12:30:00", id="no-z"),
        pytest.param("2026-03-01T12:30:00+01:00", id="offset"),
        pytest.param("2026-03-01T12:30:00+00:00", id="zero-offset"),
        pytest.param("2026-03-01T12:30:00-00:00", id="unknown-offset"),
        pytest.param("2026-03-01t12:30:00Z", id="lower-case-t"),
        pytest.param("2026-03-01T12:30:00z", id="lower-case-z"),
        pytest.param("2026-03-01 12:30:00Z", id="space-separator"),
        pytest.param("2026-03-01T12:30:00.1234567Z", id="7-fraction-digits"),
        pytest.param("2026-03-01T12:30:00.Z", id="empty-fraction"),
        pytest.param("2026-03-01T12:30Z", id="no-seconds"),
        pytest.param("2026-03-01Z", id="date-only"),
        pytest.param("20260301T123000Z", id="basic-format"),
        pytest.param("2026-3-1T12:30:00Z", id="unpadded"),
        pytest.param("2026-03-01T12:30:00,5Z", id="comma-fraction"),
        pytest.param("2026-02-30T00:00:00Z", id="no-such-day"),
        pytest.param("2026-03-01T24:00:00Z", id="hour-24"),
        pytest.param("2026-03-01T12:30:60Z", id="leap-second"),
        pytest.param("0000-01-01T00:00:00Z", id="year-zero"),
        pytest.param("+2026-03-01T12:30:00Z", id="signed-year"),
        pytest.param(" 2026-03-01T12:30:00Z", id="leading-space"),
        pytest.param("2026-03-01T12:30:00Z\n", id="trailing-newline"),
        pytest.param("\u0662\u0660\u0662\u0666-03-01T12:30:00Z", id="arabic-indic-digits"),
        pytest.param("2026-03-01T12:30:00.\uff15Z", id="fullwidth-fraction"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_time(text)


@pytest.mark.parametrize("value", [None, 0, b"2026-03-01T12:30:00Z"])
def test_parse_time_rejects_non_str(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_time(value)  # type: ignore[arg-type]


# --- clocks ------------------------------------------------------------------------------------


def test_fixed_clock_default_start() -> None:
    assert FixedClock().now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_fixed_clock_stands_still() -> None:
    clock = FixedClock(datetime(2030, 5, 6, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2030, 5, 6, tzinfo=UTC)


def test_fixed_clock_advance() -> None:
    clock = FixedClock(datetime(2030, 5, 6, tzinfo=UTC))
    clock.advance(timedelta(days=1, microseconds=5))
    assert clock.now() == datetime(2030, 5, 7, 0, 0, 0, 5, tzinfo=UTC)


def test_fixed_clock_set() -> None:
    clock = FixedClock()
    clock.set(datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert clock.now() == datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


# --- uuid7 -------------------------------------------------------------------------------------

uuid7_times = st.datetimes(FIRST, LAST, timezones=st.just(UTC))


@settings(max_examples=200)
@given(uuid7_times)
def test_uuid7_version_and_variant(at: datetime) -> None:
    value = uuid7(at)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


@settings(max_examples=200)
@given(uuid7_times)
def test_uuid7_prefix_is_unix_milliseconds(at: datetime) -> None:
    assert uuid7(at).int >> 80 == unix_millis(at)


@pytest.mark.parametrize(
    "at",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        datetime(2039, 9, 7, 5, 41, 40, 923_000, tzinfo=UTC),
        datetime(6670, 8, 12, 12, 10, 50, 135_987, tzinfo=UTC),
    ],
)
def test_uuid7_prefix_exact_at(at: datetime) -> None:
    assert uuid7(at).int >> 80 == unix_millis(at)


def test_uuid7_same_time_differs() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert uuid7(at) != uuid7(at)


@settings(max_examples=100)
@given(
    st.lists(
        st.integers(0, unix_millis(datetime(9999, 12, 31, tzinfo=UTC))),
        min_size=2,
        max_size=20,
        unique=True,
    )
)
def test_uuid7_sorts_by_time(millis: list[int]) -> None:
    times = [EPOCH + timedelta(milliseconds=m) for m in sorted(millis)]
    ids = [uuid7(at) for at in times]
    assert sorted(ids) == ids
    assert sorted(str(i) for i in ids) == [str(i) for i in ids]


# --- limits ------------------------------------------------------------------------------------


def test_check_limit_at_maximum_passes() -> None:
    check_limit("labels", 64, 64)


def test_check_limit_over_maximum_raises() -> None:
    with pytest.raises(LimitExceededError) as info:
        check_limit("labels", 65, 64)
    assert type(info.value) is LimitExceededError
    assert info.value.extra == {"limit": "labels", "value": 65, "maximum": 64}


def test_check_size_at_maximum_passes() -> None:
    check_size("manifest", 1024, 1024)


def test_check_size_over_maximum_raises() -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        check_size("manifest", 1025, 1024)
    assert info.value.extra == {"limit": "manifest", "value": 1025, "maximum": 1024}
