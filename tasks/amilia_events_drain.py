"""The drain loop of Amilia webhook events for one link (Prefect-free; the flow wraps it).

- **One drain per link**: the store lease ``amilia-drain:<link>`` (SQLite and PostgreSQL), renewed in the
  background while the drain runs. A drain that finds it held returns at once (``busy``): the holder is
  already claiming whatever arrives.
- **Claims**: batches of per-entity chains from the inbox (:func:`passerelle.store.inbox.claim_batch`),
  claimed again and again while there is work and time left, then for ``linger`` seconds more in case a
  delivery is on its way. After giving the lease back it looks once more, so that a delivery whose nudge
  was dropped because this run held the lease is not left waiting for the safety-net schedule.
- **Outcomes**: done rows are marked done; failed rows go back with backoff, dead after ``max_attempts``;
  a payload that cannot be read is dead at once; a 401/403 releases the batch untouched (no attempt
  counted) and stops the drain with the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors._http import AuthError
from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient
from passerelle.store.effects import acquire_lease, release_lease, renew_lease
from passerelle.store.inbox import DEAD, InboxEvent, claim_batch, mark_done, mark_failed, release
from tasks.amilia_events import BatchResult, EventContext, PlannedBatch, plan_events, write_events
from tasks.amilia_events_model import (
    ACCOUNT_ARCHIVE,
    MEMBERSHIP,
    MEMBERSHIP_CANCEL,
    PERSON_ARCHIVE,
    REGISTRATION,
    REGISTRATION_CANCEL,
)
from tasks.amilia_events_write import CyberimpactSide
from tasks.amilia_transforms import window_start

SOURCE = "amilia"
TOUCHED_LIMIT = 50  # events listed one by one in a run's report (and its artifact); the counts cover them all
Prepare = Callable[[CyberimpactSide, AmiliaClient], Awaitable[Any]]


@dataclass(frozen=True)
class Steps:
    """How a batch is applied: the plain functions, or the same as Prefect task runs (the flow's)."""

    plan: Callable[[EventContext, list[InboxEvent]], Awaitable[PlannedBatch]] = plan_events
    write: Callable[[EventContext, PlannedBatch], Awaitable[BatchResult]] = write_events


@dataclass
class DrainOptions:
    batch_size: int = 1000
    max_seconds: float = 50.0
    max_attempts: int = 8
    claim_lease: float = 60.0   # seconds a claimed batch stays ours (a killed drainer's rows come back then)
    drain_lease: float = 30.0   # seconds the per-link drain lease lasts without renewal
    linger: float = 2.0         # keep polling this long once the inbox looks empty
    poll: float = 0.2
    months: int = 24


@dataclass
class DrainReport:
    link: str
    worker: str
    busy: bool = False
    batches: int = 0
    claimed: int = 0
    applied: int = 0
    already_applied: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    contacts_written: int = 0
    group_adds: int = 0
    removals: int = 0
    amilia_calls: int = 0
    cyberimpact_calls: int = 0
    seconds: float = 0.0
    stage_seconds: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None
    touched: list[dict[str, Any]] = field(default_factory=list)  # the first TOUCHED_LIMIT events settled

    @property
    def settled(self) -> int:
        """Events this run is finished with: applied, skipped, already applied, failed (retry later) or dead."""
        return self.applied + sum(self.skipped.values()) + self.already_applied + self.failed + self.dead

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = dict(sorted(self.skipped.items()))
        out["stage_seconds"] = {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())}
        out["notes"] = self.notes()
        return out

    def notes(self) -> list[str]:
        """Why the counts differ, in sentences (the artifact's description, the demo's table)."""
        if self.busy:
            return [f"Another drain of link {self.link!r} was running; it takes the waiting events, so this run "
                    f"did nothing."]
        skipped = sum(self.skipped.values())
        parts = [f"{self.applied} applied", f"{skipped} skipped (nothing to do in Cyberimpact)"]
        parts += [text for n, text in (
            (self.already_applied, f"{self.already_applied} already applied by a run that stopped before "
                                   f"recording them"),
            (self.failed, f"{self.failed} failed and will be retried"),
            (self.dead, f"{self.dead} set aside after repeated failures (`passerelle inbox replay` retries them)"),
            (self.released, f"{self.released} given back untouched for the next run")) if n]
        notes = [f"{self.claimed} webhook events taken from the inbox: " + ", ".join(parts) + "."]
        if self.applied:
            notes.append(
                f"The {self.applied} events applied wrote {self.contacts_written} contacts, {self.group_adds} group "
                f"additions and {self.removals} group removals: the events of one batch about the same person or "
                f"account make one write per contact, and a contact already up to date is not written again.")
        if skipped:
            notes.append("Skipped: " + "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
                         + ".")
        if self.stopped:
            notes.append(f"Stopped early: {self.stopped}")
        return notes

    def rows(self) -> list[dict[str, Any]]:
        """The counts as rows of a Prefect table artifact."""
        items = ["batches", "claimed", "applied", "already_applied", "failed", "dead", "released",
                 "contacts_written", "group_adds", "removals", "amilia_calls", "cyberimpact_calls"]
        rows = [{"item": k.replace("_", " "), "count": getattr(self, k)} for k in items]
        rows += [{"item": f"skipped: {reason}", "count": n} for reason, n in sorted(self.skipped.items())]
        return rows


