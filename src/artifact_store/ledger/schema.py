"""The shared SQLAlchemy ``MetaData`` (the Alembic target) and the ``events`` table.

``catalog/schema.py`` adds the view tables to the same ``MetaData``. A naming convention gives
every constraint a stable name, so migrations see the same names on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

__all__ = ["UTCDateTime", "events", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` stored as a naive UTC timestamp on every dialect."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware → naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Naive UTC → aware."""
        return None if value is None else value.replace(tzinfo=UTC)


events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("time", UTCDateTime, nullable=False),
    Column("type", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("namespace", String(255), nullable=True),
    Column("subject", String(600), nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
)
Index("ix_events_namespace_seq", events.c.namespace, events.c.seq)
Index("ix_events_type_seq", events.c.type, events.c.seq)
