"""The generic drain: one link's inbox events of one source, applied batch by batch by a :class:`BatchHandler`
(Prefect-free; a flow wraps it).

- **One drain per link and source**: the store lease ``<source>-drain:<link>`` (SQLite and PostgreSQL),
  renewed in the background while the drain runs. A drain that finds it held returns at once (``busy``): the
  holder is already claiming whatever arrives.
- **Claims**: batches of per-entity chains from the inbox (:func:`passerelle.store.inbox.claim_batch`), claimed
  again and again while there is work and time left, then for ``linger`` seconds more in case a delivery is
  on its way. After giving the lease back it looks once more, so that a delivery whose nudge was dropped
  because this run held the lease is not left waiting for the safety-net schedule.
- **Pipelining**: batch n+1 is claimed and planned (the handler's read side) while batch n is being written;
  batch n+1 is written only once batch n is written and settled, so every batch sees its predecessors.
- **Outcomes**: done rows are marked done; failed rows go back with backoff, dead after ``max_attempts``; a
  payload that cannot be read is dead at once; a 401/403 (``AuthError``) gives the batch back untouched (no
  attempt counted) and stops the drain with the error.
- **Store calls run off the event loop on PostgreSQL** (:func:`passerelle.store.engine.off_loop`, inline on
  SQLite where a thread hop costs more than it saves): a slow PostgreSQL round trip never stalls the
  lease renewer or a batch being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from connectors._http import AuthError
from passerelle.engine.batch import TOUCHED_LIMIT, BatchHandler, BatchOutcome, DrainReport
from passerelle.engine.ledger import APPLIED, SKIPPED, event_key
from passerelle.store.effects import acquire_lease, release_lease, renew_lease
from passerelle.store.engine import off_loop
from passerelle.store.inbox import DEAD, InboxEvent, claim_batch, mark_done, mark_failed, release


@dataclass
class DrainOptions:
    batch_size: int = 1000
    max_seconds: float = 50.0
    max_attempts: int = 8
    claim_lease: float = 60.0   # seconds a claimed batch stays ours (a killed drainer's rows come back then)
    drain_lease: float = 30.0   # seconds the per-link drain lease lasts without renewal
    linger: float = 2.0         # keep polling this long once the inbox looks empty
    poll: float = 0.2
    months: int = 24            # the sync window of handlers that have one (Amilia: 24 months)


class _Writing(NamedTuple):
    """A batch being written: its rows, and the write under way."""

    rows: list[InboxEvent]
    future: asyncio.Future[BatchOutcome]


def drain_lease_name(source: str, link: str) -> str:
    """The store lease that makes one drain per link and source, e.g. ``amilia-drain:default``."""
    return f"{source}-drain:{link}"


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        from prefect.logging import get_run_logger

        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a flow or task run
        return logging.getLogger("passerelle.engine.drain")


class _Drain:
    """One drain run's state: the handler, where it writes, what it reports."""

    def __init__(self, handler: BatchHandler[Any], link: str, worker: str, opts: DrainOptions,
                 store_url: str | None, report: DrainReport) -> None:
        self.handler, self.link, self.worker, self.opts = handler, link, worker, opts
        self.store_url, self.report = store_url, report
        self.deadline = time.monotonic() + opts.max_seconds

    async def claim(self) -> list[InboxEvent]:
        return await off_loop(self.store_url, claim_batch, self.handler.source, self.link, self.worker,
                                       limit=self.opts.batch_size, lease_seconds=self.opts.claim_lease,
                                       url=self.store_url)

    async def give_back(self, rows: list[InboxEvent] | None) -> None:
        if rows:
            await off_loop(self.store_url, release, [r.id for r in rows], url=self.store_url)
            self.report.released += len(rows)

    async def loop(self, rows: list[InboxEvent] | None) -> None:
        """Claim and plan batch n+1 while batch n is written; stop when idle for `linger` or out of time."""
        idle_since: float | None = None
        writing: _Writing | None = None
        try:
            while True:
                if rows is None and time.monotonic() < self.deadline:
                    rows = await self.claim()
                if rows:
                    idle_since = None
                    self.report.batches += 1
                    self.report.claimed += len(rows)
                    planned = await self.plan(rows)
                    if planned is None:  # the batch failed as a whole and is settled
                        rows = None
                        continue
                    if writing is not None:
                        await self.finish(writing)
                        writing = None
                    writing, rows = _Writing(rows, asyncio.ensure_future(self.handler.write(planned))), None
                    continue
                rows = None
                if writing is not None:  # nothing new: finish the batch under way, then look again
                    await self.finish(writing)
                    writing = None
                    continue
                now = time.monotonic()
                idle_since = idle_since or now
                if now - idle_since >= self.opts.linger or now >= self.deadline:
                    return
                await asyncio.sleep(self.opts.poll)
        finally:
            if writing is not None:  # stopping on an error: finish what is under way if it can, else give it back
                with contextlib.suppress(BaseException):  # given back if it failed; the first error is raised
                    await self.finish(writing)
            await self.give_back(rows)

    async def plan(self, rows: list[InboxEvent]) -> Any | None:
        try:
            return await self.handler.plan(rows)
        except AuthError as exc:
            await self.give_back(rows)
            self.report.stopped = str(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - a failure outside per-event isolation fails the batch
            await self.settle(rows, self.batch_failed(rows, exc))
            return None

    async def finish(self, writing: _Writing) -> None:
        rows, future = writing
        try:
            outcome = await future
        except AuthError as exc:
            await self.give_back(rows)
            self.report.stopped = str(exc)
            raise
        except Exception as exc:  # noqa: BLE001 - a failure outside per-event isolation fails the batch
            outcome = self.batch_failed(rows, exc)
        except BaseException:
            future.cancel()
            await self.give_back(rows)  # cancelled or interrupted: give the rows back untouched
            raise
        await self.settle(rows, outcome)

    @staticmethod
    def batch_failed(rows: list[InboxEvent], exc: Exception) -> BatchOutcome:
        _logger().error("batch of %d events failed as a whole: %s: %s", len(rows), type(exc).__name__, exc)
        return BatchOutcome.all_failed(rows, exc)

    async def settle(self, rows: list[InboxEvent], outcome: BatchOutcome) -> None:
        """Mark the batch's rows done, failed or dead in the inbox, then add the batch to the report."""
        outcomes = await off_loop(self.store_url, self._mark, outcome)
        report = self.report
        for row in rows[:max(0, TOUCHED_LIMIT - len(report.touched))]:
            report.touched.append(self.touched(row, outcome, outcomes.get(row.id)))
        report.applied += outcome.applied
        report.already_applied += outcome.already_applied
        report.skipped.update(outcome.skipped)
        report.counts.update(outcome.counts)
        report.stage_seconds.update(outcome.timings)
        if outcome.failed or outcome.bad:
            _logger().warning("%d events failed in this batch, e.g. %s", len(outcome.failed) + len(outcome.bad),
                              next(iter({**outcome.failed, **outcome.bad}.values())))

    def _mark(self, outcome: BatchOutcome) -> dict[int, str]:
        mark_done(outcome.done, url=self.store_url)
        outcomes: dict[int, str] = {}
        for ids, attempts in ((outcome.failed, self.opts.max_attempts), (outcome.bad, 1)):
            for row_id, error in ids.items():
                if mark_failed(row_id, error, max_attempts=attempts, url=self.store_url) == DEAD:
                    self.report.dead += 1
                    outcomes[row_id] = "set aside (dead)"
                else:
                    self.report.failed += 1
                    outcomes[row_id] = "failed, will be retried"
        return outcomes

    def touched(self, row: InboxEvent, outcome: BatchOutcome, failure: str | None) -> dict[str, Any]:
        """One settled event as a row of the run's report: which entity, which event, what it changed."""
        entry = {"inbox id": row.id, "event": row.event_type, "entity": row.entity_key}
        if failure:
            error = outcome.failed.get(row.id) or outcome.bad.get(row.id) or ""
            return {**entry, "outcome": failure, "change": error[:200]}
        applied = outcome.effects.get(event_key(row.id, APPLIED))
        skipped = outcome.effects.get(event_key(row.id, SKIPPED))
        if skipped:
            return {**entry, "outcome": "skipped", "change": json.loads(skipped).get("reason") or ""}
        if not applied:
            return {**entry, "outcome": "already applied", "change": "applied by an earlier run; only marked done"}
        return {**entry, "outcome": "applied", "change": self.handler.describe(json.loads(applied))}


async def drain(handler: BatchHandler[Any], link: str, worker: str, options: DrainOptions | None = None, *,
                store_url: str | None = None, lease_name: str | None = None,
                report: DrainReport | None = None) -> DrainReport:
    """Drain the link's inbox of the handler's source: claim, plan, write, settle, until no work or no time is
    left.

    Args:
        handler: The pipeline's batch handler (opened here, once the lease is held).
        link: The link whose inbox to drain.
        worker: This drainer's id (the flow run id).
        options: Batch size, time budget, attempts, leases.
        store_url: Store URL; default the configured store.
        lease_name: The drain lease; default ``<source>-drain:<link>``.
        report: Filled as the drain goes (so that a caller still has the counts when it raises).

    Raises:
        AuthError: a vendor refused the credentials (claimed events were given back first).
    """
    opts = options or DrainOptions()
    report = report or DrainReport(link=link, worker=worker)
    report.source, report.skip_meaning = handler.source, getattr(handler, "skip_meaning", report.skip_meaning)
    run = _Drain(handler, link, worker, opts, store_url, report)
    lease = lease_name or drain_lease_name(handler.source, link)
    started = time.monotonic()
    rows: list[InboxEvent] | None = None
    opened = False
    async with contextlib.AsyncExitStack() as stack:
        try:
            while True:
                if not await off_loop(store_url, acquire_lease, lease, worker, opts.drain_lease, url=store_url):
                    await run.give_back(rows)
                    report.busy = report.batches == 0
                    break
                renewer = asyncio.create_task(_renew(lease, worker, opts.drain_lease, store_url))
                try:
                    if not opened:  # the handler's connections, opened once per drain run
                        await stack.enter_async_context(handler.open(link))
                        opened = True
                    await run.loop(rows)
                finally:
                    renewer.cancel()
                    await off_loop(store_url, release_lease, lease, worker, url=store_url)
                if time.monotonic() >= run.deadline:
                    break
                rows = await run.claim()
                if not rows:
                    break
        finally:
            report.calls = handler.calls()
            report.seconds = round(time.monotonic() - started, 3)
            if not report.busy:
                report.extra_notes = handler.notes(report)
    return report


async def _renew(lease: str, worker: str, seconds: float, store_url: str | None) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        if not await off_loop(store_url, renew_lease, lease, worker, seconds, url=store_url):
            _logger().warning("lost the drain lease %s; another drain may be running", lease)
