"""Event payloads (one frozen dataclass per v1 event type) and the ``Event`` envelope.

Every state change of the store is one event appended to the log (ADR-0002). A payload class
carries an explicit, stable wire name in ``TYPE`` (``"<noun>.<past participle>"``), never a Python
path, so code can move without touching the log. Payloads evolve only by adding optional fields;
an incompatible change gets a new type name, and old types stay decodable forever because the
log is never rewritten (ADR-0010).

``Payload`` is the union of all v1 payload classes; projections ``match`` over it and mypy checks
that every member has an arm.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from artifact_store.manifest import Manifest

__all__ = [
    "PAYLOAD_TYPES",
    "BlobDeleted",
    "BlobRestoreRequested",
    "BlobRestored",
    "BlobStored",
    "BlobTierChanged",
    "BlobVerified",
    "Event",
    "HoldPlaced",
    "HoldReleased",
    "NamespaceCreated",
    "PackageCommitted",
    "PackageDeleted",
    "PackageLocked",
    "Payload",
    "RetentionPolicySet",
    "TagRemoved",
    "TagSet",
    "TokenIssued",
    "TokenRevoked",
    "index_fields",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceCreated:
    """A namespace came into being (implicitly, with its first package)."""

    TYPE: ClassVar[str] = "namespace.created"
    namespace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobStored:
    """Bytes became durable in the data plane with both digests verified server-side."""

    TYPE: ClassVar[str] = "blob.stored"
    sha256: str
    blake3: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobVerified:
    """A scrub re-hashed the stored bytes and found both digests intact."""

    TYPE: ClassVar[str] = "blob.verified"
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobTierChanged:
    """The blob moved to another storage tier."""

    TYPE: ClassVar[str] = "blob.tier_changed"
    sha256: str
    tier: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobRestoreRequested:
    """A restore of an archived blob to a readable tier was requested."""

    TYPE: ClassVar[str] = "blob.restore_requested"
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobRestored:
    """An archived blob is readable again."""

    TYPE: ClassVar[str] = "blob.restored"
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobDeleted:
    """The bytes were removed from the data plane (garbage collection)."""

    TYPE: ClassVar[str] = "blob.deleted"
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageCommitted:
    """A package version was committed; the manifest travels whole, so the log alone rebuilds
    every view and proves what was stored."""

    TYPE: ClassVar[str] = "package.committed"
    digest: str
    manifest: Manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageDeleted:
    """A package version was deleted (a tombstone; the version stays reserved)."""

    TYPE: ClassVar[str] = "package.deleted"
    digest: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageLocked:
    """A retention lock was set on a package until ``until`` (RFC 3339 UTC)."""

    TYPE: ClassVar[str] = "package.locked"
    digest: str
    until: str
    mode: str = "governance"


@dataclass(frozen=True, slots=True, kw_only=True)
class TagSet:
    """A tag was pointed at a committed package (created or moved)."""

    TYPE: ClassVar[str] = "tag.set"
    namespace: str
    name: str
    tag: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRemoved:
    """A tag was removed."""

    TYPE: ClassVar[str] = "tag.removed"
    namespace: str
    name: str
    tag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicySet:
    """A retention policy for a namespace was created or replaced."""

    TYPE: ClassVar[str] = "retention.policy_set"
    policy_id: str
    namespace: str
    selector: dict[str, str] = field(default_factory=dict)
    keep_last: int | None = None
    max_age_days: int | None = None
    lock_days: int | None = None
    lock_mode: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldPlaced:
    """A legal hold was placed on a package."""

    TYPE: ClassVar[str] = "hold.placed"
    hold_id: str
    digest: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldReleased:
    """A legal hold was released."""

    TYPE: ClassVar[str] = "hold.released"
    hold_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIssued:
    """An API token was issued; only the sha256 of the secret is recorded."""

    TYPE: ClassVar[str] = "token.issued"
    token_id: str
    principal: str
    token_sha256: str
    scopes: list[str] = field(default_factory=list)
    expires_at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRevoked:
    """An API token was revoked."""

    TYPE: ClassVar[str] = "token.revoked"
    token_id: str


type Payload = (
    NamespaceCreated
    | BlobStored
    | BlobVerified
    | BlobTierChanged
    | BlobRestoreRequested
    | BlobRestored
    | BlobDeleted
    | PackageCommitted
    | PackageDeleted
    | PackageLocked
    | TagSet
    | TagRemoved
    | RetentionPolicySet
    | HoldPlaced
    | HoldReleased
    | TokenIssued
    | TokenRevoked
)

#: Wire name → payload class; appending or reading any other type is rejected.
PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        NamespaceCreated,
        BlobStored,
        BlobVerified,
        BlobTierChanged,
        BlobRestoreRequested,
        BlobRestored,
        BlobDeleted,
        PackageCommitted,
        PackageDeleted,
        PackageLocked,
        TagSet,
        TagRemoved,
        RetentionPolicySet,
        HoldPlaced,
        HoldReleased,
        TokenIssued,
        TokenRevoked,
    )
}


def index_fields(payload: Payload) -> tuple[str | None, str | None]:
    """The ``(namespace, subject)`` a payload is indexed by (copied into the event row)."""
    match payload:
        case NamespaceCreated():
            return payload.namespace, payload.namespace
        case (
            BlobStored()
            | BlobVerified()
            | BlobTierChanged()
            | BlobRestoreRequested()
            | BlobRestored()
            | BlobDeleted()
        ):
            return None, f"sha256:{payload.sha256}"
        case PackageCommitted():
            m = payload.manifest
            return m.namespace, payload.digest
        case PackageDeleted() | PackageLocked() | HoldPlaced():
            return None, payload.digest
        case TagSet() | TagRemoved():
            return payload.namespace, f"{payload.namespace}/{payload.name}:{payload.tag}"
        case RetentionPolicySet():
            return payload.namespace, payload.policy_id
        case HoldReleased():
            return None, payload.hold_id
        case TokenIssued() | TokenRevoked():
            return None, payload.token_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Event[P: Payload]:
    """One appended, chained record: who did what, when, at which position of the log."""

    seq: int
    id: uuid.UUID
    time: datetime
    actor: str
    payload: P
    prev_hash: bytes
    hash: bytes
    body: bytes

    @property
    def type(self) -> str:
        """The payload's stable wire name."""
        return self.payload.TYPE
