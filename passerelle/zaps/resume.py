"""Runs that go on later: delays that come due, auto-replays, and what a person decides (docs/zaps.md, "Delays,
replays and unknown steps").

A zap run never waits in memory. A ``delay`` step ends the run ``delayed`` with its ``resume_at``; a run that
failed on an error that may pass ends ``failed`` with ``retriable`` and the ``resume_at`` of its next
auto-replay. Both live only in the store, so they survive a restart of every process. :func:`wake_due` (called
each minute by the ``zaps-resume`` deployment) puts the inbox event of each run whose time has come back to
``pending``; the drain of its hook runs it again and the run goes on where it stopped: the actions before reuse
the outputs the effect ledger recorded, the delay step finds its time passed.

A person decides the rest:

- :func:`replay` runs a run again from the step that stopped it (failed, unknown, filtered, even ok: each
  action already done is reused, not sent again). For an ``unknown`` step, replaying says "it did not take
  effect: send it again"; :func:`mark_done` says "it did take effect: go on after it".
- :func:`cancel` ends a delayed run, or a failed one waiting for its auto-replay, for good (``cancelled``).

Example:
    woken = wake_due()            # {("catch", "oxiva-to-sheets"): 3}: the links whose drain has runs to resume
    replay(42)                    # run 42 goes on from its failed step at the next drain of its hook
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy import and_, or_, update
from sqlmodel import select

from passerelle.store.effects import record_effects
from passerelle.store.engine import session_scope
from passerelle.store.models import DEAD, DONE, PENDING, InboxEvent, ZapRun
from passerelle.zaps.runs import ledger_entries, ledger_prefix

REPLAYABLE = ("failed", "unknown", "filtered", "ok", "cancelled")
CANCELLABLE = ("delayed", "failed")


class RunRefused(ValueError):
    """A replay, mark-done or cancel that does not apply to this run; the message says why and what to do."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _requeue(session, inbox_ids: list[int]) -> None:
    """Put finished inbox events back to pending, due now (one being drained or already pending is left alone:
    its drain sees the run's new status)."""
    for start in range(0, len(inbox_ids), 200):
        session.execute(update(InboxEvent)
                        .where(InboxEvent.id.in_(inbox_ids[start:start + 200]), InboxEvent.status.in_((DONE, DEAD)))
                        .values(status=PENDING, attempts=0, next_attempt_at=_now(), claimed_by=None,
                                claimed_until=None, done_at=None))


def wake_due(now: dt.datetime | None = None, url: str | None = None) -> dict[tuple[str, str], int]:
    """Put back in the inbox the events of the delayed runs and auto-replays due at `now`; returns (source, link)
    → how many runs go on (the links to drain)."""
    now = now or _now()
    with session_scope(url) as s:
        due = s.exec(select(ZapRun.id, ZapRun.inbox_id, ZapRun.source, ZapRun.link).where(
            or_(ZapRun.status == "delayed", and_(ZapRun.status == "failed", ZapRun.retriable)),
            ZapRun.resume_at.is_not(None), ZapRun.resume_at <= now)).all()
        ids = [row[0] for row in due]
        for start in range(0, len(ids), 200):  # "due": the next drain runs it, whatever its clock says
            s.execute(update(ZapRun).where(ZapRun.id.in_(ids[start:start + 200])).values(status="due"))
        _requeue(s, sorted({row[1] for row in due}))
        return dict(Counter((source, link) for _, _, source, link in due))


def links_waiting(sources: list[str], now: dt.datetime | None = None, url: str | None = None
                  ) -> list[tuple[str, str]]:
    """(source, link) of the zap sources' links with events waiting to be drained (a dropped nudge, a replay
    asked from the CLI)."""
    now = now or _now()
    with session_scope(url) as s:
        return sorted(s.exec(select(InboxEvent.source, InboxEvent.link).distinct().where(
            InboxEvent.source.in_(sources), InboxEvent.status == PENDING, InboxEvent.next_attempt_at <= now)).all())


