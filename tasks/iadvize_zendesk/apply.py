"""The write side of a batch: one ticket per conversation (docs/iadvize-zendesk.md).

Every Zendesk write is guarded twice, so a re-delivery, a retry or a rerun after a crash never makes a second
ticket or a second note:

- **the ticket** (``POST /api/v2/tickets``, not idempotent): first the store's record of the conversation
  (``conversation_ticket``), then Zendesk's ``GET /api/v2/tickets?external_id=iadvize-conversation-<id>`` (a
  ticket created by a run that stopped before recording it is found and adopted), and only then the create;
- **a note or the escalation of an archive** (``PUT /api/v2/tickets/{id}`` with a private comment, not
  idempotent): the effect-ledger key ``iadvize-<site>:<conversation>:<tag>``, then the ticket's tags (the
  update adds the tag in the same call as the comment), and only then the update. A ticket this event has just
  created is not read again: its tags are in the create's answer, and a ticket that new has no note.

A lost answer (``OutcomeUnknown``) fails the event; its next attempt finds the ticket or the tag. The ticket's
record and its ledger key are written in one transaction as soon as Zendesk answers the create; the notes' keys
and the events' final entries are written together once the batch is written (:attr:`TicketWriter.ledger`),
before the drain marks the events done: a crash before then leaves the tags to stop a second note.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connectors.zendesk.client import ZendeskClient
from passerelle.engine import APPLIED, SKIPPED, event_key
from passerelle.store.conversation_tickets import ARCHIVE, ESCALATION, TicketRecord
from passerelle.store.effects import done_keys
from passerelle.store.engine import off_loop
from tasks.iadvize_zendesk import tickets as t
from tasks.iadvize_zendesk.events import CLOSED, ArchiveEvent, Work
from tasks.iadvize_zendesk.records import record_ticket_with_effects
from tasks.iadvize_zendesk.site import ArchiveSettings

ESCALATED = "escalated: the escalation's ticket is the conversation's one ticket"


class TicketGone(RuntimeError):
    """The conversation's recorded ticket no longer exists in Zendesk (deleted by someone)."""


@dataclass
class Result:
    """An event's final step (APPLIED or SKIPPED) and its ledger detail."""

    step: str
    detail: dict[str, Any]


