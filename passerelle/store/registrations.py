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
        How many facts were written.
    """
    org, now = _organization(organization), datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    for fact in facts:
        rid, person = fact.get("registration_id"), fact.get("person_id")
        if rid in (None, "") or person is None:
            continue
        row = {k: fact.get(k) for k in FACT_COLUMNS}
        rows[str(rid)] = {**row, "registration_id": str(rid), "organization": org, "seen_at": now}
    if not rows:
        return 0
    table = AmiliaRegistration.__table__
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["organization", "registration_id"],
        set_={c: stmt.excluded[c] for c in (*FACT_COLUMNS[1:], "seen_at")})
    with session_scope(url) as s:
        s.execute(stmt, [rows[k] for k in sorted(rows)])
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
