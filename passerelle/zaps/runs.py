"""The store side of running zaps: zap runs and their steps, zaps switched on or off, and the effect-ledger
entries of one zap run (docs/zaps.md, "Running zaps").

- A **zap run** is one zap for one inbox event (at most one: unique on zap and inbox row). Its status:
  ``running`` while it runs (or after a drain died during it), ``ok``, ``filtered``, ``failed``, ``delayed``
  (waiting for its resume time), ``unknown`` (an action may have been sent; a person decides) or ``held``
  (the zap was disabled when the event came: kept, run when the zap is enabled again).
- Its **steps** are recorded as they last ran (rendered input with secrets masked, output, error, duration).
- A **delayed** run, and a failed one that its zap's ``auto_replay`` replays, have a ``resume_at``: the resumer
  (passerelle/zaps/resume.py) puts their event back in the inbox once it has passed, and the run goes on
  from where it stopped. A person can ``replay`` a run (status ``replay`` until it runs) or ``cancel`` one.
- **Enabled** is the zap's YAML ``enabled`` unless ``passerelle zaps enable|disable`` set it in the store
  (table ``zap_state``), so switching a zap needs no change to its file.

Example:
    set_enabled("oxiva-to-sheets", True)           # its held events go back to the inbox
    for run in list_runs(zap="oxiva-to-sheets"): ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, update
from sqlmodel import select

from passerelle.store.effects import insert_effects
from passerelle.store.engine import session_scope
from passerelle.store.models import DEAD, DONE, PENDING, Effect, InboxEvent, ZapRun, ZapState, ZapStepRun

# A run in one of these is not run again by itself (a delayed run or an auto-replay is, once due: runs.Known).
FINAL = ("ok", "filtered", "failed", "delayed", "unknown", "waiting", "cancelled")
RUN_AGAIN = ("running", "due", "replay")  # recorded runs that run (again) when their event is drained
_CHUNK = 200


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StepRecord:
    """One step as it ran (what `runs show` prints)."""

    step_id: str
    path: str
    type: str
    status: str
    input: Any = None
    output: Any = None
    error: str | None = None
    duration_ms: float = 0.0


@dataclass
class RunRecord:
    """A zap run's outcome, written by :func:`finish_runs`."""

    run_id: int
    status: str
    error: str | None = None
    resume_at: datetime | None = None
    steps: list[StepRecord] = field(default_factory=list)
    retriable: bool = False
    ledger: dict[str, str | None] = field(default_factory=dict)  # effect-ledger entries to record with it


# -- enabled / disabled --------------------------------------------------------------------------------
def zap_flags(url: str | None = None) -> dict[str, bool]:
    """Zaps switched on or off in the store: zap id → enabled (the others follow their YAML)."""
    with session_scope(url) as s:
        return dict(s.exec(select(ZapState.zap_id, ZapState.enabled)).all())


def set_enabled(zap_id: str, enabled: bool, url: str | None = None) -> int:
    """Switch a zap on or off. Enabling puts the inbox events held for it back in the inbox (pending), so the
    next drain of their hook runs them. Returns how many events went back."""
    with session_scope(url) as s:
        state = s.get(ZapState, zap_id)
        if state is None:
            s.add(ZapState(zap_id=zap_id, enabled=enabled))
        else:
            state.enabled, state.updated_at = enabled, _now()
        if not enabled:
            return 0
        held = list(s.exec(select(ZapRun.inbox_id).where(ZapRun.zap_id == zap_id, ZapRun.status == "held")).all())
        for chunk in _chunks(held):
            s.execute(update(InboxEvent).where(InboxEvent.id.in_(chunk), InboxEvent.status.in_((DONE, DEAD)))
                      .values(status=PENDING, attempts=0, next_attempt_at=_now(), claimed_by=None,
                              claimed_until=None, done_at=None))
        return len(held)


def held_count(zap_id: str, url: str | None = None) -> int:
    with session_scope(url) as s:
        return len(s.exec(select(ZapRun.id).where(ZapRun.zap_id == zap_id, ZapRun.status == "held")).all())


# -- runs ---------------------------------------------------------------------------------------------
def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class Known:
    """A run already recorded, as the runner sees it: ``due`` is a delayed run or an auto-replay whose time has
    come, ``replay`` one a person asked to run again (both run now); ``waiting`` a failed run whose auto-replay is
    not due yet."""

    run_id: int
    status: str
    attempts: int


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _seen_as(status: str, retriable: bool, resume_at: datetime | None, now: datetime) -> str:
    if status == "delayed" or (status == "failed" and retriable):
        if resume_at is None or _aware(resume_at) <= now:
            return "due"
        return "waiting" if status == "failed" else status
    return status


