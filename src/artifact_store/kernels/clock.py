"""Time as a dependency: the ``Clock`` seam, the system clock, a settable clock for tests,
and the one RFC 3339 text form used in manifests and events (UTC, ``Z`` suffix).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

from artifact_store.errors import InvalidInputError

__all__ = ["Clock", "FixedClock", "SystemClock", "format_time", "parse_time"]

_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class Clock(Protocol):
    """Where the library reads the time; injected so tests control it."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move (tests, replays)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The time this clock was set to."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._now += delta

    def set(self, at: datetime) -> None:
        """Set the clock to ``at``."""
        self._now = at


def format_time(at: datetime) -> str:
    """RFC 3339 text in UTC with a ``Z`` suffix, microseconds only when non-zero."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> datetime:
    """Parse the RFC 3339 UTC form ``format_time`` writes (``…Z``, up to 6 fraction digits).

    Raises:
        InvalidInputError: the text is not an RFC 3339 UTC timestamp.
    """
    if not isinstance(text, str) or not _RFC3339_UTC.fullmatch(text):
        raise InvalidInputError(f"not an RFC 3339 UTC time ending in Z: {text!r}", value=text)
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInputError(f"not a valid time: {text!r}", value=text) from exc
