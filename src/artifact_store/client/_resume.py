"""Upload sessions remembered on disk, so a re-run of the same upload resumes (issue #3 item 7).

One small JSON file per (server base URL, blob sha256) under the cache directory:

    $ARTIFACT_STORE_CACHE/uploads/<sha256(base URL)[:16]>/<blob sha256>.json
    (default: $XDG_CACHE_HOME/artifact-store, else ~/.cache/artifact-store)

It holds the session's location and the blob size. It is written atomically (temporary file,
fsync, rename) right after the session is created, read before any new session is created for
that blob, and removed once the blob is finalized. A file that cannot be read or does not
match is ignored (the upload starts a new session), never an error: it is only a hint, and
the server's ``HEAD`` is the truth about the offset.

Blocking file I/O: the async client calls these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ResumeStore", "default_cache_dir"]


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$ARTIFACT_STORE_CACHE``, else ``$XDG_CACHE_HOME/artifact-store``, else ``~/.cache/…``."""
    env = os.environ if env is None else env
    if env.get("ARTIFACT_STORE_CACHE"):
        return Path(env["ARTIFACT_STORE_CACHE"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "artifact-store"
    return Path.home() / ".cache" / "artifact-store"


@dataclass(frozen=True, slots=True)
class ResumeStore:
    """The session files of one cache directory."""

    root: Path

    def path(self, base_url: str, sha256: str) -> Path:
        """Where the session of ``sha256`` on the server at ``base_url`` is remembered."""
        server = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
        return self.root / "uploads" / server / f"{sha256}.json"

    def load(self, base_url: str, sha256: str, size: int) -> str | None:
        """The remembered session location, or None (nothing usable remembered)."""
        try:
            value = json.loads(self.path(base_url, sha256).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(value, dict):
            return None
        location = value.get("location")
        if value.get("sha256") != sha256 or value.get("size") != size:
            return None
        return location if isinstance(location, str) and location else None

    def save(self, base_url: str, sha256: str, size: int, location: str) -> None:
        """Remember a session, atomically (a crash leaves the old file or the new one)."""
        target = self.path(base_url, sha256)
        body = {"base_url": base_url, "sha256": sha256, "size": size, "location": location}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(body, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(target)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()
                raise
        except OSError:
            # A read-only or full cache only costs resumability, never the upload itself.
            return

    def forget(self, base_url: str, sha256: str) -> None:
        """Drop the remembered session (after finalize, or when the server lost it)."""
        with contextlib.suppress(OSError):
            self.path(base_url, sha256).unlink()
