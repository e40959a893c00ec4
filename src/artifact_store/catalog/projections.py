"""Projections: each event becomes row operations on the views (pure; no I/O).

Theory of operation
-------------------
``project(event)`` is one ``match`` over the payload union; mypy proves every payload type has
an arm (``assert_never``). The same operations run live, inside the transaction that appends
the event (blueprint invariant 2), and in ``rebuild.py`` when the log is replayed from seq 1
(invariant 3). Projections never read: everything a view row holds comes from the event itself
(``package.committed`` carries its manifest), so a replay needs nothing but the log.

Ordering rules the store keeps so projections stay read-free: a ``namespace.created`` event
precedes the first package in that namespace, and tags pointing at a package are removed by
their own ``tag.removed`` events before its ``package.deleted``.
"""

from __future__ import annotations

from typing import assert_never

from artifact_store.catalog.ops import Op
from artifact_store.catalog.schema import (
    blobs,
    holds,
    namespaces,
    package_files,
    package_labels,
    package_links,
    packages,
    retention_policies,
    tags,
    tokens,
)
from artifact_store.kernels.clock import parse_time
from artifact_store.ledger.events import (
    BlobDeleted,
    BlobRestored,
    BlobRestoreRequested,
    BlobStored,
    BlobTierChanged,
    BlobVerified,
    Event,
    HoldPlaced,
    HoldReleased,
    NamespaceCreated,
    PackageCommitted,
    PackageDeleted,
    PackageLocked,
    Payload,
    RetentionPolicySet,
    TagRemoved,
    TagSet,
    TokenIssued,
    TokenRevoked,
)

__all__ = ["project"]

_SHA = ("sha256",)


def _blob_update(event: Event[Payload], sha256: str, **values: object) -> Op:
    return Op("update", blobs, {"sha256": sha256, "changed_seq": event.seq, **values}, _SHA)


def _package_committed(event: Event[Payload], p: PackageCommitted) -> list[Op]:
    m = p.manifest
    producer = (
        m.producer.name if m.producer.version is None else f"{m.producer.name}/{m.producer.version}"
    )
    ops = [
        Op(
            "insert",
            packages,
            {
                "digest": p.digest,
                "namespace": m.namespace,
                "name": m.name,
                "version": m.version,
                "kind": m.kind,
                "created": m.created,
                "producer": producer,
                "labels": dict(m.labels),
                "subject": m.subject,
                "file_count": len(m.files),
                "total_size": sum(f.size for f in m.files),
                "committed_at": event.time,
                "committed_seq": event.seq,
                "actor": event.actor,
                "deleted_seq": None,
                "locked_until": None,
                "lock_mode": None,
            },
        )
    ]
    ops.extend(
        Op(
            "insert",
            package_files,
            {
                "package_digest": p.digest,
                "path": f.path,
                "sha256": f.sha256,
                "blake3": f.blake3,
                "size": f.size,
                "media_type": f.media_type,
                "executable": f.executable,
            },
        )
        for f in m.files
    )
    ops.extend(
        Op("insert", package_labels, {"package_digest": p.digest, "key": k, "value": v})
        for k, v in sorted(m.labels.items())
    )
    ops.extend(
        Op(
            "insert",
            package_links,
            {"package_digest": p.digest, "rel": link.rel, "target": link.target},
        )
        for link in m.links
    )
    return ops


def project(event: Event[Payload]) -> list[Op]:
    """The view operations that bring every view up to ``event``."""
    match event.payload:
        case NamespaceCreated() as p:
            return [
                Op(
                    "insert",
                    namespaces,
                    {"name": p.namespace, "created_at": event.time, "created_seq": event.seq},
                )
            ]
        case BlobStored() as p:
            row = {
                "sha256": p.sha256,
                "blake3": p.blake3,
                "size": p.size,
                "tier": "hot",
                "state": "stored",
                "stored_at": event.time,
                "stored_seq": event.seq,
                "verified_at": None,
                "changed_seq": event.seq,
            }
            return [Op("upsert", blobs, row, _SHA)]
        case BlobVerified() as p:
            return [_blob_update(event, p.sha256, verified_at=event.time)]
        case BlobTierChanged() as p:
            return [_blob_update(event, p.sha256, tier=p.tier)]
        case BlobRestoreRequested() as p:
            return [_blob_update(event, p.sha256, state="restoring")]
        case BlobRestored() as p:
            return [_blob_update(event, p.sha256, state="stored")]
        case BlobDeleted() as p:
            return [_blob_update(event, p.sha256, state="deleted")]
        case PackageCommitted() as p:
            return _package_committed(event, p)
        case PackageDeleted() as p:
            return [
                Op("update", packages, {"digest": p.digest, "deleted_seq": event.seq}, ("digest",))
            ]
        case PackageLocked() as p:
            values = {"digest": p.digest, "locked_until": parse_time(p.until), "lock_mode": p.mode}
            return [Op("update", packages, values, ("digest",))]
        case TagSet() as p:
            row = {
                "namespace": p.namespace,
                "name": p.name,
                "tag": p.tag,
                "target": p.target,
                "set_at": event.time,
                "set_seq": event.seq,
            }
            return [Op("upsert", tags, row, ("namespace", "name", "tag"))]
        case TagRemoved() as p:
            key = {"namespace": p.namespace, "name": p.name, "tag": p.tag}
            return [Op("delete", tags, key, ("namespace", "name", "tag"))]
        case RetentionPolicySet() as p:
            row = {
                "policy_id": p.policy_id,
                "namespace": p.namespace,
                "selector": dict(p.selector),
                "keep_last": p.keep_last,
                "max_age_days": p.max_age_days,
                "lock_days": p.lock_days,
                "lock_mode": p.lock_mode,
                "set_seq": event.seq,
            }
            return [Op("upsert", retention_policies, row, ("policy_id",))]
        case HoldPlaced() as p:
            row = {
                "hold_id": p.hold_id,
                "package_digest": p.digest,
                "reason": p.reason,
                "placed_by": event.actor,
                "placed_at": event.time,
                "placed_seq": event.seq,
                "released_seq": None,
            }
            return [Op("insert", holds, row)]
        case HoldReleased() as p:
            return [
                Op("update", holds, {"hold_id": p.hold_id, "released_seq": event.seq}, ("hold_id",))
            ]
        case TokenIssued() as p:
            row = {
                "token_id": p.token_id,
                "principal": p.principal,
                "token_sha256": p.token_sha256,
                "scopes": list(p.scopes),
                "expires_at": p.expires_at,
                "issued_seq": event.seq,
                "revoked_seq": None,
            }
            return [Op("insert", tokens, row)]
        case TokenRevoked() as p:
            return [
                Op(
                    "update",
                    tokens,
                    {"token_id": p.token_id, "revoked_seq": event.seq},
                    ("token_id",),
                )
            ]
        case _ as unreachable:
            assert_never(unreachable)
