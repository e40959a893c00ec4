"""The hash chain over the event log (pure).

Each event row stores ``hash = sha256(prev_hash ‖ body)`` where ``prev_hash`` is the hash of the
event before it (32 zero bytes for seq 1). Altering, inserting, removing or reordering any row
breaks the chain at that row and every row after it; ``first_break`` names the first one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["GENESIS", "ChainLink", "ChainState", "first_break", "link_hash"]

#: ``prev_hash`` of the first event.
GENESIS: Final = bytes(32)


def link_hash(prev_hash: bytes, body: bytes) -> bytes:
    """The hash of an event whose predecessor hashed to ``prev_hash``."""
    return hashlib.sha256(prev_hash + body).digest()


@dataclass(frozen=True, slots=True)
class ChainLink:
    """The chain-relevant columns of one stored event row."""

    seq: int
    body: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(slots=True)
class ChainState:
    """Verification state carried across batches: the last good seq and hash."""

    seq: int = 0
    hash: bytes = GENESIS

    def check(self, link: ChainLink) -> str | None:
        """Advance over ``link``; return why it breaks the chain, or None when it holds."""
        return self.advance(link.seq, link.body, link.prev_hash, link.hash)

    def advance(self, seq: int, body: bytes, prev_hash: bytes, hash_: bytes) -> str | None:
        """:meth:`check` of a row's columns, without building a :class:`ChainLink` (the
        replay checks every row of the log this way)."""
        if seq != self.seq + 1:
            return f"expected seq {self.seq + 1}, found seq {seq} (a gap or reordering)"
        if prev_hash != self.hash:
            return "prev_hash does not match the hash of the event before it"
        if link_hash(prev_hash, body) != hash_:
            return "hash does not match sha256(prev_hash || body): the row was altered"
        self.seq, self.hash = seq, hash_
        return None


def first_break(
    links: Iterable[ChainLink], state: ChainState | None = None
) -> tuple[int, str] | None:
    """The ``(seq, reason)`` of the first broken link, or None when the chain holds."""
    state = state or ChainState()
    for link in links:
        reason = state.check(link)
        if reason is not None:
            return link.seq, reason
    return None
