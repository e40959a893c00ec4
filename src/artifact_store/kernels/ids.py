"""UUIDv7 identifiers (RFC 9562 §5.7): time-ordered, so ids sort the way they were made.

The stdlib has no uuid7 before Python 3.14. The caller passes the time, so this stays pure.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

__all__ = ["uuid7"]


def uuid7(at: datetime) -> uuid.UUID:
    """A version-7 UUID whose 48-bit prefix is ``at`` in Unix milliseconds."""
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = secrets.randbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
