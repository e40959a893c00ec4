"""``StoreConfig``: the frozen value the library is opened with; it reads no environment.

Front ends build one: the CLI from its flags (``--data``, ``--database-url``), the server from
``ARTIFACT_STORE_*`` settings (pydantic-settings stays at that edge, ADR-0011).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Self

__all__ = ["CATALOG_FILE", "StoreConfig"]

#: The SQLite catalog's file name inside a data directory.
CATALOG_FILE = "catalog.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Where the catalog and the blobs live, and how to open them.

    ``create`` initialises an empty store when none exists (else opening one raises
    ``StoreNotInitializedError``); ``upgrade`` applies pending schema migrations on open.
    ``staging_grace`` is how old a staged (in-flight) file must be before it is swept as a
    crash leftover; ``upload_idle_timeout`` is how long an upload session may sit idle before
    it expires.
    """

    database_url: str
    blobstore_url: str
    create: bool = False
    upgrade: bool = True
    staging_grace: timedelta = timedelta(hours=6)
    upload_idle_timeout: timedelta = timedelta(hours=24)

    @classmethod
    def for_directory(
        cls,
        data_dir: Path | str,
        *,
        database_url: str | None = None,
        create: bool = False,
        upload_idle_timeout: timedelta = timedelta(hours=24),
    ) -> Self:
        """The embedded default: SQLite catalog and local blobs in one data directory."""
        root = Path(data_dir).expanduser().resolve()
        return cls(
            database_url=database_url or f"sqlite+aiosqlite:///{root / CATALOG_FILE}",
            blobstore_url=root.as_uri(),
            create=create,
            upload_idle_timeout=upload_idle_timeout,
        )
