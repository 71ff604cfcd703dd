"""iAdvize conversations → Zendesk tickets as a handler of the generic drain engine (passerelle/engine/drain.py).

The engine owns the lease (``iadvize-drain:<site>``: one live drain per site), claims (per-conversation order:
``entity_key`` is ``conversation:<id>``), pipelining, settling, dead letters and the report. This handler opens
the site (its install Block's settings, iAdvize and Zendesk clients), plans a batch with
:func:`tasks.iadvize_zendesk.events.plan_batch` (reads) and writes it with
:class:`tasks.iadvize_zendesk.apply.TicketWriter` (one ticket per conversation), conversations in parallel
(at most 8 at once), the events of one conversation in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from connectors._http import AuthError
from connectors.iadvize.client import IadvizeClient
from connectors.zendesk.client import ZendeskClient
from passerelle.engine import APPLIED, SKIPPED, BatchOutcome, DrainReport, error_text
from passerelle.store.effects import record_effects
from passerelle.store.engine import off_loop
from tasks.iadvize_zendesk.apply import Result, TicketWriter, final_entry
from tasks.iadvize_zendesk.events import PlannedBatch, Work, bounded, plan_batch
from tasks.iadvize_zendesk.site import SOURCE, ArchiveSettings, ArchiveSite, load_site

__all__ = ["SOURCE", "ConversationArchive"]
IGNORED = "not a closed conversation or an escalation"


class ConversationArchive:
    """The :class:`passerelle.engine.BatchHandler` of the iAdvize → Zendesk archival, for one site.

    Args:
        site: The site, already loaded (tests, benchmarks); default: its install Block, read by :meth:`open`
            with `loader`.
        clients: Already open iAdvize and Zendesk clients; default: the site's, opened by :meth:`open`.
        loader: Reads a site's install (default :func:`tasks.iadvize_zendesk.site.load_site`).
        store_url: Store URL; default the configured store.
    """

    source = SOURCE
    skip_meaning = "no ticket to make"

    def __init__(self, *, site: ArchiveSite | None = None,
                 clients: tuple[IadvizeClient, ZendeskClient] | None = None,
                 loader: Callable[[str], Awaitable[ArchiveSite]] | None = None,
                 store_url: str | None = None) -> None:
        self.site, self.clients, self.loader, self.store_url = site, clients, loader or load_site, store_url
        self.settings: ArchiveSettings | None = None

    @contextlib.asynccontextmanager
    async def open(self, link: str) -> AsyncIterator[ConversationArchive]:
        async with contextlib.AsyncExitStack() as stack:
            if self.site is None:
                self.site = await self.loader(link)
            if self.clients is None:
                iadvize = await stack.enter_async_context(self.site.iadvize())
                zendesk = await stack.enter_async_context(self.site.zendesk())
                self.clients = (iadvize, zendesk)
            self.settings = self.site.settings
            yield self

    def _open(self) -> tuple[ArchiveSettings, IadvizeClient, ZendeskClient]:
        if self.settings is None or self.clients is None:
            raise RuntimeError("ConversationArchive used before open()")
        return self.settings, *self.clients

    async def plan(self, rows: list[Any]) -> PlannedBatch:
        settings, iadvize, zendesk = self._open()
        return await plan_batch(settings, iadvize, zendesk, rows, self.store_url)

    async def write(self, planned: PlannedBatch) -> BatchOutcome:
        settings, _, zendesk = self._open()
        outcome = BatchOutcome(bad=dict(planned.bad))
        outcome.done += planned.settled
        outcome.already_applied += len(planned.settled)
        if planned.ignored:
            keys = dict(final_entry(i, Result(SKIPPED, {"reason": IGNORED})) for i in planned.ignored)
            await off_loop(self.store_url, record_effects, keys, url=self.store_url)
            outcome.effects.update(keys)
            outcome.done += planned.ignored
            outcome.skipped[IGNORED] += len(planned.ignored)
        writer = TicketWriter(settings, zendesk, planned.forms, self.store_url)
        try:
            await bounded(planned.works, lambda work: self._conversation(writer, work, outcome))
        finally:  # the notes' keys and the events' final entries, in one transaction (also when stopping)
            if writer.ledger:
                await off_loop(self.store_url, record_effects, writer.ledger, url=self.store_url)
        outcome.counts.update(writer.counts)
        return outcome

    async def _conversation(self, writer: TicketWriter, work: Work, outcome: BatchOutcome) -> None:
        """The conversation's events in order; after a failure the later ones wait (failed too)."""
        failure = work.error
        for event in work.events:
            if failure is not None:
                outcome.failed[event.row_id] = failure if failure == work.error else \
                    f"an earlier event of conversation {work.conversation_id} failed: {failure}"[:1000]
                continue
            try:
                result = await writer.apply(work, event)
            except AuthError:
                raise
            except Exception as exc:  # noqa: BLE001 - one event's failure is retried by the drain
                failure = error_text(exc)
                outcome.failed[event.row_id] = failure
                continue
            key, detail = final_entry(event.row_id, result)
            writer.ledger[key] = detail  # recorded before the drain marks the event done
            outcome.effects[key] = detail
            outcome.done.append(event.row_id)
            if result.step == APPLIED:
                outcome.applied += 1
            else:
                outcome.skipped[str(result.detail.get("reason", ""))] += 1

    def calls(self) -> dict[str, int]:
        iadvize, zendesk = self.clients or (None, None)
        return {"iadvize": iadvize.stats.calls if iadvize else 0, "zendesk": zendesk.stats.calls if zendesk else 0}

    def describe(self, detail: dict[str, Any]) -> str:
        """One applied event in words: which ticket, made or changed how."""
        ticket = detail.get("ticket_id")
        who = "requester found by e-mail" if detail.get("requester_found") else "no Zendesk user for the visitor"
        if detail.get("kind") == "escalation":
            return f"escalation: ticket {ticket} {detail.get('action', '')} ({who})"
        made = "created, solved" if detail.get("created") else "internal note added"
        return f"archive: ticket {ticket} {made} ({who})"

    def notes(self, report: DrainReport) -> list[str]:
        counts = report.counts
        if not (counts["tickets_created"] or counts["archives_escalated"] or counts["tickets_found"]):
            return []
        return [f"Zendesk: {counts['tickets_created']} tickets created ({counts['requesters_found']} with the "
                f"visitor's Zendesk user as requester), {counts['archives_escalated']} archives turned into "
                f"escalations, {counts['notes_added']} internal notes added, {counts['tickets_found']} tickets "
                f"found by their external id (made by a run that stopped before recording them)."]
