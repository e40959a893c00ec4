"""Byte ranges: parse an HTTP-style single range and resolve it against a size, without HTTP.

RFC 9110 §14.1.2: ``bytes=a-b`` (inclusive), ``bytes=a-`` (to the end), ``bytes=-n`` (the last
n bytes). Only a single range is supported; a multi-range request is rejected as invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

from artifact_store.errors import InvalidRangeError

__all__ = ["ByteRange"]

#: ASCII digits only (RFC 9110 DIGIT): ``\d`` would also match other scripts' digits.
_SPEC = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A half-open interval ``[start, stop)`` of a blob; ``stop`` None means "to the end".

    ``suffix`` (the ``bytes=-n`` form) asks for the last ``suffix`` bytes instead.
    """

    start: int = 0
    stop: int | None = None
    suffix: int | None = None

    @classmethod
    def parse(cls, header: str) -> Self:
        """Parse ``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``.

        Raises:
            InvalidRangeError: anything else (including several ranges).
        """
        match = _SPEC.fullmatch(header.strip()) if isinstance(header, str) else None
        if match is None:
            raise InvalidRangeError(f"unsupported range: {str(header)[:80]!r}", range=header)
        first, last = match.groups()
        if not first and not last:
            raise InvalidRangeError("empty range", range=header)
        if not first:
            return cls(suffix=int(last))
        start = int(first)
        if not last:
            return cls(start=start)
        end = int(last)
        if end < start:
            raise InvalidRangeError(f"range end before start: {header!r}", range=header)
        return cls(start=start, stop=end + 1)

    @classmethod
    def of(cls, start: int, length: int | None = None) -> Self:
        """The range of ``length`` bytes from ``start`` (to the end when length is None)."""
        if start < 0 or (length is not None and length < 0):
            raise InvalidRangeError("range start and length must not be negative")
        return cls(start=start, stop=None if length is None else start + length)

    def resolve(self, size: int) -> tuple[int, int]:
        """Clamp to a blob of ``size`` bytes: ``(start, stop)`` with ``0 <= start < stop``.

        Raises:
            InvalidRangeError: the range does not overlap the blob (HTTP 416).
        """
        if self.suffix is not None:
            if self.suffix == 0 or size == 0:
                raise InvalidRangeError("range not satisfiable", size=size)
            return max(0, size - self.suffix), size
        if self.start >= size:
            raise InvalidRangeError(
                f"range starts at {self.start}, past the end of a {size}-byte blob", size=size
            )
        stop = size if self.stop is None else min(self.stop, size)
        return self.start, stop