def existing_runs(zap_ids: Iterable[str], inbox_ids: Iterable[int], url: str | None = None
                  ) -> dict[tuple[str, int], Known]:
    """(zap id, inbox id) → the run already recorded for these zaps and events, as the runner sees it."""
    zaps, ids = sorted(set(zap_ids)), sorted(set(inbox_ids))
    found: dict[tuple[str, int], Known] = {}
    if not zaps or not ids:
        return found
    now = _now()
    with session_scope(url) as s:
        for chunk in _chunks(ids):
            rows = s.exec(select(ZapRun.zap_id, ZapRun.inbox_id, ZapRun.id, ZapRun.status, ZapRun.retriable,
                                 ZapRun.resume_at, ZapRun.attempts)
                          .where(ZapRun.zap_id.in_(zaps), ZapRun.inbox_id.in_(chunk))).all()
            found.update({(z, i): Known(run_id, _seen_as(status, retry, resume_at, now), attempts)
                          for z, i, run_id, status, retry, resume_at, attempts in rows})
    return found


def open_runs(new: list[dict[str, Any]], again: list[int], url: str | None = None) -> dict[tuple[str, int], int]:
    """Record runs starting, in one transaction, before any of their steps runs.

    Args:
        new: Runs to create: dicts with zap_id, inbox_id, source, link and status (``running`` or ``held``).
        again: Ids of recorded runs that run again (a held run whose zap is enabled, a run a drain left
            ``running``): set ``running``, one more attempt.

    Returns:
        (zap id, inbox id) → run id of the new runs.
    """
    created: dict[tuple[str, int], int] = {}
    with session_scope(url) as s:
        rows = [ZapRun(**entry, attempts=1 if entry["status"] == "running" else 0) for entry in new]
        s.add_all(rows)
        for chunk in _chunks(again):
            s.execute(update(ZapRun).where(ZapRun.id.in_(chunk))
                      .values(status="running", attempts=ZapRun.attempts + 1, ended_at=None, error=None,
                              retriable=False))
        s.flush()
        created = {(r.zap_id, r.inbox_id): r.id for r in rows}
    return created


def finish_runs(records: list[RunRecord], url: str | None = None) -> None:
    """Write the runs' outcomes, their steps (replacing the steps of an earlier attempt) and their ledger entries,
    in one transaction: a bulk update of the runs by id and one multi-row insert of the steps."""
    if not records:
        return
    now = _now()
    with session_scope(url) as s:
        ids = [r.run_id for r in records]
        for chunk in _chunks(ids):
            s.execute(delete(ZapStepRun).where(ZapStepRun.run_id.in_(chunk)))
        s.execute(update(ZapRun), [{"id": r.run_id, "status": r.status, "error": r.error, "resume_at": r.resume_at,
                                    "retriable": r.retriable, "ended_at": None if r.status == "held" else now}
                                   for r in records])
        steps = [{"run_id": r.run_id, "position": n, **vars(step)} for r in records for n, step in enumerate(r.steps)]
        if steps:
            s.execute(insert(ZapStepRun), steps)
        insert_effects(s, {k: v for r in records for k, v in r.ledger.items()}, url=url)


def list_runs(zap: str | None = None, status: str | None = None, limit: int = 50,
              url: str | None = None) -> list[ZapRun]:
    """The latest runs, newest first."""
    with session_scope(url) as s:
        stmt = select(ZapRun).order_by(ZapRun.id.desc()).limit(limit)
        if zap:
            stmt = stmt.where(ZapRun.zap_id == zap)
        if status:
            stmt = stmt.where(ZapRun.status == status)
        return list(s.exec(stmt).all())


def get_run(run_id: int, url: str | None = None) -> tuple[ZapRun, list[ZapStepRun]] | None:
    """A run and its steps in the order they ran; None when there is no such run."""
    with session_scope(url) as s:
        run = s.get(ZapRun, run_id)
        if run is None:
            return None
        steps = list(s.exec(select(ZapStepRun).where(ZapStepRun.run_id == run_id)
                            .order_by(ZapStepRun.position)).all())
        return run, steps


# -- the effect ledger of zap runs ---------------------------------------------------------------------
def ledger_prefix(inbox_id: int, zap_id: str) -> str:
    """Every ledger key of one zap run starts with this (the engine's ``inbox-<id>:`` keys, docs/engine.md)."""
    return f"inbox-{inbox_id}:zap:{zap_id}:"


def ledger_entries(prefixes: Iterable[str], url: str | None = None) -> dict[str, str | None]:
    """Ledger keys (and details) under each prefix: range conditions, so the key's index answers."""
    wanted = sorted(set(prefixes))
    found: dict[str, str | None] = {}
    with session_scope(url) as s:
        for chunk in _chunks(wanted, 100):
            ranges = [and_(Effect.key >= p, Effect.key < p[:-1] + chr(ord(p[-1]) + 1)) for p in chunk]
            found.update(dict(s.exec(select(Effect.key, Effect.detail).where(or_(*ranges))).all()))
    return found