def drain_lease_name(link: str) -> str:
    """The store lease that makes one drain per link: ``amilia-drain:<link>``."""
    return f"{SOURCE}-drain:{link}"


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect.logging import get_run_logger

        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a flow or task run
        return logging.getLogger("passerelle.amilia_events")


async def drain(link: str, worker: str, amilia: AmiliaClient, cyberimpact: CyberimpactClient,
                options: DrainOptions | None = None, *, steps: Steps | None = None,
                prepare: Prepare | None = None, store_url: str | None = None,
                lease_name: str | None = None, report: DrainReport | None = None) -> DrainReport:
    """Drain the link's Amilia inbox: claim, apply, record, until no work or no time is left.

    Args:
        link: The link whose inbox to drain.
        worker: This drainer's id (the flow run id).
        amilia, cyberimpact: Open clients of the link.
        options: Batch size, time budget, attempts, leases.
        steps: How a batch is planned and written (Prefect task runs in the flow; plain functions by default).
        prepare: Reads the Cyberimpact ids once (a Prefect task in the flow).
        store_url: Store URL; default the configured store.
        lease_name: The drain lease; default ``amilia-drain:<link>``.
        report: Filled as the drain goes (so that a caller still has the counts when it raises).

    Raises:
        AuthError: a vendor refused the credentials (claimed events were released first).
    """
    opts = options or DrainOptions()
    report = report or DrainReport(link=link, worker=worker)
    started = time.monotonic()
    deadline = started + opts.max_seconds
    lease = lease_name or drain_lease_name(link)
    steps = steps or Steps()
    side, ctx = CyberimpactSide(cyberimpact), None
    rows: list[InboxEvent] | None = None
    try:
        while True:
            if not acquire_lease(lease, worker, opts.drain_lease, url=store_url):
                _release(rows or [], report, store_url)
                report.busy = report.batches == 0
                break
            renewer = asyncio.create_task(_renew(lease, worker, opts.drain_lease, store_url))
            try:
                if ctx is None:
                    await (prepare or CyberimpactSide.prepare)(side, amilia)
                    today = datetime.now(UTC).date()
                    ctx = EventContext(amilia, side, today, window_start(today, opts.months), store_url)
                await _loop(ctx, link, worker, opts, steps, deadline, rows, report)
            finally:
                renewer.cancel()
                release_lease(lease, worker, url=store_url)
            if time.monotonic() >= deadline:
                break
            rows = claim_batch(SOURCE, link, worker, limit=opts.batch_size, lease_seconds=opts.claim_lease,
                               url=store_url)
            if not rows:
                break
    finally:
        report.amilia_calls, report.cyberimpact_calls = amilia.stats.calls, cyberimpact.stats.calls
        report.seconds = round(time.monotonic() - started, 3)
    return report


async def _renew(lease: str, worker: str, seconds: float, store_url: str | None) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        if not renew_lease(lease, worker, seconds, url=store_url):
            _logger().warning("lost the drain lease %s; another drain may be running", lease)


async def _loop(ctx: EventContext, link: str, worker: str, opts: DrainOptions, steps: Steps, deadline: float,
                rows: list[InboxEvent] | None, report: DrainReport) -> None:
    """Claim and plan batch n+1 (Amilia only) while batch n is written to Cyberimpact; batch n+1 reads and
    writes Cyberimpact only once batch n is written and settled, so every batch sees its predecessors."""
    idle_since: float | None = None
    writing: tuple[list[InboxEvent], asyncio.Future[BatchResult]] | None = None
    try:
        while True:
            if rows is None and time.monotonic() < deadline:
                rows = claim_batch(SOURCE, link, worker, limit=opts.batch_size, lease_seconds=opts.claim_lease,
                                   url=ctx.store_url)
            if rows:
                idle_since = None
                report.batches += 1
                report.claimed += len(rows)
                try:
                    planned = await steps.plan(ctx, rows)
                except AuthError as exc:
                    _release(rows, report, ctx.store_url)
                    rows = None
                    report.stopped = str(exc)
                    raise
                except Exception as exc:  # noqa: BLE001 - a failure outside per-event isolation fails the batch
                    _settle(rows, _batch_failed(rows, exc), report, opts.max_attempts, ctx.store_url)
                    rows = None
                    continue
                if writing is not None:
                    await _finish(writing, report, opts.max_attempts, ctx.store_url)
                    writing = None
                writing, rows = (rows, asyncio.ensure_future(steps.write(ctx, planned))), None
                continue
            rows = None
            if writing is not None:  # nothing new: finish the batch under way, then look again
                await _finish(writing, report, opts.max_attempts, ctx.store_url)
                writing = None
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since >= opts.linger or now >= deadline:
                return
            await asyncio.sleep(opts.poll)
    finally:
        if writing is not None:  # stopping on an error: finish what is under way if it can, else give it back
            with contextlib.suppress(BaseException):  # released if it failed; the first error is raised
                await _finish(writing, report, opts.max_attempts, ctx.store_url)
        if rows:
            _release(rows, report, ctx.store_url)


