"""Alembic environment: migrations run on a connection handed over by ``catalog.migrate``."""

from alembic import context

import artifact_store.catalog.schema  # noqa: F401 - registers the view tables on the metadata
from artifact_store.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through artifact_store.catalog.migrate.upgrade()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