@dataclass
class TicketWriter:
    """Applies the events of one batch to Zendesk for one site."""

    settings: ArchiveSettings
    zendesk: ZendeskClient
    forms: t.FormFields | None
    store_url: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    # Ledger keys not recorded yet (notes added, events' final entries): recorded in one transaction by the
    # handler once the batch is written (or stops). Until then the Zendesk tags guard a rerun's notes.
    ledger: dict[str, str] = field(default_factory=dict)

    # -- lookups ------------------------------------------------------------------------------------------
    def _key(self, conversation_id: str, step: str) -> str:
        return f"iadvize-{self.settings.site}:{conversation_id}:{step}"

    async def existing(self, work: Work) -> TicketRecord | None:
        """The conversation's ticket: the store's record, else a ticket with its external_id (adopted).

        The store's record is the one the plan read for the whole batch (``work.record``), kept up to date by
        :meth:`_record`: a conversation's events are claimed by one drain at a time, in order, so nothing else
        writes it meanwhile (and the external_id lookup below still comes before any create)."""
        if work.record is not None:
            return work.record
        found = await self.zendesk.tickets_by_external_id(t.external_id(work.conversation_id))
        if not found:
            return None
        ticket = min(found, key=lambda x: int(x["id"]))
        kind = ESCALATION if t.ESCALATION_TAG in (ticket.get("tags") or []) else ARCHIVE
        self.counts["tickets_found"] += 1
        return await self._record(work, kind, ticket, requester_found=None)

    async def _record(self, work: Work, kind: str, ticket: dict[str, Any], *, requester_found: bool | None,
                      agent: dict[str, Any] | None = None) -> TicketRecord:
        """Record the conversation's ticket and its ledger key ``iadvize-<site>:<conversation>:ticket``, in one
        transaction, as soon as Zendesk answered."""
        operator = work.conversation.operator if work.conversation else None
        agent_id = int(agent["id"]) if agent else (operator.id if operator else None)
        name = t.agent_name(agent) if agent else t.agent_name(operator)
        if requester_found is None:  # adopted: whether its requester is a matched user is not known here
            requester_found = work.requester_id is not None
        record = TicketRecord(site=self.settings.site, conversation_id=work.conversation_id, kind=kind,
                              ticket_id=int(ticket["id"]), agent_id=agent_id, agent_name=name,
                              requester_found=requester_found, form_id=ticket.get("ticket_form_id"))
        key = self._key(work.conversation_id, "ticket")
        work.record = await off_loop(self.store_url, record_ticket_with_effects, record,
                                     {key: json.dumps({"ticket_id": record.ticket_id, "kind": kind})},
                                     url=self.store_url)
        return work.record

    # -- writes -------------------------------------------------------------------------------------------
    def _fields(self, work: Work, form_id: int | None, agent: dict[str, Any] | None) -> list[dict[str, Any]]:
        conversation = work.conversation
        if self.forms is None or conversation is None:
            return []
        name = t.agent_name(agent) if agent else t.agent_name(conversation.operator)
        country = self.settings.site_country or conversation.project_country
        return self.forms.values(form_id, name, country, conversation.campaign)

    async def create(self, work: Work, kind: str, event: ArchiveEvent) -> tuple[TicketRecord, list[str]]:
        """Create the conversation's ticket (the caller has looked for an existing one); its record and the tags
        Zendesk answered it with."""
        if work.conversation is None:
            raise RuntimeError(f"conversation {work.conversation_id} was not read before its ticket")
        if kind == ARCHIVE:
            form_id, status, tags, agent = self.settings.archive_form_id, "solved", [t.TAG, t.ARCHIVE_TAG], None
            fields = self._fields(work, form_id, None)
        else:
            form_id, status, tags = self.settings.escalation_form_id, "open", [t.TAG, t.ESCALATION_TAG]
            agent = event.agent
            fields = t.merge_fields(self._fields(work, form_id, agent), event.fields)
        body = t.ticket_body(conversation=work.conversation, status=status, tags=tags, form_id=form_id,
                             custom_fields=fields, requester_id=work.requester_id,
                             escalation_text=event.note if kind == ESCALATION else None)
        ticket = await self.zendesk.create_ticket(body)
        self.counts["tickets_created"] += 1
        self.counts["requesters_found"] += work.requester_id is not None
        record = await self._record(work, kind, ticket, requester_found=work.requester_id is not None, agent=agent)
        return record, list(ticket.get("tags") or [])

    async def note(self, work: Work, record: TicketRecord, text: str, tag: str, *,
                   changes: dict[str, Any] | None = None, add: tuple[str, ...] = (), drop: tuple[str, ...] = (),
                   created_tags: list[str] | None = None) -> bool:
        """Add a private note (and `changes`) once, marked by `tag`. Returns False when it was already there.

        `created_tags`: the ticket was created a moment ago by this event and these are the tags Zendesk
        answered the create with; a ticket that new has no note yet, so neither the ledger nor Zendesk is
        asked again. The note's ledger key goes to :attr:`ledger`, recorded with the event's final entry."""
        key = self._key(work.conversation_id, tag)
        if created_tags is not None:
            tags = created_tags
        else:
            if key in self.ledger or await off_loop(self.store_url, done_keys, [key], url=self.store_url):
                return False
            ticket = await self.zendesk.get_ticket(record.ticket_id)
            if ticket is None:
                raise TicketGone(f"Zendesk ticket {record.ticket_id} of conversation {work.conversation_id} no "
                                 f"longer exists; delete its row from conversation_ticket to have a new one made")
            tags = list(ticket.get("tags") or [])
        if tag not in tags:
            kept = [x for x in tags if x not in drop]
            update = {**(changes or {}), "comment": {"body": text, "public": False},
                      "tags": kept + [x for x in (*add, tag) if x not in kept]}
            await self.zendesk.update_ticket(record.ticket_id, update)
            self.counts["notes_added"] += 1
        self.ledger[key] = str(record.ticket_id)
        return tag not in tags

    def _url(self, work: Work) -> str:
        return t.admin_url(self.settings.platform, self.settings.site, work.conversation_id)

    def _escalation_note(self, work: Work, event: ArchiveEvent) -> str:
        return t.escalation_note(self.settings.escalation_note_label, event.note, self._url(work),
                                 work.conversation_id, t.agent_name(event.agent))

    # -- events -------------------------------------------------------------------------------------------
    async def apply(self, work: Work, event: ArchiveEvent) -> Result:
        return await (self.closed(work, event) if event.kind == CLOSED else self.escalation(work, event))

    async def closed(self, work: Work, event: ArchiveEvent) -> Result:
        if not self.settings.auto_archive:
            return Result(SKIPPED, {"reason": "auto-archive is off for this site"})
        if work.escalated:
            return Result(SKIPPED, {"reason": ESCALATED})
        record = await self.existing(work)
        if record is not None and record.kind == ESCALATION:
            return Result(SKIPPED, {"reason": ESCALATED, "ticket_id": record.ticket_id})
        created = record is None
        tags = None
        if record is None:
            record, tags = await self.create(work, ARCHIVE, event)
        noted = await self.note(work, record, t.archive_note(self._url(work), work.conversation_id), t.NOTE_TAG,
                                created_tags=tags)
        if not (created or noted):
            return Result(SKIPPED, {"reason": "already archived", "ticket_id": record.ticket_id})
        return Result(APPLIED, {"kind": ARCHIVE, "ticket_id": record.ticket_id, "created": created,
                                "requester_found": record.requester_found, "conversation": work.conversation_id})

    async def escalation(self, work: Work, event: ArchiveEvent) -> Result:
        if not self.settings.escalation:
            return Result(SKIPPED, {"reason": "escalation is off for this site"})
        record = await self.existing(work)
        note = self._escalation_note(work, event)
        if record is None:
            record, tags = await self.create(work, ESCALATION, event)
            await self.note(work, record, note, t.ESCALATION_NOTE_TAG, created_tags=tags)
            action = "created"
        elif record.kind == ARCHIVE:
            form_id = self.settings.escalation_form_id
            changes: dict[str, Any] = {"status": "open"}
            if form_id is not None:
                changes["ticket_form_id"] = form_id
            fields = t.merge_fields(self._fields(work, form_id, event.agent), event.fields)
            if fields:
                changes["custom_fields"] = fields
            await self.note(work, record, note, t.ESCALATION_NOTE_TAG, changes=changes, add=(t.ESCALATION_TAG,),
                            drop=(t.ARCHIVE_TAG,))
            ticket = {"id": record.ticket_id, "ticket_form_id": form_id if form_id is not None else record.form_id}
            record = await self._record(work, ESCALATION, ticket, requester_found=record.requester_found,
                                        agent=event.agent)
            self.counts["archives_escalated"] += 1
            action = "archive escalated"
        elif await self.note(work, record, note, t.ESCALATION_NOTE_TAG):
            action = "note added"
        else:
            return Result(SKIPPED, {"reason": "already escalated", "ticket_id": record.ticket_id})
        return Result(APPLIED, {"kind": ESCALATION, "ticket_id": record.ticket_id, "action": action,
                                "requester_found": record.requester_found, "conversation": work.conversation_id})


def final_entry(row_id: int, result: Result) -> tuple[str, str]:
    """The event's ledger key and detail."""
    return event_key(row_id, result.step), json.dumps(result.detail)
