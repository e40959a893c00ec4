"""The progress seam: long transfers report bytes done to whoever renders them."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress"]


class Progress(Protocol):
    """Receives the size of a transfer, then increments as bytes move (any thread)."""

    def start(self, total: int) -> None:
        """The transfer will move ``total`` bytes."""
        ...

    def advance(self, done: int) -> None:
        """``done`` more bytes moved."""
        ...
