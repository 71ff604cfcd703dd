"""Alembic's environment for the store: the target is the models of passerelle/store/models.py; the database
is the connection the store passes (``config.attributes["connection"]``, inside the caller's transaction,
see passerelle/store/migrations/__init__.py) or, from the command line, a URL (``config.attributes["url"]``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from passerelle.store import models  # noqa: F401  (the tables)
from passerelle.store.migrations import render_item

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite alters a table by copying it: batch operations do that for us
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("the store's migrations inspect the database they upgrade: offline (--sql) mode is not "
                     "supported; run them against a database")
elif config.attributes.get("connection") is not None:
    run_migrations(config.attributes["connection"])
else:
    engine = create_engine(config.attributes["url"])
    try:
        with engine.connect() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()
