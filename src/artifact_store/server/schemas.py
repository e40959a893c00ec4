"""Request and response models of /v1 (``docs/api/v1.md``), and their conversion from library
values.

Request models forbid unknown fields (the mass-assignment guard, RELIABILITY.md §6.1). Response
models mirror the JSON of the contract exactly; times are RFC 3339 UTC text (``…Z``). The
``Problem`` model is the RFC 9457 body every 4xx/5xx carries; ``problem_responses`` declares it
on the routes, so ``/openapi.json`` lists each endpoint's error responses.
"""

import http
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from artifact_store.kernels.clock import format_time
from artifact_store.kernels.limits import MAX_MISSING_QUERY
from artifact_store.store import BlobRecord, PackageInfo, TagInfo
from artifact_store.wire.headers import CHECKSUM_MISMATCH_STATUS, PROBLEM_JSON

__all__ = [
    "BINARY",
    "BlobOut",
    "CommitOut",
    "EventOut",
    "EventsOut",
    "Health",
    "ManifestOut",
    "MissingIn",
    "MissingOut",
    "PackageList",
    "PackageOut",
    "Problem",
    "TagIn",
    "TagList",
    "TagOut",
    "UploadCreated",
    "UploadInfo",
    "UploadLike",
    "problem_responses",
]

#: The OpenAPI schema of a raw byte body.
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


class Problem(BaseModel):
    """RFC 9457 problem details, plus the stable ``code`` and the error's structured fields."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`/problems/{code}`")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code (`errors.py`); the SDK maps it back.")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring problem+json bodies for ``statuses``.

    Every route may answer 400 (malformed parameters) and 503 (a backend is down).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({400, 503, *statuses}):
        if status == CHECKSUM_MISMATCH_STATUS:
            phrase = "Checksum Mismatch"
        else:
            phrase = http.HTTPStatus(status).phrase
        out[status] = {
            "description": f"{phrase} (problem+json)",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


# --- uploads and blobs -------------------------------------------------------------------


class UploadLike(Protocol):
    """What the store's upload-session status offers (id, offset, length, state, expiry)."""

    @property
    def id(self) -> str: ...  # noqa: D102
    @property
    def offset(self) -> int: ...  # noqa: D102
    @property
    def length(self) -> int | None: ...  # noqa: D102
    @property
    def state(self) -> str: ...  # noqa: D102
    @property
    def expires_at(self) -> datetime: ...  # noqa: D102


class UploadCreated(BaseModel):
    """A new upload session."""

    id: str
    offset: int
    expires_at: str
    length: int | None

    @classmethod
    def of(cls, status: UploadLike) -> "UploadCreated":
        """From the store's session status."""
        return cls(
            id=status.id,
            offset=status.offset,
            expires_at=format_time(status.expires_at),
            length=status.length,
        )


class UploadInfo(UploadCreated):
    """An upload session's progress."""

    state: str = Field(description="open, completed, failed or expired")

    @classmethod
    def of(cls, status: UploadLike) -> "UploadInfo":
        """From the store's session status."""
        return cls(
            id=status.id,
            offset=status.offset,
            expires_at=format_time(status.expires_at),
            length=status.length,
            state=status.state,
        )


class BlobOut(BaseModel):
    """A stored blob: both digests and its size."""

    digest: str = Field(description="`sha256:<hex>`")
    sha256: str
    blake3: str
    size: int

    @classmethod
    def of(cls, record: BlobRecord) -> "BlobOut":
        """From the catalog's blob record."""
        return cls(
            digest=record.digest, sha256=record.sha256, blake3=record.blake3, size=record.size
        )


class BatchBlobOut(BlobOut):
    """One blob of a batch upload, and whether the store did not hold it before."""

    created: bool


class BatchOut(BaseModel):
    """The blobs of a batch upload, in request order."""

    blobs: list[BatchBlobOut]


class MissingIn(BaseModel):
    """Which of these blobs does the store lack?"""

    model_config = ConfigDict(extra="forbid")

    digests: list[str] = Field(max_length=MAX_MISSING_QUERY, description="`sha256:<hex>` each")


class MissingOut(BaseModel):
    """The digests the store lacks, in request order."""

    missing: list[str]


# --- packages and tags -------------------------------------------------------------------


class PackageOut(BaseModel):
    """One committed package version (``PackageInfo``)."""

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
    committed_at: str
    committed_seq: int
    actor: str
    tags: list[str]

    @classmethod
    def of(cls, info: PackageInfo) -> "PackageOut":
        """From the catalog's package info."""
        return cls(
            digest=info.digest,
            namespace=info.namespace,
            name=info.name,
            version=info.version,
            kind=info.kind,
            created=info.created,
            producer=info.producer,
            labels=dict(info.labels),
            subject=info.subject,
            file_count=info.file_count,
            total_size=info.total_size,
            committed_at=format_time(info.committed_at),
            committed_seq=info.committed_seq,
            actor=info.actor,
            tags=list(info.tags),
        )


class CommitOut(BaseModel):
    """The result of a commit: the package, and whether this request created it."""

    created: bool
    package: PackageOut


class PackageList(BaseModel):
    """One page of packages, newest first; ``next_cursor`` is null on the last page."""

    items: list[PackageOut]
    next_cursor: str | None


class ManifestOut(BaseModel):
    """A package and its manifest (the JSON form of the canonical CBOR)."""

    package: PackageOut
    manifest: dict[str, Any]


class TagOut(BaseModel):
    """A tag and the package digest it points at."""

    tag: str
    target: str
    set_at: str
    set_seq: int

    @classmethod
    def of(cls, tag: TagInfo) -> "TagOut":
        """From the catalog's tag info."""
        return cls(
            tag=tag.tag, target=tag.target, set_at=format_time(tag.set_at), set_seq=tag.set_seq
        )


class TagList(BaseModel):
    """The tags of one package name."""

    items: list[TagOut]


class TagIn(BaseModel):
    """Where a tag should point: a version of the same package name, or its ``sha256:`` digest."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(max_length=600)


# --- events and ops ----------------------------------------------------------------------


class EventOut(BaseModel):
    """One event of the log (hashes are hex)."""

    seq: int
    id: str
    time: str
    type: str
    actor: str
    payload: dict[str, Any]
    hash: str
    prev_hash: str


class EventsOut(BaseModel):
    """A batch of events; ``last_seq`` is the ``after`` to ask with next."""

    events: list[EventOut]
    last_seq: int


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
