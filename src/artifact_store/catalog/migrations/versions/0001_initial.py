"""initial schema: event log, every view, upload sessions

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:42:14.752458
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blake3", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.Column("stored_seq", sa.BigInteger(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("changed_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
        sa.UniqueConstraint("blake3", name=op.f("uq_blobs_blake3")),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.String(length=600), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_namespace_seq", ["namespace", "seq"], unique=False)
        batch_op.create_index("ix_events_type_seq", ["type", "seq"], unique=False)

    op.create_table(
        "holds",
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("package_digest", sa.String(length=71), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("placed_by", sa.String(length=255), nullable=False),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("placed_seq", sa.BigInteger(), nullable=False),
        sa.Column("released_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index("ix_holds_package_digest", ["package_digest"], unique=False)

    op.create_table(
        "namespaces",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_namespaces")),
    )
    op.create_table(
        "package_files",
        sa.Column("package_digest", sa.String(length=71), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blake3", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("executable", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("package_digest", "path", name=op.f("pk_package_files")),
    )
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.create_index("ix_package_files_sha256", ["sha256"], unique=False)

    op.create_table(
        "package_labels",
        sa.Column("package_digest", sa.String(length=71), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("package_digest", "key", name=op.f("pk_package_labels")),
    )
    with op.batch_alter_table("package_labels", schema=None) as batch_op:
        batch_op.create_index("ix_package_labels_key_value", ["key", "value"], unique=False)

    op.create_table(
        "package_links",
        sa.Column("package_digest", sa.String(length=71), nullable=False),
        sa.Column("rel", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=71), nullable=False),
        sa.PrimaryKeyConstraint("package_digest", "rel", "target", name=op.f("pk_package_links")),
    )
    with op.batch_alter_table("package_links", schema=None) as batch_op:
        batch_op.create_index("ix_package_links_target", ["target"], unique=False)

    op.create_table(
        "packages",
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("created", sa.String(length=40), nullable=False),
        sa.Column("producer", sa.String(length=256), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=71), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("committed_at", sa.DateTime(), nullable=False),
        sa.Column("committed_seq", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("deleted_seq", sa.BigInteger(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("lock_mode", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_packages")),
        sa.UniqueConstraint(
            "namespace", "name", "version", name=op.f("uq_packages_namespace_name_version")
        ),
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index("ix_packages_committed_seq", ["committed_seq"], unique=False)
        batch_op.create_index("ix_packages_kind_seq", ["kind", "committed_seq"], unique=False)
        batch_op.create_index(
            "ix_packages_namespace_name_seq", ["namespace", "name", "committed_seq"], unique=False
        )
        batch_op.create_index("ix_packages_subject", ["subject"], unique=False)

    op.create_table(
        "retention_policies",
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=True),
        sa.Column("max_age_days", sa.Integer(), nullable=True),
        sa.Column("lock_days", sa.Integer(), nullable=True),
        sa.Column("lock_mode", sa.String(length=16), nullable=True),
        sa.Column("set_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "tags",
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=71), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("set_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "name", "tag", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("ix_tags_target", ["target"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=255), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=True),
        sa.Column("issued_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_tokens_token_sha256")),
    )
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("claimed_digest", sa.String(length=71), nullable=True),
        sa.Column("backend_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_sessions")),
    )
    with op.batch_alter_table("upload_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_upload_sessions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("upload_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_upload_sessions_expires_at")

    op.drop_table("upload_sessions")
    op.drop_table("tokens")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tags_target")

    op.drop_table("tags")
    op.drop_table("retention_policies")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index("ix_packages_subject")
        batch_op.drop_index("ix_packages_namespace_name_seq")
        batch_op.drop_index("ix_packages_kind_seq")
        batch_op.drop_index("ix_packages_committed_seq")

    op.drop_table("packages")
    with op.batch_alter_table("package_links", schema=None) as batch_op:
        batch_op.drop_index("ix_package_links_target")

    op.drop_table("package_links")
    with op.batch_alter_table("package_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_package_labels_key_value")

    op.drop_table("package_labels")
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.drop_index("ix_package_files_sha256")

    op.drop_table("package_files")
    op.drop_table("namespaces")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_package_digest")

    op.drop_table("holds")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_seq")
        batch_op.drop_index("ix_events_namespace_seq")

    op.drop_table("events")
    op.drop_table("blobs")
