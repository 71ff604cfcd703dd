"""The store's schema versions (Alembic) and how a store upgrades itself when Passerelle opens it.

Every engine the store creates calls :func:`upgrade_store` once: it reads the database's revision from
``alembic_version`` and, when that is already :data:`HEAD` (the usual case), returns without importing
Alembic (~0.3 s of imports on this VM, paid by every flow run and CLI command otherwise). Else, it takes a
lock, reads the revision again (another process may have upgraded meanwhile) and runs ``alembic upgrade
head`` on that same connection, in one transaction:

- PostgreSQL: ``pg_advisory_xact_lock``, released at commit; PostgreSQL runs DDL in the transaction.
- SQLite: ``BEGIN IMMEDIATE`` takes the write lock (others wait up to the 30 s busy timeout); SQLite runs
  DDL in the transaction too, so a failed upgrade leaves the store as it was.

A store without ``alembic_version`` but with the store's tables was made by ``create_all`` before
Passerelle used Alembic: revision 0001 adopts it (it creates only the tables it lacks), which records it
at 0001, and the later revisions upgrade it. Migrations live in ``versions/``; docs/store.md says how to
add one (``python -m passerelle.store.migrations revision --autogenerate -m "..."``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from passerelle.store import models  # noqa: F401  (the tables)

if TYPE_CHECKING:
    from alembic.config import Config

HEAD = "0005"
"""The newest revision in versions/ (tests/store/test_migrations.py checks it is Alembic's head)."""

VERSION_TABLE = "alembic_version"
DIRECTORY = Path(__file__).resolve().parent
PG_LOCK_KEY = 0x706173736572656C  # "passerel" in ASCII: the advisory lock that serialises upgrades
logger = logging.getLogger("passerelle.store.migrations")


class UnknownRevision(RuntimeError):
    """The store is at a revision this Passerelle does not have: a newer Passerelle upgraded it."""

    def __init__(self, revision: str) -> None:
        super().__init__(f"schema revision {revision} is unknown to this Passerelle (its newest is {HEAD}): a "
                         f"newer Passerelle upgraded this store; run that version, or use another store")
        self.revision = revision


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the scripts in this package, and the database as
    `connection` (used as it is: the caller commits) or `url` (env.py opens and commits it)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(DIRECTORY))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    config.attributes["url"] = url
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database; None when it has no ``alembic_version`` (new, or made by
    ``create_all`` before Passerelle used Alembic)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade_store(engine: Engine) -> str | None:
    """Bring the store's schema to :data:`HEAD`; safe when several processes open one store at once.

    Returns:
        The revision the store was at when this call upgraded it (None: unversioned or empty), or
        :data:`HEAD` when there was nothing to do.

    Raises:
        UnknownRevision: the store is at a revision newer than this Passerelle's.
    """
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return HEAD
        _lock(conn)
        before = current_revision(conn)  # again, under the lock: another process may have upgraded it
        if before == HEAD:
            conn.commit()
            return HEAD
        _migrate(conn, before)
        conn.commit()
    return before


def _lock(conn: Connection) -> None:
    """Serialise upgraders until the connection's transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.rollback()  # SQLAlchemy's idea of a transaction, begun by the reads; the driver has none open
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(conn: Connection, before: str | None) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    if before is not None and before not in {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}:
        raise UnknownRevision(before)
    if before is None and (adopted := sorted(set(inspect(conn).get_table_names()) & set(SQLModel.metadata.tables))):
        logger.info("adopting a store made before Passerelle versioned its schema (it has %s): revision 0001 "
                    "creates only the tables it lacks", ", ".join(adopted))
    logger.info("upgrading the store's schema from %s to %s", before or "no revision", HEAD)
    command.upgrade(config, "head")


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """How autogenerate writes sqlmodel's column types into a migration: as the plain SQLAlchemy types
    they create (``VARCHAR``, ``TIMESTAMP WITH TIME ZONE``), so a migration stays what it was when written."""
    from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
