"""The view tables and the operational ``upload_sessions`` table, on the ledger's ``MetaData``.

Every view row can be rebuilt from the log (blueprint invariant 3); each keeps the ``seq`` of
the event that last shaped it, so a rebuild can be compared with the live views. The tables
that later issues fill (tiers, holds, retention, tokens) exist from the first migration, so
those issues add no breaking schema change.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from artifact_store.ledger.schema import UTCDateTime, metadata

__all__ = [
    "VIEW_TABLES",
    "blobs",
    "holds",
    "namespaces",
    "package_files",
    "package_labels",
    "package_links",
    "packages",
    "retention_policies",
    "tags",
    "tokens",
    "upload_sessions",
]

namespaces = Table(
    "namespaces",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_seq", BigInteger, nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("blake3", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    # hot | cold | archive (lifecycle tiering); state: stored | restoring | deleting | deleted
    Column("tier", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("stored_seq", BigInteger, nullable=False),
    Column("verified_at", UTCDateTime, nullable=True),
    Column("changed_seq", BigInteger, nullable=False),
)

packages = Table(
    "packages",
    metadata,
    Column("digest", String(71), primary_key=True),
    Column("namespace", String(255), nullable=False),
    Column("name", String(128), nullable=False),
    Column("version", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("producer", String(256), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("subject", String(71), nullable=True),
    Column("file_count", Integer, nullable=False),
    Column("total_size", BigInteger, nullable=False),
    Column("committed_at", UTCDateTime, nullable=False),
    Column("committed_seq", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("deleted_seq", BigInteger, nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("lock_mode", String(16), nullable=True),
    UniqueConstraint("namespace", "name", "version"),
)
Index(
    "ix_packages_namespace_name_seq",
    packages.c.namespace,
    packages.c.name,
    packages.c.committed_seq,
)
Index("ix_packages_kind_seq", packages.c.kind, packages.c.committed_seq)
Index("ix_packages_committed_seq", packages.c.committed_seq)
Index("ix_packages_subject", packages.c.subject)

package_files = Table(
    "package_files",
    metadata,
    Column("package_digest", String(71), nullable=False),
    Column("path", String(4096), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blake3", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("executable", Boolean, nullable=False),
    PrimaryKeyConstraint("package_digest", "path"),
)
Index("ix_package_files_sha256", package_files.c.sha256)

package_labels = Table(
    "package_labels",
    metadata,
    Column("package_digest", String(71), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", String(1024), nullable=False),
    PrimaryKeyConstraint("package_digest", "key"),
)
Index("ix_package_labels_key_value", package_labels.c.key, package_labels.c.value)

package_links = Table(
    "package_links",
    metadata,
    Column("package_digest", String(71), nullable=False),
    Column("rel", String(64), nullable=False),
    Column("target", String(71), nullable=False),
    PrimaryKeyConstraint("package_digest", "rel", "target"),
)
Index("ix_package_links_target", package_links.c.target)

tags = Table(
    "tags",
    metadata,
    Column("namespace", String(255), nullable=False),
    Column("name", String(128), nullable=False),
    Column("tag", String(128), nullable=False),
    Column("target", String(71), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
    Column("set_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("namespace", "name", "tag"),
)
Index("ix_tags_target", tags.c.target)

holds = Table(
    "holds",
    metadata,
    Column("hold_id", String(64), primary_key=True),
    Column("package_digest", String(71), nullable=False),
    Column("reason", String(1024), nullable=False),
    Column("placed_by", String(255), nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("placed_seq", BigInteger, nullable=False),
    Column("released_seq", BigInteger, nullable=True),
)
Index("ix_holds_package_digest", holds.c.package_digest)

retention_policies = Table(
    "retention_policies",
    metadata,
    Column("policy_id", String(64), primary_key=True),
    Column("namespace", String(255), nullable=False),
    Column("selector", JSON, nullable=False),
    Column("keep_last", Integer, nullable=True),
    Column("max_age_days", Integer, nullable=True),
    Column("lock_days", Integer, nullable=True),
    Column("lock_mode", String(16), nullable=True),
    Column("set_seq", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("principal", String(255), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("expires_at", String(40), nullable=True),
    Column("issued_seq", BigInteger, nullable=False),
    Column("revoked_seq", BigInteger, nullable=True),
)

#: Operational state, not a view: upload sessions in flight. Only their outcome is an event.
upload_sessions = Table(
    "upload_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace", String(255), nullable=True),
    Column("actor", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", BigInteger, nullable=True),
    Column("claimed_digest", String(71), nullable=True),
    Column("backend_id", String(255), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_upload_sessions_expires_at", upload_sessions.c.expires_at)

#: The tables a rebuild drops and replays, in an order safe for deletion.
VIEW_TABLES = (
    package_files,
    package_labels,
    package_links,
    tags,
    holds,
    packages,
    blobs,
    namespaces,
    retention_policies,
    tokens,
)
