"""The iAdvize inbox events the archival acts on, and the read side of a batch (:func:`plan_batch`).

Two event types matter (docs/iadvize-zendesk.md): ``v2.conversation.closed`` (iAdvize's webhook, or the
backfill's) and ``escalation`` (the agent's escalation, ``POST /hooks/iadvize/{site}/escalations``); every
other type (``v2.conversation.pushed``...) is skipped. The plan reads, never writes: the ledger and the store's
tickets, the conversation (GraphQL ``conversation``) and the requester (``users/search``) for conversations that
need a ticket or an escalation, and the account's ticket forms and fields once per batch.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors._http import AuthError, NotFoundError
from connectors.iadvize.client import IadvizeClient
from connectors.iadvize.models import Conversation
from connectors.zendesk.client import ZendeskClient
from passerelle.engine import error_text, final_keys, is_settled
from passerelle.store.conversation_tickets import ARCHIVE, TicketRecord, tickets_for
from passerelle.store.effects import done_keys
from passerelle.store.engine import off_loop
from passerelle.store.inbox import InboxEvent
from tasks.iadvize_zendesk.site import ArchiveSettings
from tasks.iadvize_zendesk.tickets import FormFields

CLOSED, ESCALATION_EVENT = "v2.conversation.closed", "escalation"
CONCURRENCY = 8  # conversations read or written at once (the clients' own limit is 8 calls too)
T = TypeVar("T")


@dataclass(frozen=True)
class ArchiveEvent:
    """One inbox event, read: a closed conversation or an agent's escalation."""

    row_id: int
    kind: str                    # CLOSED or ESCALATION_EVENT
    conversation_id: str
    agent: dict[str, Any] | None = None          # escalation: {"id", "firstName", "lastName"}
    note: str = ""
    fields: tuple[dict[str, Any], ...] = ()      # escalation form values [{id, value}]
    visitor_email: str | None = None


def read_event(row: InboxEvent) -> ArchiveEvent | None:
    """The event, or None for a type the archival ignores. Raises ValueError (the event is bad) naming what is
    wrong."""
    if row.event_type not in (CLOSED, ESCALATION_EVENT):
        return None
    payload = row.payload if isinstance(row.payload, dict) else {}
    raw = payload.get("conversationId")
    try:
        conversation_id = str(uuid.UUID(str(raw)))
    except ValueError:
        raise ValueError(f"conversationId must be an iAdvize conversation id (a UUID), got {raw!r}") from None
    if row.event_type == CLOSED:
        return ArchiveEvent(row.id, CLOSED, conversation_id)
    agent = payload.get("agent")
    if not isinstance(agent, dict) or isinstance(agent.get("id"), bool) or not isinstance(agent.get("id"), int):
        raise ValueError("agent.id is required in an escalation: the iAdvize id of the agent who escalated")
    fields = payload.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("id"), int)
                                               and "value" in f for f in fields):
        raise ValueError("fields must be a list of {\"id\": <Zendesk ticket field id>, \"value\": ...}")
    email = payload.get("visitorEmail")
    return ArchiveEvent(row.id, ESCALATION_EVENT, conversation_id, agent=agent, note=str(payload.get("note") or ""),
                        fields=tuple(fields), visitor_email=email if isinstance(email, str) and email else None)


@dataclass
class Work:
    """One conversation of a batch: its unsettled events in order and what was read for them."""

    conversation_id: str
    events: list[ArchiveEvent] = field(default_factory=list)
    record: TicketRecord | None = None
    conversation: Conversation | None = None
    requester_id: int | None = None
    error: str | None = None      # reading failed: every event of the conversation fails (retried later)

    @property
    def escalated(self) -> bool:
        return any(e.kind == ESCALATION_EVENT for e in self.events)

    def needs_reading(self, settings: ArchiveSettings) -> bool:
        """A ticket may be created (no record yet) or an archive turned into an escalation."""
        wanted = [e for e in self.events if (e.kind == CLOSED and settings.auto_archive)
                  or (e.kind == ESCALATION_EVENT and settings.escalation)]
        if not wanted:
            return False
        return self.record is None or (self.record.kind == ARCHIVE and any(e.kind == ESCALATION_EVENT
                                                                          for e in wanted))


