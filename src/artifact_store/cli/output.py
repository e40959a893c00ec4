"""How the CLI speaks: human text or ``--json``, progress bars, and one exit code per error class.

Exit codes (documented in the README):

====  =================================================================
0     success
1     internal error (a bug: please report it)
2     usage error (bad flags or arguments; typer's own code)
3     invalid input (names, digests, paths, manifests, limits)
4     not found (package, tag, file, blob)
5     conflict or policy (version exists with other content, held, locked)
6     verification failed (digest mismatch, corrupt blob, broken event chain)
7     authentication or authorisation failed
8     unavailable (database or storage down or locked); retry later
====  =================================================================
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from artifact_store.errors import (
    ArtifactStoreError,
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PolicyError,
    UnavailableError,
    VerificationError,
)
from artifact_store.kernels.clock import format_time

__all__ = ["EXIT_CODES", "Bar", "emit_json", "exit_code", "fail", "progress_bar", "to_jsonable"]

EXIT_CODES: dict[type[ArtifactStoreError], int] = {
    ArtifactStoreError: 1,
    InvalidInputError: 3,
    NotFoundError: 4,
    ConflictError: 5,
    PolicyError: 5,
    VerificationError: 6,
    AuthError: 7,
    UnavailableError: 8,
}
#: Transfers smaller than this get no progress bar.
PROGRESS_THRESHOLD = 4 << 20

err = Console(stderr=True, highlight=False)


def exit_code(exc: ArtifactStoreError) -> int:
    """The exit code of the most specific class in ``exc``'s MRO that has one."""
    return next(EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES)


def fail(exc: ArtifactStoreError, *, as_json: bool) -> int:
    """Report ``exc`` in one line (or as a JSON object) and return its exit code."""
    code = exit_code(exc)
    if as_json:
        body = {"error": exc.code, "message": str(exc), **to_jsonable(exc.extra)}
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    else:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
    return code


def to_jsonable(value: Any) -> Any:  # noqa: ANN401 - walks arbitrary values
    """Library values (dataclasses, datetimes, tuples) as plain JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:  # noqa: ANN401
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2) + "\n")


class Bar:
    """A rich progress bar behind the library's ``Progress`` seam (thread-safe)."""

    def __init__(self, progress: Progress | None, description: str) -> None:
        self._progress = progress
        self._description = description
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        """Show the bar when the transfer is big enough to deserve one."""
        if self._progress is not None and total >= PROGRESS_THRESHOLD:
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=total)

    def advance(self, done: int) -> None:
        """Move the bar."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, done)


@contextmanager
def progress_bar(description: str, *, enabled: bool) -> Iterator[Bar]:
    """A progress bar on stderr, shown only on a terminal, when enabled, for big transfers."""
    if not enabled or not err.is_terminal:
        yield Bar(None, description)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    try:
        yield Bar(progress, description)
    finally:
        progress.stop()