def _read(run_id: int, url: str | None) -> ZapRun:
    with session_scope(url) as s:
        run = s.get(ZapRun, run_id)
        if run is None:
            raise RunRefused(f"no zap run {run_id}; `passerelle runs list` prints the runs")
        s.expunge(run)
        return run


def _unsettled(run: ZapRun, url: str | None) -> list[tuple[str, str]]:
    """(step key, its sent-<n> key) of each action of the run sent without an answer recorded."""
    prefix = ledger_prefix(run.inbox_id, run.zap_id)
    entries = ledger_entries([prefix], url=url)
    found = []
    for key in sorted(entries):
        head, sep, n = key.rpartition(":sent-")
        if sep and head.startswith(prefix) and f"{head}:done" not in entries and f"{head}:unsent-{n}" not in entries:
            found.append((head, key))
    return found


def _go_on(run: ZapRun, url: str | None) -> str:
    """Set the run ``replay`` (if it is still as it was read) and put its event back in the inbox."""
    with session_scope(url) as s:
        changed = s.execute(update(ZapRun).where(ZapRun.id == run.id, ZapRun.status == run.status)
                            .values(status="replay", resume_at=None, retriable=False, ended_at=None)).rowcount
        if not changed:
            raise RunRefused(f"run {run.id} changed while this ran (a drain took it); look again with "
                             f"`passerelle runs show {run.id}`")
        _requeue(s, [run.inbox_id])
    return run.link


def replay(run_id: int, *, by: str = "a person", url: str | None = None) -> str:
    """Run a run again at the next drain of its hook, from the step that stopped it. An action left
    ``unknown`` is sent again (the person checked it did not take effect). Returns the run's hook."""
    run = _read(run_id, url)
    if run.status not in REPLAYABLE:
        raise RunRefused(f"run {run_id} is {run.status}; a replay applies to a run that ended "
                         f"({', '.join(REPLAYABLE)})" + ("; `passerelle runs cancel` ends a delayed one"
                                                         if run.status == "delayed" else ""))
    unsettled = _unsettled(run, url)
    if unsettled:  # the person says these did not take effect: they may be sent again
        record_effects({key.replace(":sent-", ":unsent-"): f"replayed by {by} at {_now().isoformat()}"
                        for _, key in unsettled}, url=url)
    return _go_on(run, url)


def mark_done(run_id: int, *, by: str = "a person", url: str | None = None) -> tuple[str, list[str]]:
    """Say the ``unknown`` action(s) of a run did take effect: they are recorded done (no output) and the run
    goes on after them at the next drain of its hook. Returns the hook and the steps marked."""
    run = _read(run_id, url)
    if run.status != "unknown":
        raise RunRefused(f"run {run_id} is {run.status}; only an unknown run has a step to mark done "
                         "(`passerelle runs replay` runs a failed one again)")
    unsettled = _unsettled(run, url)
    if not unsettled:
        raise RunRefused(f"run {run_id} has no action waiting for a decision; replay it instead")
    note = json.dumps({"marked_done_by": by, "at": _now().isoformat()})
    record_effects({f"{step}:done": note for step, _ in unsettled}, url=url)
    prefix = ledger_prefix(run.inbox_id, run.zap_id)
    return _go_on(run, url), [step.removeprefix(prefix) for step, _ in unsettled]


def cancel(run_id: int, url: str | None = None) -> str:
    """End a delayed run, or a failed one waiting for its auto-replay, for good. Returns what it was."""
    run = _read(run_id, url)
    if run.status not in CANCELLABLE or (run.status == "failed" and not run.retriable):
        raise RunRefused(f"run {run_id} is {run.status}; only a delayed run or one waiting for its auto-replay "
                         "can be cancelled")
    was = f"{run.status} until {run.resume_at.isoformat(timespec='seconds')}" if run.resume_at else run.status
    with session_scope(url) as s:
        changed = s.execute(update(ZapRun).where(ZapRun.id == run_id, ZapRun.status == run.status).values(
            status="cancelled", retriable=False, ended_at=_now(), error=f"cancelled by a person (was {was})")).rowcount
    if not changed:
        raise RunRefused(f"run {run_id} changed while this ran (a drain took it); look again with "
                         f"`passerelle runs show {run_id}`")
    return was
