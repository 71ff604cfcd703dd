"""Amilia webhook events as a handler of the generic drain engine (passerelle/engine/drain.py).

The engine owns the lease, claims, pipelining, settling, dead letters and the report; this module says how a
batch of Amilia events is applied to Cyberimpact: :class:`AmiliaEvents` opens the link (Amilia and
Cyberimpact), reads the Cyberimpact ids once per drain run, and plans (Amilia) then writes (Cyberimpact) each
batch with :mod:`tasks.amilia_cyberimpact.events.batch`.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors._http import RetryPolicy
from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient
from passerelle.engine import BatchOutcome, DrainOptions, DrainReport
from passerelle.engine import drain as drain_events
from passerelle.engine import drain_lease_name as engine_lease_name
from passerelle.store.inbox import InboxEvent
from tasks.amilia_cyberimpact.events.batch import EventContext, PlannedBatch, plan_events, write_events
from tasks.amilia_cyberimpact.events.model import (
    ACCOUNT_ARCHIVE,
    MEMBERSHIP,
    MEMBERSHIP_CANCEL,
    PERSON_ARCHIVE,
    REGISTRATION,
    REGISTRATION_CANCEL,
)
from tasks.amilia_cyberimpact.events.write import CyberimpactAccount
from tasks.amilia_cyberimpact.links import open_link
from tasks.amilia_cyberimpact.transforms import window_start

SOURCE = "amilia"
Prepare = Callable[[CyberimpactAccount, AmiliaClient], Awaitable[Any]]
__all__ = ["SOURCE", "AmiliaEvents", "DrainOptions", "DrainReport", "Steps", "drain", "drain_lease_name"]


@dataclass(frozen=True)
class Steps:
    """How a batch is applied: the plain functions, or the same as Prefect task runs (the flow's)."""

    plan: Callable[[EventContext, list[InboxEvent]], Awaitable[PlannedBatch]] = plan_events
    write: Callable[[EventContext, PlannedBatch], Awaitable[BatchOutcome]] = write_events


class AmiliaEvents:
    """The :class:`passerelle.engine.BatchHandler` of Amilia → Cyberimpact webhook events.

    Args:
        clients: Already open Amilia and Cyberimpact clients (tests, benchmarks); default: the link's, opened
            by :meth:`open` with `retry`.
        retry: Retry policy of the clients opened here.
        steps: How a batch is planned and written (Prefect task runs in the flow).
        prepare: Reads the Cyberimpact ids once per drain run (a Prefect task in the flow).
        months: The sync window (registrations older than that are not enrolments).
        store_url: Store URL; default the configured store.
    """

    source = SOURCE
    skip_meaning = "nothing to do in Cyberimpact"

    def __init__(self, *, clients: tuple[AmiliaClient, CyberimpactClient] | None = None,
                 retry: RetryPolicy | None = None, steps: Steps | None = None, prepare: Prepare | None = None,
                 months: int = 24, store_url: str | None = None) -> None:
        self.clients, self.retry, self.steps = clients, retry, steps or Steps()
        self.prepare, self.months, self.store_url = prepare or CyberimpactAccount.prepare, months, store_url
        self.ctx: EventContext | None = None

    @contextlib.asynccontextmanager
    async def open(self, link: str) -> AsyncIterator[AmiliaEvents]:
        async with contextlib.AsyncExitStack() as stack:
            if self.clients is None:
                kwargs = {"retry": self.retry} if self.retry is not None else {}
                self.clients = await stack.enter_async_context(open_link(link, **kwargs))
            amilia, cyberimpact = self.clients
            stack.enter_context(lean_collector())
            side = CyberimpactAccount(cyberimpact)
            await self.prepare(side, amilia)
            today = datetime.now(UTC).date()
            self.ctx = EventContext(amilia, side, today, window_start(today, self.months), self.store_url)
            yield self

    async def plan(self, rows: list[InboxEvent]) -> PlannedBatch:
        return await self.steps.plan(self._context(), rows)

    async def write(self, planned: PlannedBatch) -> BatchOutcome:
        return await self.steps.write(self._context(), planned)

    def _context(self) -> EventContext:
        if self.ctx is None:
            raise RuntimeError("AmiliaEvents used before open()")
        return self.ctx

    def calls(self) -> dict[str, int]:
        amilia, cyberimpact = self.clients or (None, None)
        return {"amilia": amilia.stats.calls if amilia else 0,
                "cyberimpact": cyberimpact.stats.calls if cyberimpact else 0}

    def notes(self, report: DrainReport) -> list[str]:
        if not report.applied:
            return []
        counts = report.counts
        return [f"The {report.applied} events applied wrote {counts['contacts_written']} contacts, "
                f"{counts['group_adds']} group additions and {counts['removals']} group removals: the events of "
                f"one batch about the same person or account make one write per contact, and a contact already "
                f"up to date is not written again."]

    def describe(self, detail: dict[str, Any]) -> str:
        """One applied event's change, from its ledger detail: who, which group, archived or removed."""
        contacts = detail.get("contacts") or []
        who = ", ".join(contacts[:3]) + (f" and {len(contacts) - 3} more" if len(contacts) > 3 else "")
        kind, group, removals = detail.get("kind"), detail.get("group"), detail.get("removals") or 0
        if kind in (PERSON_ARCHIVE, ACCOUNT_ARCHIVE):
            text = "archived" + (f", left {removals} group(s)" if removals else "")
        elif kind in (REGISTRATION, MEMBERSHIP):
            text = f"in group {group!r}, details and consent brought up to date"
        elif kind in (REGISTRATION_CANCEL, MEMBERSHIP_CANCEL):
            text = (f"removed from group {group!r} ({removals})" if removals
                    else f"nothing removed from group {group!r}")
        else:
            text = "details brought up to date"
        return text + (f": {who}" if who else "") + (f" ({detail['note']})" if detail.get("note") else "")


_GC_LOCK = threading.Lock()
_GC_USERS: list[tuple[int, int, int]] = []  # the thresholds before the first drain of the process tuned them


@contextlib.contextmanager
def lean_collector(young: int = 20_000) -> Iterator[None]:
    """While a drain runs: what is alive once the link is open (modules, Prefect, pandas, the clients) is frozen
    out of the garbage collector's passes, and a young collection runs every `young` allocations instead of
    700. A batch decodes the vendors' JSON (hundreds of thousands of objects), and the collector spent ~23 %
    of the drain's CPU traversing the whole process again and again. Restored when the last drain of the
    process ends."""
    with _GC_LOCK:
        if not _GC_USERS:
            before = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(young, before[0]), before[1], before[2])
            _GC_USERS.append(before)
        else:
            _GC_USERS.append(_GC_USERS[0])
    try:
        yield
    finally:
        with _GC_LOCK:
            before = _GC_USERS.pop()
            if not _GC_USERS:
                gc.set_threshold(*before)
                gc.unfreeze()


def drain_lease_name(link: str) -> str:
    """The store lease that makes one Amilia drain per link: ``amilia-drain:<link>``."""
    return engine_lease_name(SOURCE, link)


async def drain(link: str, worker: str, amilia: AmiliaClient, cyberimpact: CyberimpactClient,
                options: DrainOptions | None = None, *, steps: Steps | None = None,
                prepare: Prepare | None = None, store_url: str | None = None,
                lease_name: str | None = None, report: DrainReport | None = None) -> DrainReport:
    """Drain the link's Amilia inbox with open clients (tests and benchmarks; the flow lets the handler open the
    link once it holds the lease). See :func:`passerelle.engine.drain`.

    Raises:
        AuthError: a vendor refused the credentials (claimed events were released first).
    """
    opts = options or DrainOptions()
    handler = AmiliaEvents(clients=(amilia, cyberimpact), steps=steps, prepare=prepare, months=opts.months,
                           store_url=store_url)
    return await drain_events(handler, link, worker, opts, store_url=store_url, lease_name=lease_name,
                              report=report)
