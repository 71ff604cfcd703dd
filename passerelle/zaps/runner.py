"""The zap runner: the generic drain's handler for catch-hook events (docs/zaps.md, "Running zaps").

For each inbox event of a hook, the zaps whose trigger is ``catch.hook`` on that hook (``trigger.options.hook``,
by default the zap's id) run, each at most once per event (table ``zap_run``):

- an **enabled** zap runs its steps (passerelle/zaps/execute.py): ``ok``, ``filtered``, ``failed``, ``delayed``
  or ``unknown``; every step is recorded in the store, never in Prefect (a Prefect task run per event costs
  4–7 ms: the flow wraps each *batch* in one task);
- a **disabled** zap's run is ``held``: the event is kept and runs when the zap is enabled again
  (runs.set_enabled puts it back in the inbox);
- a run already settled is not run again; one left ``running`` by a drain that died runs again, its actions
  going through the effect ledger (done → output reused; sent but not recorded → ``unknown``).

An event is done in the inbox once each of its zaps' runs has ended. A run that failed on an error that may pass
(connection, 429, 5xx) is replayed by itself after the waits of its zap's ``auto_replay`` (Zapier's 5 min, 30 min,
1 h, 3 h, 6 h by default); a delayed run goes on at its resume time. Both are woken by the resumer
(passerelle/zaps/resume.py), which puts the event back in the inbox; the run goes on from the step that failed or
waited (the steps before reuse their recorded outputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passerelle.engine import APPLIED, SKIPPED, BatchOutcome, DrainReport, event_key
from passerelle.store.engine import off_loop
from passerelle.store.inbox import InboxEvent
from passerelle.zaps import runs
from passerelle.zaps.execute import Outcome, ZapRun
from passerelle.zaps.registry import TriggerSpec, UnknownRef, get_trigger
from passerelle.zaps.spec import Zap, scan_zaps

SOURCE = "catch"
FOLDER_ENV = "PASSERELLE_ZAPS_FOLDER"
CONCURRENCY = 16  # zap runs of one batch under way at once
NO_ZAP = "no enabled or disabled zap listens on this hook"
STATUSES = ("ok", "filtered", "failed", "delayed", "unknown", "held")
logger = logging.getLogger("passerelle.zaps.runner")


def _plan_auto_replay(zap: Zap, attempt: int, result: Outcome) -> None:
    """A run failed on an error that may pass (attempt `attempt`): set when its zap's auto_replay runs it again,
    or, when no replay is left, leave it failed for a person (``passerelle runs replay``)."""
    wait = zap.auto_replay.wait_before(attempt)
    if wait is None:
        result.retriable = False
        why = "auto-replay is off for this zap" if not zap.auto_replay.enabled else \
            f"auto-replay gave up after {attempt} attempts"
        result.error = f"{result.error} ({why}; `passerelle runs replay RUN` runs it again)"[:2000]
        return
    result.resume_at = dt.datetime.now(dt.UTC) + wait
    result.error = (f"{result.error} (replayed by itself at {result.resume_at.isoformat(timespec='seconds')}, "
                    f"attempt {attempt + 1} of {len(zap.auto_replay.after) + 1})")[:2000]


def listens_on(zap: Zap) -> tuple[str, str] | None:
    """Where a zap's events arrive: (inbox source, link). A catch hook's: ("catch", the hook — the trigger's
    ``options.hook``, else the zap's id); an app's webhook trigger: (its source, the zap's trigger connection).
    None when the drain does not run its trigger."""
    app, event, options = zap.trigger.app, zap.trigger.event, zap.trigger.options
    if (app, event) == ("catch", "hook"):
        return SOURCE, str(options.get("hook") or zap.id)
    spec = _trigger_spec(zap)
    if spec is None or spec.source is None:
        return None
    if spec.kind == "catch_hook":
        return SOURCE, str(options.get("hook") or zap.id)
    if spec.kind in ("schedule", "polling"):  # started by the sweep (starters.py), one link per zap
        return spec.source, zap.id
    return (spec.source, zap.trigger.connection) if zap.trigger.connection else None


def _trigger_spec(zap: Zap) -> TriggerSpec | None:
    try:
        return get_trigger(f"{zap.trigger.app}.{zap.trigger.event}")
    except UnknownRef:
        return None


def hook_of(zap: Zap) -> str | None:
    """The link (catch hook, or webhook connection) a zap listens on; None when its trigger is not run."""
    where = listens_on(zap)
    return where[1] if where else None


def not_run_reason(zap: Zap) -> str | None:
    """Why the drain does not run this zap's trigger (None: it does)."""
    if listens_on(zap) is not None:
        return None
    spec = _trigger_spec(zap)
    if spec is not None and spec.source is not None and not zap.trigger.connection:
        return (f"trigger {spec.ref} arrives by the {spec.source} webhook of a connection: set trigger.connection "
                "to the connection whose calls start this zap")
    return (f"trigger {zap.trigger.app}.{zap.trigger.event} is not run by the zap drain (catch hooks, apps' webhooks, "
            "schedules and polls are); the zap is checked but nothing starts it")


def load_folder(folder: Path | str | None = None) -> tuple[list[Zap], list[str]]:
    """The zaps of a folder (default ``$PASSERELLE_ZAPS_FOLDER`` or ``zaps/``), and the problems of the files
    that do not load: one broken file does not stop the others."""
    return scan_zaps(folder or os.environ.get(FOLDER_ENV, "zaps"))


class ConnectionCache:
    """`load(app, name)` once per connection per `ttl` seconds for one drain: every run of a batch used to read the
    connection's credentials Block again through Prefect's API (~9 ms of the drain's CPU per event, and as much of
    the Prefect server's). Concurrent first reads share one; a read that failed is not kept (the next run reads
    again, and fails the same way while the connection is missing). A changed connection (a rotated key) is seen
    within `ttl` seconds, and by the next drain."""

    def __init__(self, load: Any, ttl: float = 10.0, clock: Any = time.monotonic) -> None:
        self.load, self.ttl, self.clock = load, ttl, clock
        self._found: dict[tuple[str, str], tuple[float, asyncio.Future[Any]]] = {}

    async def __call__(self, app: str, name: str) -> Any:
        key = (app, name)
        read_at, found = self._found.get(key, (0.0, None))
        if found is None or (found.done() and self.clock() - read_at > self.ttl):
            read_at, found = self._found[key] = (self.clock(), asyncio.ensure_future(self.load(app, name)))
        try:
            return await asyncio.shield(found)
        except Exception:
            if self._found.get(key, (0.0, None))[1] is found:
                del self._found[key]
            raise

    def clear(self) -> None:
        for _, found in self._found.values():
            if not found.done():
                found.cancel()
            elif not found.cancelled():
                found.exception()  # retrieved: a failed read is not logged as never retrieved
        self._found.clear()


@dataclass
class _Work:
    row: InboxEvent
    zap: Zap
    run_id: int | None = None
    status: str | None = None  # the recorded run's status as runs.Known gives it, None when new
    attempts: int = 0  # attempts recorded before this one


@dataclass
class Planned:
    rows: list[InboxEvent]
    works: list[_Work]
    enabled: dict[str, bool]
    prior: dict[str, str | None] = field(default_factory=dict)


class ZapHandler:
    """The :class:`passerelle.engine.BatchHandler` of catch-hook zaps, for one hook (the drain's link).

    Args:
        zaps: The zaps (default: :func:`load_folder`, read by :meth:`open`).
        connect: Loads an action's connection (app, name) → credentials Block; default
            ``connectors.registry.load_connection``.
        store_url: Store URL; default the configured store.
    """

    source = SOURCE
    skip_meaning = NO_ZAP

    def __init__(self, zaps: list[Zap] | None = None, *, connect: Any = None, store_url: str | None = None,
                 folder: Path | str | None = None, source: str = SOURCE) -> None:
        self.all_zaps, self.folder, self.store_url, self.source = zaps, folder, store_url, source
        self.connect = connect
        self.connections: ConnectionCache | None = None  # per drain (open)
        self.zaps: list[Zap] = []
        self.problems: list[str] = []
        self.tally: dict[str, Counter[str]] = {}
        self.action_calls = 0

    @contextlib.asynccontextmanager
    async def open(self, link: str) -> AsyncIterator[ZapHandler]:
        if self.all_zaps is None:
            self.all_zaps, self.problems = await asyncio.to_thread(load_folder, self.folder)
        self.zaps = [z for z in self.all_zaps if listens_on(z) == (self.source, link)]
        self.specs = {z.id: _trigger_spec(z) for z in self.zaps}
        if self.connect is None:
            from connectors.registry import load_connection

            self.connect = load_connection
        self.connections = ConnectionCache(self.connect)
        try:
            yield self
        finally:
            self.connections.clear()
            self.connections = None

    async def _connect(self, app: str, name: str) -> Any:
        """A connection's credentials Block, read once per drain (outside a drain: each time)."""
        if self.connections is not None:
            return await self.connections(app, name)
        return await self.connect(app, name)

    def _takers(self, row: InboxEvent) -> list[Zap]:
        """The zaps this event starts: all of the link's, but an app trigger takes only its event type."""
        return [z for z in self.zaps if (spec := self.specs.get(z.id)) is None or spec.event_type is None
                or spec.event_type == row.event_type]

    def _hydrate(self, zap: Zap) -> Any:
        spec = self.specs.get(zap.id)
        if spec is None or spec.hydrate is None:
            return None

        async def hydrate(payload: dict[str, Any]) -> dict[str, Any]:
            connection = None
            if spec.connection and zap.trigger.connection:
                connection = await self._connect(spec.connection, zap.trigger.connection)
            return await spec.hydrate(payload, connection, dict(zap.trigger.options))

        return hydrate

    def _enabled(self) -> dict[str, bool]:
        """Zap id → whether it runs now: switched on (store, else its YAML) and its app not suspended (a
        suspended app's events are held like a disabled zap's, and run when it is resumed)."""
        from passerelle.zaps.suspend import holds, suspended_apps

        flags = runs.zap_flags(url=self.store_url)
        suspended = suspended_apps(url=self.store_url)
        return {z.id: flags.get(z.id, z.enabled) and not holds(z.trigger.app, suspended) for z in self.zaps}

    def _plan(self, rows: list[InboxEvent]) -> Planned:
        enabled = self._enabled()
        known = runs.existing_runs([z.id for z in self.zaps], [r.id for r in rows], url=self.store_url)
        works = []
        for row in rows:
            for zap in self._takers(row):
                seen = known.get((zap.id, row.id))
                works.append(_Work(row, zap, seen.run_id, seen.status, seen.attempts) if seen else _Work(row, zap))
        again = [runs.ledger_prefix(w.row.id, w.zap.id) for w in works if w.status in runs.RUN_AGAIN]
        prior = runs.ledger_entries(again, url=self.store_url) if again else {}
        return Planned(rows, works, enabled, prior)

    async def plan(self, rows: list[InboxEvent]) -> Planned:
        return await off_loop(self.store_url, self._plan, rows)

    async def write(self, planned: Planned) -> BatchOutcome:
        outcome = BatchOutcome()
        todo, held, new, again = [], [], [], []
        for work in planned.works:
            if work.status in runs.FINAL:
                continue  # settled by an earlier drain
            on = planned.enabled[work.zap.id]
            if not on and work.status == "held":
                continue  # still held
            entry = {"zap_id": work.zap.id, "inbox_id": work.row.id, "source": work.row.source,
                     "link": work.row.link, "status": "running" if on else "held"}
            (again if work.run_id is not None else new).append(work.run_id if work.run_id is not None else entry)
            (todo if on else held).append(work)
        created = await off_loop(self.store_url, runs.open_runs, new, again, url=self.store_url)
        for work in todo + held:
            work.run_id = work.run_id or created[(work.zap.id, work.row.id)]
        results = await self._run_in_order(todo, planned.prior)
        for work in held:
            self._count(work.zap.id, "held")
            results[(work.zap.id, work.row.id)] = Outcome("held")
        records = []
        for work in todo + held:
            result = results[(work.zap.id, work.row.id)]
            records.append(runs.RunRecord(work.run_id, result.status, result.error, result.resume_at, result.steps,
                                          result.retriable, result.ledger))
        await off_loop(self.store_url, runs.finish_runs, records, url=self.store_url)
        self._settle(planned, results, outcome)
        return outcome

    async def _run_in_order(self, todo: list[_Work], prior: dict[str, str | None]
                            ) -> dict[tuple[str, int], Outcome]:
        """Run the batch's zap runs, CONCURRENCY at a time, but one entity's events in the order they came (an
        OKAST user's registration before their subscription): each entity's runs are a chain, chains run side by
        side."""
        gate = asyncio.Semaphore(CONCURRENCY)
        chains: dict[str, list[_Work]] = {}
        for work in sorted(todo, key=lambda w: w.row.id):
            chains.setdefault(work.row.entity_key, []).append(work)

        async def chain(works: list[_Work]) -> list[Outcome]:
            return [await self._run(work, prior, gate) for work in works]

        done = await asyncio.gather(*(chain(works) for works in chains.values()))
        return {(w.zap.id, w.row.id): outcome for works, outcomes in zip(chains.values(), done, strict=True)
                for w, outcome in zip(works, outcomes, strict=True)}

    async def _run(self, work: _Work, prior: dict[str, str | None], gate: asyncio.Semaphore) -> Outcome:
        prefix = runs.ledger_prefix(work.row.id, work.zap.id)
        mine = {k: v for k, v in prior.items() if k.startswith(prefix)}
        async with gate:
            run = ZapRun(work.zap, work.row.id, work.row.payload, work.row.received_at, prior=mine,
                         connect=self._connect, store_url=self.store_url, hydrate=self._hydrate(work.zap))
            try:
                result = await run.run()
            finally:
                self.action_calls += run.calls
        if result.status == "failed" and result.retriable:
            _plan_auto_replay(work.zap, work.attempts + 1, result)
        self._count(work.zap.id, result.status)
        return result

    def _count(self, zap_id: str, status: str) -> None:
        self.tally.setdefault(zap_id, Counter())[status] += 1

    def _settle(self, planned: Planned, results: dict[tuple[str, int], Outcome], outcome: BatchOutcome) -> None:
        for row in planned.rows:
            mine = {z.id: results[(z.id, row.id)] for z in self.zaps if (z.id, row.id) in results}
            outcome.done.append(row.id)
            if not self._takers(row):
                outcome.skipped[NO_ZAP] += 1
                outcome.effects[event_key(row.id, SKIPPED)] = json.dumps({"reason": NO_ZAP})
                continue
            detail = {z: o.status for z, o in mine.items()}
            if not mine:
                outcome.already_applied += 1
                continue
            outcome.applied += 1
            for status in detail.values():
                outcome.counts[f"zap_runs_{status}"] += 1
            outcome.effects[event_key(row.id, APPLIED)] = json.dumps({"runs": detail})

    def calls(self) -> dict[str, int]:
        return {"zap_actions": self.action_calls}

    def describe(self, detail: dict[str, Any]) -> str:
        return ", ".join(f"{zap}: {status}" for zap, status in sorted(detail.get("runs", {}).items()))

    def notes(self, report: DrainReport) -> list[str]:
        notes = []
        for zap_id, counts in sorted(self.tally.items()):
            notes.append(f"Zap {zap_id}: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]) + ".")
        held = sum(c["held"] for c in self.tally.values())
        if held:
            notes.append(f"{held} events are held for disabled zaps; `passerelle zaps enable ZAP` runs them.")
        notes += [f"Not loaded: {p}" for p in self.problems[:5]]
        return notes

    def summary_rows(self) -> list[dict[str, Any]]:
        """Runs per zap and status, one row per zap (the drain's artifact)."""
        return [{"zap": zap_id, **{s: counts[s] for s in STATUSES}} for zap_id, counts in sorted(self.tally.items())]
