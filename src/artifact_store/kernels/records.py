"""The store's read-side values: what ``ArtifactStore`` returns and the SDK returns alike.

Plain frozen dataclasses with no database or HTTP types, so the library, the front ends and
the SDK share one definition (the SDK builds them from the /v1 JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "BlobRecord",
    "CommitResult",
    "PackageInfo",
    "PackageQuery",
    "Page",
    "SessionEvent",
    "SessionState",
    "StoredBlob",
    "TagInfo",
    "UploadSession",
]

type SessionState = Literal["open", "completed", "failed", "expired"]
type SessionEvent = Literal["append", "finalize_ok", "finalize_mismatch", "expire"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobRecord:
    """A blob as the catalog knows it."""

    sha256: str
    blake3: str
    size: int
    tier: str
    state: str
    stored_at: datetime
    verified_at: datetime | None = None

    @property
    def digest(self) -> str:
        """``sha256:<hex>``."""
        return f"sha256:{self.sha256}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageInfo:
    """One committed package version, as listed and resolved."""

    digest: str
    namespace: str
    name: str
    version: str
    kind: str
    created: str
    producer: str
    labels: dict[str, str]
    subject: str | None
    file_count: int
    total_size: int
    committed_at: datetime
    committed_seq: int
    actor: str
    deleted: bool = False
    locked_until: datetime | None = None
    tags: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``namespace/name@version``."""
        return f"{self.namespace}/{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The committed package, and whether this call created it (False: identical re-commit)."""

    package: PackageInfo
    created: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TagInfo:
    """A tag and the package digest it points at."""

    namespace: str
    name: str
    tag: str
    target: str
    set_at: datetime
    set_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageQuery:
    """Filters for listing and searching packages (all optional, combined with AND).

    ``prefix`` matches a namespace and everything under it, or one ``namespace/name``.
    ``labels`` must all match exactly. ``since``/``until`` bound the commit time (``until``
    exclusive). ``cursor`` continues a previous page; ``limit`` is clamped to ``MAX_PAGE_SIZE``.
    """

    prefix: str | None = None
    namespace: str | None = None
    name: str | None = None
    kind: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    include_deleted: bool = False
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of results, newest first; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob the store holds, and whether the call that returned it stored it first."""

    record: BlobRecord
    created: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadSession:
    """One session as stored in the ``upload_sessions`` table."""

    id: str
    actor: str
    state: SessionState
    offset: int
    length: int | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    namespace: str | None = None
    claimed_digest: str | None = None

    def touched(
        self, now: datetime, idle: timedelta, *, offset: int | None = None
    ) -> UploadSession:
        """The session after activity at ``now`` (and a new offset)."""
        return replace(
            self,
            offset=self.offset if offset is None else offset,
            updated_at=now,
            expires_at=now + idle,
        )
