"""The effect ledger (which external side effects are done) and drain leases (who may drain a link).

Effect ledger (DESIGN.md, "Effects are idempotent"): every external side effect that must not be repeated
has a key, ``<event or run id>:<step>`` (webhook processing uses ``inbox-<inbox row id>:<step>``). A
step records its key once the effect is done; a re-run after a crash asks which keys are done and skips
them. Recording is insert-if-absent (``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL), so two
writers recording the same key never fail and the first ``done_at`` and detail are kept.

Leases: a named, expiring hold on a piece of work (e.g. ``amilia-drain:<link>``), taken and renewed with
one atomic statement, so at most one holder at a time on SQLite (one writer at a time) as on PostgreSQL
(row lock of the ``UPDATE``). A holder killed without releasing loses the lease when it expires.

Example:
    if not effect_done("inbox-42:remove:7:lea@example.org"):
        await cyberimpact.remove_member_group("lea@example.org", 7)
        record_effect("inbox-42:remove:7:lea@example.org")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from passerelle.store.engine import get_engine, session_scope
from passerelle.store.models import Effect, Lease

_CHUNK = 500  # keys per IN (...) / VALUES list: well under SQLite's variable limit


def _now() -> datetime:
    return datetime.now(UTC)


def _insert_for(url: str | None):
    return pg_insert if get_engine(url).dialect.name == "postgresql" else sqlite_insert


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- effect ledger ------------------------------------------------------------------------------------
def effect_done(key: str, url: str | None = None) -> bool:
    """Whether the effect `key` was recorded as done."""
    with session_scope(url) as s:
        return s.get(Effect, key) is not None


def done_keys(keys: Iterable[str], url: str | None = None) -> set[str]:
    """The subset of `keys` recorded as done (one query per 500 keys)."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    if not wanted:
        return found
    with session_scope(url) as s:
        for chunk in _chunks(wanted):
            found.update(s.exec(select(Effect.key).where(Effect.key.in_(chunk))).all())
    return found


def record_effect(key: str, detail: str | None = None, url: str | None = None) -> bool:
    """Record that the effect `key` is done. Returns False when it was already recorded (kept as it was)."""
    return bool(record_effects({key: detail}, url=url))


def record_effects(keys: Iterable[str] | Mapping[str, str | None], url: str | None = None) -> set[str]:
    """Record several effects in one transaction (insert-if-absent).

    Args:
        keys: Keys, or a mapping key → detail (a short, secret-free text, e.g. what was written).
        url: Store URL; default the configured store.

    Returns:
        The keys that were new.
    """
    details = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys)
    if not details:
        return set()
    with session_scope(url) as s:
        return insert_effects(s, details, url=url)


def insert_effects(session: Any, details: Mapping[str, str | None], url: str | None = None) -> set[str]:
    """:func:`record_effects` inside the caller's transaction (`session`), so the effects commit with its other
    writes. Returns the keys that were new."""
    if not details:
        return set()
    now = _now()
    rows = [{"key": k, "done_at": now, "detail": details[k]} for k in sorted(details)]
    # One cached statement executed with many parameter sets (SQLAlchemy's "insertmanyvalues" batches them);
    # `.values(rows)` compiled a new statement per call, ~1 ms, several times the insert, and the drain
    # records one effect per removal.
    table = Effect.__table__
    stmt = _insert_for(url)(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    return {row[0] for row in session.execute(stmt, rows)}


def effect_details(prefix: str, url: str | None = None) -> dict[str, str | None]:
    """Keys starting with `prefix` and their details (e.g. everything recorded for ``inbox-42:``)."""
    with session_scope(url) as s:
        rows = s.exec(select(Effect.key, Effect.detail).where(Effect.key.startswith(prefix))).all()
    return dict(rows)


# -- leases -------------------------------------------------------------------------------------------
def acquire_lease(name: str, holder: str, seconds: float, url: str | None = None) -> bool:
    """Take the lease `name` for `seconds` if it is free, expired, or already ours. Returns whether we hold it."""
    now = _now()
    until = now + timedelta(seconds=seconds)
    insert = _insert_for(url)
    with session_scope(url) as s:
        created = s.execute(insert(Lease).values(name=name, holder=holder, expires_at=until)
                            .on_conflict_do_nothing(index_elements=["name"]).returning(Lease.name)).first()
        if created:
            return True
        taken = s.execute(update(Lease).where(Lease.name == name)
                          .where((Lease.expires_at < now) | (Lease.holder == holder))
                          .values(holder=holder, expires_at=until))
        return taken.rowcount == 1


def renew_lease(name: str, holder: str, seconds: float, url: str | None = None) -> bool:
    """Extend a lease we hold (even if it just expired, as long as nobody took it). Returns whether we hold it."""
    with session_scope(url) as s:
        renewed = s.execute(update(Lease).where(Lease.name == name, Lease.holder == holder)
                            .values(expires_at=_now() + timedelta(seconds=seconds)))
        return renewed.rowcount == 1


def release_lease(name: str, holder: str, url: str | None = None) -> None:
    """Give a lease back (no-op when another holder has it)."""
    with session_scope(url) as s:
        s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def lease_holder(name: str, url: str | None = None) -> str | None:
    """Who holds the lease now (None when free or expired)."""
    with session_scope(url) as s:
        lease = s.get(Lease, name)
    if lease is None:
        return None
    expires = lease.expires_at if lease.expires_at.tzinfo else lease.expires_at.replace(tzinfo=UTC)
    return lease.holder if expires >= _now() else None
