"""The durable inbox: one row per accepted webhook delivery, claimed in batches by drainers.

Rules:
- A delivery is stored once per (source, link, event_id); a re-delivery is acknowledged, not stored again.
- Events of one entity (`entity_key`, e.g. ``person:501``) are applied in the order received: only the
  oldest unfinished event of an entity (its *head*) can be claimed, and a claim takes the head together
  with the entity's following pending events, in order.
- Claiming is one atomic ``UPDATE … WHERE id IN (SELECT …) RETURNING``: on PostgreSQL the inner select
  locks with ``FOR UPDATE SKIP LOCKED`` so several drainers never take the same rows; SQLite serialises
  writers, so the statement is atomic there too.
- A claim is a lease: a drainer killed mid-batch leaves rows ``processing`` until the lease expires, then
  they are claimable again (effects are idempotent or guarded by the effect ledger).
- A failure is retried with exponential backoff; after ``max_attempts`` the event is ``dead`` with its last
  error, and no longer holds back its entity. ``replay`` puts dead events back to ``pending``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlmodel import select

from passerelle.store.engine import get_engine, session_scope
from passerelle.store.models import DEAD, DONE, PENDING, PROCESSING, STATUSES, InboxEvent


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivery:
    """What a source plug-in extracted from one accepted webhook call."""

    source: str
    link: str
    event_id: str
    event_type: str
    entity_key: str
    payload: dict[str, Any]
    raw: bytes | None = field(default=None, repr=False, compare=False)
    """`payload` as the vendor sent it (UTF-8 JSON), when the source has those bytes: stored as they are."""


def store_deliveries(deliveries: list[Delivery], url: str | None = None) -> list[bool]:
    """Durably store deliveries in one transaction. Returns, per delivery, whether it was new.

    A re-delivery (same source, link and event id) is not stored again and reports False.
    """
    if not deliveries:
        return []
    engine = get_engine(url)
    if engine.dialect.name == "sqlite":
        return _store_sqlite(engine, deliveries)
    now = _now()
    rows = [{"source": d.source, "link": d.link, "event_id": d.event_id, "event_type": d.event_type,
             "entity_key": d.entity_key, "payload": d.payload, "received_at": now, "status": PENDING,
             "attempts": 0, "next_attempt_at": now} for d in deliveries]
    # PostgreSQL: one cached statement executed with many parameter sets ("insertmanyvalues"): SQLAlchemy batches
    # them into multi-row INSERTs itself. `.values(rows)` would compile a new statement per call (~150 µs
    # per row), the gateway's main cost under load.
    table = InboxEvent.__table__
    stmt = pg_insert(table).on_conflict_do_nothing(
        index_elements=["source", "link", "event_id"]).returning(table.c.event_id)
    with session_scope(url) as s:
        created = {row[0] for row in s.execute(stmt, rows)}
    seen: set[str] = set()
    result = []
    for d in deliveries:  # the same id twice in one transaction: only the first counts as new
        result.append(d.event_id in created and d.event_id not in seen)
        seen.add(d.event_id)
    return result


_SQLITE_INSERT = f"""INSERT INTO inbox_event (source, link, event_id, event_type, entity_key, payload, received_at,
                                             status, attempts, next_attempt_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, '{PENDING}', 0, ?) ON CONFLICT (source, link, event_id) DO NOTHING"""


def _store_sqlite(engine: Engine, deliveries: list[Delivery]) -> list[bool]:
    """`store_deliveries` on SQLite, on the DB-API connection: one cached INSERT per row, whose row count
    says whether the row is new (a duplicate in the same batch included). SQLAlchemy's statement machinery
    and JSON encoding cost the gateway several times the insert itself; the payload is stored as the bytes
    received when the source kept them, else encoded by orjson (either way what the JSON column reads)."""
    stamp = _bind_datetime(engine)(_now())
    rows = [(d.source, d.link, d.event_id, d.event_type, d.entity_key,
             (d.raw if d.raw is not None else orjson.dumps(d.payload)).decode(), stamp, stamp) for d in deliveries]
    connection = engine.raw_connection()  # pooled: the engine's connect and checkout pragmas apply
    try:
        cursor = connection.cursor()
        result = []
        for row in rows:
            cursor.execute(_SQLITE_INSERT, row)
            result.append(cursor.rowcount == 1)
        connection.commit()
        return result
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def _bind_datetime(engine: Engine):
    """How the store's datetime columns write a value on this engine (the claim queries compare them)."""
    column_type = InboxEvent.__table__.c.received_at.type
    return column_type.dialect_impl(engine.dialect).bind_processor(engine.dialect) or (lambda value: value)


_CLAIMABLE = """((e.status = :pending AND e.next_attempt_at <= :now)
                  OR (e.status = :processing AND e.claimed_until < :now))"""
_HEADS = """SELECT min(id) FROM inbox_event
            WHERE source = :source AND link = :link AND status IN (:pending, :processing)
            GROUP BY entity_key"""
_CLAIM = """UPDATE inbox_event SET status = :processing, claimed_by = :worker, claimed_until = :until,
                   attempts = attempts + 1"""

# SQLite: one statement. SQLite runs one writer at a time, and the statement reads inside its write
# transaction, so two drainers can never claim the same rows.
_SQLITE_CLAIM = text(f"""{_CLAIM}
    WHERE id IN (
        SELECT e.id FROM inbox_event e
        WHERE e.source = :source AND e.link = :link AND {_CLAIMABLE}
          AND e.entity_key IN (SELECT h.entity_key FROM inbox_event h
                               WHERE h.id IN ({_HEADS}) AND {_CLAIMABLE.replace("e.", "h.")})
        ORDER BY e.id LIMIT :limit)
    RETURNING id""")