async def _finish(writing: tuple[list[InboxEvent], asyncio.Future[BatchResult]], report: DrainReport,
                  max_attempts: int, store_url: str | None) -> None:
    rows, future = writing
    try:
        result = await future
    except AuthError as exc:
        _release(rows, report, store_url)
        report.stopped = str(exc)
        raise
    except Exception as exc:  # noqa: BLE001 - a failure outside per-event isolation fails the batch
        result = _batch_failed(rows, exc)
    except BaseException:
        future.cancel()
        _release(rows, report, store_url)  # cancelled or interrupted: give the rows back untouched
        raise
    _settle(rows, result, report, max_attempts, store_url)


def _batch_failed(rows: list[InboxEvent], exc: Exception) -> BatchResult:
    _logger().error("batch of %d events failed as a whole: %s: %s", len(rows), type(exc).__name__, exc)
    return BatchResult(failed={r.id: f"batch failed: {type(exc).__name__}: {exc}"[:1000] for r in rows})


def _release(rows: list[InboxEvent], report: DrainReport, store_url: str | None) -> None:
    if rows:
        release([r.id for r in rows], url=store_url)
        report.released += len(rows)


def _settle(rows: list[InboxEvent], result: BatchResult, report: DrainReport, max_attempts: int,
            store_url: str | None) -> None:
    mark_done(result.done, url=store_url)
    outcomes: dict[int, str] = {}
    for ids, attempts in ((result.failed, max_attempts), (result.bad, 1)):
        for row_id, error in ids.items():
            if mark_failed(row_id, error, max_attempts=attempts, url=store_url) == DEAD:
                report.dead += 1
                outcomes[row_id] = "set aside (dead)"
            else:
                report.failed += 1
                outcomes[row_id] = "failed, will be retried"
    for row in rows[:max(0, TOUCHED_LIMIT - len(report.touched))]:
        report.touched.append(_touched(row, result, outcomes.get(row.id)))
    report.applied += result.applied
    report.already_applied += result.already_applied
    report.skipped.update(result.skipped)
    report.contacts_written += result.contacts_written
    report.group_adds += result.group_adds
    report.removals += result.removals
    report.stage_seconds.update(result.timings)
    if result.failed or result.bad:
        _logger().warning("%d events failed in this batch, e.g. %s", len(result.failed) + len(result.bad),
                          next(iter({**result.failed, **result.bad}.values())))


def _touched(row: InboxEvent, result: BatchResult, failure: str | None) -> dict[str, Any]:
    """One settled event as a row of the run's report: which entity, which event, what it changed."""
    entry = {"inbox id": row.id, "event": row.event_type, "entity": row.entity_key}
    if failure:
        error = result.failed.get(row.id) or result.bad.get(row.id) or ""
        return {**entry, "outcome": failure, "change": error[:200]}
    applied, skipped = result.effects.get(f"inbox-{row.id}:applied"), result.effects.get(f"inbox-{row.id}:skipped")
    if skipped:
        return {**entry, "outcome": "skipped", "change": json.loads(skipped).get("reason") or ""}
    if not applied:
        return {**entry, "outcome": "already applied", "change": "applied by an earlier run; only marked done"}
    return {**entry, "outcome": "applied", "change": _change(json.loads(applied))}


def _change(detail: dict[str, Any]) -> str:
    contacts = detail.get("contacts") or []
    who = ", ".join(contacts[:3]) + (f" and {len(contacts) - 3} more" if len(contacts) > 3 else "")
    kind, group, removals = detail.get("kind"), detail.get("group"), detail.get("removals") or 0
    if kind in (PERSON_ARCHIVE, ACCOUNT_ARCHIVE):
        text = "archived" + (f", left {removals} group(s)" if removals else "")
    elif kind in (REGISTRATION, MEMBERSHIP):
        text = f"in group {group!r}, details and consent brought up to date"
    elif kind in (REGISTRATION_CANCEL, MEMBERSHIP_CANCEL):
        text = f"removed from group {group!r} ({removals})" if removals else f"nothing removed from group {group!r}"
    else:
        text = "details brought up to date"
    return text + (f": {who}" if who else "") + (f" ({detail['note']})" if detail.get("note") else "")
