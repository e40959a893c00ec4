"""UUIDv7 identifiers (RFC 9562 §5.7): time-ordered, so ids sort the way they were made.

The stdlib has no uuid7 before Python 3.14. The caller passes the time, so this stays pure.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

__all__ = ["uuid7"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def uuid7(at: datetime) -> uuid.UUID:
    """A version-7 UUID whose 48-bit prefix is ``at`` in Unix milliseconds."""
    # Exact integer arithmetic: ``int(at.timestamp() * 1000)`` is off by one for some times
    # (float rounding, e.g. 2039-09-07T05:41:40.923Z). A naive ``at`` is local time, as before.
    millis = ((at.astimezone(UTC) - _EPOCH) // _MILLISECOND) & ((1 << 48) - 1)
    rand = secrets.randbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
