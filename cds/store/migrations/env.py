"""Alembic environment: migrates the connection `cds.store.migrations.upgrade` hands over, in its transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cds.store.tables import metadata


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
else:  # the alembic command line, given sqlalchemy.url
    with create_engine(context.config.get_main_option("sqlalchemy.url")).begin() as own:
        _migrate(own)
