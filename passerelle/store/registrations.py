"""Amilia registration facts: registration → (person, account, activity), as the sync and the webhooks saw them.

Amilia sends some Delete webhooks with only ``{"Id": "…"}``, and a deleted registration can no longer be
read from its API. The drain resolves such a Delete from what it stored here when the initial sync (or the
reconciliation) listed the registration, or when an earlier webhook carried it whole; an Id never seen is
left to the reconciliation (docs/amilia-webhooks.md, "A registration Delete with only its Id").

Facts are keyed by the link's Amilia organisation (the id or slug of its credentials) and Amilia's ``Id`` of
the registration; writing one again replaces it (``ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL).

Example:
    remember_registrations("8008", [{"registration_id": "9001", "person_id": 502, "account_id": 77,
                                     "activity_id": 4, "program": "Arts", "activity": "Ballet"}])
    registration_facts("8008", ["9001", "9002"])   # {"9001": {...}}: 9002 was never seen
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from passerelle.store.engine import get_engine, session_scope
from passerelle.store.models import AmiliaRegistration

FACT_COLUMNS = ("registration_id", "number", "date_created", "person_id", "account_id", "owner_person_id",
                "activity_id", "program", "category", "subcategory", "activity")
_CHUNK = 500  # ids per IN (...): well under SQLite's variable limit


def _organization(organization: str | int) -> str:
    return str(organization).strip().lower()


def remember_registrations(organization: str | int, facts: Iterable[Mapping[str, Any]],
                           url: str | None = None) -> int:
    """Store (or replace) registration facts; a fact without a registration or person id is ignored.

    Args:
        organization: The link's Amilia organisation (id or slug, as in its credentials).
        facts: Mappings with the keys of :data:`FACT_COLUMNS` (missing ones are None).
        url: Store URL; default the configured store.

    Returns:
        How many facts were written (a sync's facts already kept as they are are not written again).
    """
    org, now = _organization(organization), datetime.now(UTC)
    rows: dict[str, tuple] = {}
    for fact in facts:
        rid, person = fact.get("registration_id"), fact.get("person_id")
        if rid not in (None, "") and person is not None:
            rows[str(rid)] = (str(rid), *(fact.get(k) for k in FACT_COLUMNS[1:]))
    engine = get_engine(url)
    if len(rows) > _CHUNK:  # a sync or reconciliation: most facts are kept already, unchanged
        with engine.connect() as conn:
            kept = conn.execute(select(*(AmiliaRegistration.__table__.c[k] for k in FACT_COLUMNS))
                                .where(AmiliaRegistration.organization == org))
            for row in kept:
                if rows.get(row[0]) == tuple(row):
                    del rows[row[0]]
    if not rows:
        return 0
    columns = ("organization", *FACT_COLUMNS, "seen_at")
    if engine.dialect.name == "sqlite":  # the DB-API's executemany: ~3x faster than the ORM for a sync's rows
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME format
        sql = (f"INSERT INTO amilia_registration ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
               f"ON CONFLICT (organization, registration_id) DO UPDATE SET "
               + ", ".join(f"{c} = excluded.{c}" for c in columns[2:]))
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, [(org, *row, stamp) for row in rows.values()])
        return len(rows)
    from sqlalchemy.dialects.postgresql import insert

    stmt = insert(AmiliaRegistration.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["organization", "registration_id"],
                                      set_={c: stmt.excluded[c] for c in columns[2:]})
    with session_scope(url) as s:
        s.execute(stmt, [dict(zip(columns, (org, *row, now), strict=True)) for row in rows.values()])
    return len(rows)


def registration_facts(organization: str | int, registration_ids: Iterable[str | int],
                       url: str | None = None) -> dict[str, dict[str, Any]]:
    """The facts stored for these registration ids (id → fact with the keys of :data:`FACT_COLUMNS`); ids
    never seen are absent."""
    org = _organization(organization)
    wanted = sorted({str(i) for i in registration_ids})
    found: dict[str, dict[str, Any]] = {}
    with session_scope(url) as s:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            rows = s.exec(select(AmiliaRegistration).where(AmiliaRegistration.organization == org,
                                                          AmiliaRegistration.registration_id.in_(chunk))).all()
            for row in rows:
                found[row.registration_id] = {k: getattr(row, k) for k in FACT_COLUMNS}
    return found
