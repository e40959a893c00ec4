"""The steps an operation asks its driver to take, and the driver contract (sans-IO, like h11).

An operation (``_ops``) is a generator: it yields a step, the driver performs it and sends
back the result (or throws the exception it raised into the generator), until the operation
returns its value. ``Client`` performs steps with blocking calls, ``AsyncClient`` with awaits;
the protocol logic (retries, the upload loop, error mapping) is written once, in ``_ops``.

=================  ============================================  =========================
step               the driver does                               and sends back
=================  ============================================  =========================
``Call``           one HTTP request (no retry)                   the ``httpx.Response``;
                                                                 a ``TransportError`` is
                                                                 thrown into the operation
``Sleep``          waits                                         None
``Blocking``       runs a blocking function (a worker thread     its result (its exception
                   in the async driver)                          is thrown in)
``Read``           reads a streamed response's body, closes it   None
``Close``          closes a streamed response unread             None
=================  ============================================  =========================
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Blocking", "Call", "Close", "FileRange", "Op", "Read", "Sleep", "Step"]


@dataclass(frozen=True, slots=True)
class FileRange:
    """A request body read from disk: ``length`` bytes of ``path`` from ``offset``, streamed."""

    path: Path
    offset: int
    length: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One HTTP request; ``url`` is relative to the base URL (or absolute)."""

    method: str
    url: str
    params: Any = None
    headers: Mapping[str, str] | None = None
    json: object = None
    content: bytes | FileRange | None = None
    timeout: httpx.Timeout | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Blocking:
    """Call ``fn()``, which blocks (file I/O, hashing)."""

    fn: Callable[[], object]


@dataclass(frozen=True, slots=True)
class Read:
    """Read the body of a streamed response, then close it."""

    response: httpx.Response


@dataclass(frozen=True, slots=True)
class Close:
    """Close a streamed response without reading it."""

    response: httpx.Response


type Step = Call | Sleep | Blocking | Read | Close
#: An operation: yields steps, receives their results, returns ``T``.
type Op[T] = Generator[Step, Any, T]
