"""Helpers of the store tests: the store as Passerelle made it before Alembic, and fresh databases.

`LEGACY` is frozen from commit 3de8e49 (the last schema made by ``SQLModel.metadata.create_all``, before
``sync_run.heartbeat_at``): the same tables, columns, types, keys, constraints and indexes as its models
created, written as plain SQLAlchemy so that later changes to the models cannot change it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url

LEGACY = MetaData()

Table("sync_run", LEGACY,
      Column("id", Integer, primary_key=True),
      Column("kind", String, nullable=False, index=True),
      Column("link", String, nullable=False, index=True),
      Column("flow_run_id", String),
      Column("dry_run", Boolean, nullable=False),
      Column("status", String, nullable=False),
      Column("stage", String, nullable=False),
      Column("progress_done", Integer, nullable=False),
      Column("progress_total", Integer, nullable=False),
      Column("started_at", DateTime(timezone=True), nullable=False),
      Column("finished_at", DateTime(timezone=True)),
      Column("summary", JSON),
      Column("error", Text))
Table("watermark", LEGACY,
      Column("source", String, primary_key=True),
      Column("link", String, primary_key=True),
      Column("value", DateTime(timezone=True), nullable=False),
      Column("updated_at", DateTime(timezone=True), nullable=False))
Table("amilia_registration", LEGACY,
      Column("organization", String, primary_key=True),
      Column("registration_id", String, primary_key=True),
      Column("number", String),
      Column("date_created", String),
      Column("person_id", Integer, nullable=False),
      Column("account_id", Integer),
      Column("owner_person_id", Integer),
      Column("activity_id", Integer),
      Column("program", String),
      Column("category", String),
      Column("subcategory", String),
      Column("activity", String),
      Column("seen_at", DateTime(timezone=True), nullable=False))
Table("effect", LEGACY,
      Column("key", String, primary_key=True),
      Column("done_at", DateTime(timezone=True), nullable=False),
      Column("detail", Text))
Table("lease", LEGACY,
      Column("name", String, primary_key=True),
      Column("holder", String, nullable=False),
      Column("expires_at", DateTime(timezone=True), nullable=False))
Table("inbox_event", LEGACY,
      Column("id", Integer, primary_key=True),
      Column("source", String, nullable=False),
      Column("link", String, nullable=False),
      Column("event_id", String, nullable=False),
      Column("event_type", String, nullable=False),
      Column("entity_key", String, nullable=False),
      Column("payload", JSON),
      Column("received_at", DateTime(timezone=True), nullable=False),
      Column("status", String, nullable=False),
      Column("attempts", Integer, nullable=False),
      Column("next_attempt_at", DateTime(timezone=True), nullable=False),
      Column("claimed_by", String),
      Column("claimed_until", DateTime(timezone=True)),
      Column("last_error", Text),
      Column("done_at", DateTime(timezone=True)),
      UniqueConstraint("source", "link", "event_id", name="uq_inbox_delivery"),
      Index("ix_inbox_claim", "source", "link", "status", "entity_key", "id"))
Table("hook_link", LEGACY,
      Column("source", String, primary_key=True),
      Column("link", String, primary_key=True),
      Column("token_sha256", String, nullable=False),
      Column("created_at", DateTime(timezone=True), nullable=False))

T0 = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 9, 45, 12, 345678, tzinfo=UTC)

ROWS: dict[str, list[dict]] = {
    "sync_run": [
        dict(id=1, kind="amilia_initial_sync", link="default", flow_run_id="3f1c", dry_run=False, status="completed",
             stage="done", progress_done=4, progress_total=4, started_at=T0, finished_at=T1,
             summary={"contacts": {"created": 3, "updated": 1}, "groups": ["Arts \\ Ballet"]}, error=None),
        dict(id=2, kind="amilia_initial_sync", link="école", flow_run_id=None, dry_run=True, status="failed",
             stage="loading contacts", progress_done=1, progress_total=9, started_at=T1, finished_at=T1,
             summary={}, error="Cyberimpact answered 401: check the API token"),
    ],
    "watermark": [dict(source="amilia", link="default", value=T0, updated_at=T1)],
    "amilia_registration": [
        dict(organization="8008", registration_id="9001", number="SUB-1234", date_created="2025-09-01T10:00:00",
             person_id=502, account_id=77, owner_person_id=501, activity_id=4, program="Arts", category="Danse",
             subcategory=None, activity="Ballet", seen_at=T0),
        dict(organization="8008", registration_id="9002", number=None, date_created=None, person_id=503,
             account_id=None, owner_person_id=None, activity_id=None, program=None, category=None,
             subcategory=None, activity=None, seen_at=T1),
    ],
    "effect": [dict(key="inbox-1:add:7:lea@example.org", done_at=T0, detail="added to group 7"),
               dict(key="run-1:upsert:0", done_at=T1, detail=None)],
    "lease": [dict(name="amilia-drain:default", holder="worker-1", expires_at=T1)],
    "inbox_event": [
        dict(id=1, source="amilia", link="default", event_id="evt-1", event_type="Person.Update",
             entity_key="person:501", payload={"Id": 501, "FirstName": "Léa", "Tags": ["a", "b"]}, received_at=T0,
             status="done", attempts=1, next_attempt_at=T0, claimed_by=None, claimed_until=None, last_error=None,
             done_at=T1),
        dict(id=2, source="amilia", link="default", event_id="evt-2", event_type="Registration.Delete",
             entity_key="person:502", payload={"Id": "9001"}, received_at=T1, status="dead", attempts=8,
             next_attempt_at=T1, claimed_by="drain-a", claimed_until=T1, last_error="boom\nsecond line",
             done_at=None),
    ],
    "hook_link": [dict(source="amilia", link="default", token_sha256="ab" * 32, created_at=T0)],
}


def create_legacy_store(url: str, tables: Iterable[str] | None = None, *, rows: bool = True) -> None:
    """A store as 3de8e49's ``create_all`` made it (all its tables, or only `tables`), with `ROWS` in it."""
    engine = create_engine(url)
    try:
        chosen = [LEGACY.tables[name] for name in (tables or LEGACY.tables)]
        LEGACY.create_all(engine, tables=chosen)
        if rows:
            with engine.begin() as conn:
                for table in chosen:
                    conn.execute(insert(table), ROWS[table.name])
    finally:
        engine.dispose()


def read_rows(url: str, table_names: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Every row of the legacy tables (their legacy columns only), ordered by primary key, as Python values."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = {}
            for name in table_names or LEGACY.tables:
                table = LEGACY.tables[name]
                found[name] = [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))]
            return found
    finally:
        engine.dispose()


def create_database(admin_url: str) -> str:
    """A new, empty PostgreSQL database beside `admin_url`'s; returns its URL."""
    name = f"passerelle_store_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()