# PostgreSQL, step 1: lock claimable heads, skipping heads another drainer holds.
_PG_LOCK_HEADS = text(f"""SELECT e.id, e.entity_key FROM inbox_event e
    WHERE e.id IN ({_HEADS}) AND {_CLAIMABLE}
    ORDER BY e.id LIMIT :limit FOR UPDATE SKIP LOCKED""")
# Step 2: claim the chains of the entities whose head this drainer locked (nobody else can: their head
# is locked now, and `processing` once committed).
_PG_CLAIM_CHAINS = text(f"""{_CLAIM}
    WHERE id IN (SELECT e.id FROM inbox_event e
                 WHERE e.source = :source AND e.link = :link AND e.entity_key = ANY(:keys) AND {_CLAIMABLE}
                 ORDER BY e.id LIMIT :limit)
    RETURNING id""")


def claim_batch(source: str, link: str, worker: str, limit: int = 200, lease_seconds: float = 60.0,
                url: str | None = None) -> list[InboxEvent]:
    """Claim up to `limit` events: per-entity chains starting at each entity's head, in id order."""
    postgres = get_engine(url).dialect.name == "postgresql"
    now = _now()
    params = {"processing": PROCESSING, "pending": PENDING, "worker": worker, "source": source, "link": link,
              "now": now, "until": now + timedelta(seconds=lease_seconds), "limit": limit}
    with session_scope(url) as s:
        if postgres:
            keys = [row[1] for row in s.execute(_PG_LOCK_HEADS, params)]
            if not keys:
                return []
            ids = [row[0] for row in s.execute(_PG_CLAIM_CHAINS, {**params, "keys": keys})]
        else:
            ids = [row[0] for row in s.execute(_SQLITE_CLAIM, params)]
        if not ids:
            return []
        events = s.exec(select(InboxEvent).where(InboxEvent.id.in_(ids)).order_by(InboxEvent.id)).all()
    return list(events)


def mark_done(ids: list[int], url: str | None = None) -> None:
    """Mark events done: one ``UPDATE … WHERE id IN`` per 500 ids, in one transaction (loading each row as an
    ORM object cost a drain ~0.2 ms per event)."""
    if not ids:
        return
    table, now = InboxEvent.__table__, _now()
    with session_scope(url) as s:
        for start in range(0, len(ids), 500):
            s.execute(update(table).where(table.c.id.in_(ids[start:start + 500]))
                      .values(status=DONE, done_at=now, claimed_until=None, last_error=None))


def backoff_seconds(attempts: int, base: float = 2.0, cap: float = 600.0) -> float:
    return min(cap, base * 2 ** max(0, attempts - 1))


def mark_failed(event_id: int, error: str, max_attempts: int = 8, url: str | None = None) -> str:
    """Record a failure: back to pending after a backoff, or dead after `max_attempts`. Returns the status."""
    with session_scope(url) as s:
        event = s.get(InboxEvent, event_id)
        if event is None:
            raise LookupError(f"inbox event {event_id} is not in the store")
        event.last_error = error[:4000]
        event.claimed_until = None
        if event.attempts >= max_attempts:
            event.status = DEAD
        else:
            event.status = PENDING
            event.next_attempt_at = _now() + timedelta(seconds=backoff_seconds(event.attempts))
        return event.status


def release(ids: list[int], url: str | None = None) -> None:
    """Give claimed events back untouched (a drainer stopping early), without counting an attempt."""
    if not ids:
        return
    with session_scope(url) as s:
        for event in s.exec(select(InboxEvent).where(InboxEvent.id.in_(ids),
                                                     InboxEvent.status == PROCESSING)):
            event.status, event.claimed_until = PENDING, None
            event.attempts = max(0, event.attempts - 1)


def replay(source: str | None = None, link: str | None = None, ids: list[int] | None = None,
           url: str | None = None) -> int:
    """Put dead events back to pending (all dead ones of a source/link, or the given ids)."""
    with session_scope(url) as s:
        stmt = select(InboxEvent).where(InboxEvent.status == DEAD)
        if source:
            stmt = stmt.where(InboxEvent.source == source)
        if link:
            stmt = stmt.where(InboxEvent.link == link)
        if ids:
            stmt = stmt.where(InboxEvent.id.in_(ids))
        count = 0
        for event in s.exec(stmt):
            event.status, event.attempts, event.next_attempt_at = PENDING, 0, _now()
            count += 1
        return count


def purge(older_than: timedelta, statuses: tuple[str, ...] = (DONE,), url: str | None = None) -> int:
    """Delete finished events received before now − `older_than`."""
    with session_scope(url) as s:
        rows = s.exec(select(InboxEvent).where(InboxEvent.status.in_(statuses),
                                               InboxEvent.received_at < _now() - older_than)).all()
        for row in rows:
            s.delete(row)
        return len(rows)


def stats(source: str | None = None, link: str | None = None, url: str | None = None) -> dict[str, int]:
    """Count of events per status."""
    with session_scope(url) as s:
        stmt = select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
        if source:
            stmt = stmt.where(InboxEvent.source == source)
        if link:
            stmt = stmt.where(InboxEvent.link == link)
        counts = dict(s.exec(stmt).all())
    return {status: int(counts.get(status, 0)) for status in STATUSES}


def get_event(event_id: int, url: str | None = None) -> InboxEvent | None:
    with session_scope(url) as s:
        return s.get(InboxEvent, event_id)


def list_events(status: str | None = None, source: str | None = None, link: str | None = None,
                limit: int = 50, url: str | None = None) -> list[InboxEvent]:
    with session_scope(url) as s:
        stmt = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(InboxEvent.status == status)
        if source:
            stmt = stmt.where(InboxEvent.source == source)
        if link:
            stmt = stmt.where(InboxEvent.link == link)
        return list(s.exec(stmt).all())
