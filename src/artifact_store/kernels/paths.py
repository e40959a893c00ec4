"""File paths inside a package: relative POSIX, UTF-8 NFC, bounded; checked before any use.

Rules (ARCHITECTURE §2, RELIABILITY.md §6.2): no leading ``/``; no empty, ``.`` or ``..``
segment; no backslash; no NUL or other control character (C0, DEL, C1); Unicode NFC; at most
``MAX_PATH_BYTES`` UTF-8 bytes, ``MAX_PATH_SEGMENT_BYTES`` per segment and ``MAX_PATH_DEPTH``
segments. The same rules are applied again when a package is extracted (``pull``), so a path
can never escape the destination directory.
"""

from __future__ import annotations

import re
import unicodedata

from artifact_store.errors import InvalidPathError
from artifact_store.kernels.limits import MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_PATH_SEGMENT_BYTES

__all__ = ["validate_path"]

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def validate_path(path: str) -> str:
    """Return ``path`` unchanged when it is a valid package file path.

    Raises:
        InvalidPathError: naming the rule the path breaks.
    """
    if not isinstance(path, str) or not path:
        raise InvalidPathError("file path must be a non-empty string", path=str(path))
    shown = path[:200]
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPathError(f"file path is not valid UTF-8: {shown!r}", path=shown) from exc
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidPathError(
            f"file path is {len(encoded)} bytes, over the limit of {MAX_PATH_BYTES}", path=shown
        )
    if _FORBIDDEN.search(path):
        raise InvalidPathError(
            f"file path contains a control character or backslash: {shown!r}", path=shown
        )
    if path.startswith("/"):
        raise InvalidPathError(f"file path must be relative: {shown!r}", path=shown)
    if unicodedata.normalize("NFC", path) != path:
        raise InvalidPathError(f"file path is not in Unicode NFC: {shown!r}", path=shown)
    segments = path.split("/")
    if len(segments) > MAX_PATH_DEPTH:
        raise InvalidPathError(
            f"file path has {len(segments)} segments, over the limit of {MAX_PATH_DEPTH}",
            path=shown,
        )
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidPathError(
                f"file path has an empty, '.' or '..' segment: {shown!r}", path=shown
            )
        if len(segment.encode("utf-8")) > MAX_PATH_SEGMENT_BYTES:
            raise InvalidPathError(
                f"a segment of the file path is over {MAX_PATH_SEGMENT_BYTES} bytes", path=shown
            )
    return path