@dataclass
class PlannedBatch:
    rows: list[InboxEvent]
    works: list[Work] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)
    ignored: list[int] = field(default_factory=list)       # types the archival does not act on
    settled: list[int] = field(default_factory=list)       # applied by a run that stopped before marking them
    forms: FormFields | None = None


async def bounded(items: list[T], work: Callable[[T], Awaitable[None]], limit: int = CONCURRENCY) -> None:
    """Run ``work`` on every item, at most ``limit`` at once; the first AuthError is raised."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> None:
        async with gate:
            await work(item)

    results = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def read_forms(zendesk: ZendeskClient) -> FormFields:
    """The account's forms and iAdvize fields (an account without forms: every field counts)."""
    fields = await zendesk.ticket_fields()
    try:
        forms: list[dict[str, Any]] | None = await zendesk.ticket_forms()
    except NotFoundError:
        forms = None
    return FormFields.read(forms, fields)


async def plan_batch(settings: ArchiveSettings, iadvize: IadvizeClient, zendesk: ZendeskClient,
                     rows: list[InboxEvent], store_url: str | None = None) -> PlannedBatch:
    """Read what the batch needs (see the module docstring); writes nothing."""
    planned = PlannedBatch(rows)
    recorded = await off_loop(store_url, done_keys, final_keys(r.id for r in rows), url=store_url)
    works: dict[str, Work] = {}
    for row in rows:
        if is_settled(row.id, recorded):
            planned.settled.append(row.id)
            continue
        try:
            event = read_event(row)
        except ValueError as exc:
            planned.bad[row.id] = f"bad {row.event_type} event: {exc}"
            continue
        if event is None:
            planned.ignored.append(row.id)
            continue
        works.setdefault(event.conversation_id, Work(event.conversation_id)).events.append(event)
    planned.works = list(works.values())
    records = await off_loop(store_url, tickets_for, settings.site, list(works), url=store_url)
    for work in planned.works:
        work.record = records.get(work.conversation_id)
    to_read = [w for w in planned.works if w.needs_reading(settings)]
    if to_read:
        planned.forms = await read_forms(zendesk)
        users: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        await bounded(to_read, lambda w: _read(w, iadvize, zendesk, users))
    return planned


async def _user(zendesk: ZendeskClient, email: str, users: dict[str, asyncio.Future[dict[str, Any] | None]]
                ) -> dict[str, Any] | None:
    """The Zendesk user with this e-mail, searched once per batch (a visitor's conversations share it)."""
    key = email.strip().lower()
    if key not in users:
        users[key] = asyncio.ensure_future(zendesk.find_user_by_email(email))
    return await asyncio.shield(users[key])  # a cancelled reader leaves the search to the others


async def _read(work: Work, iadvize: IadvizeClient, zendesk: ZendeskClient,
                users: dict[str, asyncio.Future[dict[str, Any] | None]]) -> None:
    try:
        work.conversation = await iadvize.conversation(work.conversation_id)
        if work.conversation is None:
            work.error = f"iAdvize has no conversation {work.conversation_id} (yet): tried again later"
            return
        if work.record is not None:
            return  # an archive to escalate: its requester is already set
        email = next((e.visitor_email for e in work.events if e.visitor_email), None) \
            or work.conversation.visitor_email
        if email:
            try:
                user = await _user(zendesk, email, users)
            except ValueError:  # not an e-mail address: no user can have it
                user = None
            work.requester_id = int(user["id"]) if user and user.get("id") is not None else None
    except AuthError:
        raise
    except Exception as exc:  # noqa: BLE001 - one conversation's failure fails only its events
        work.error = error_text(exc)
