"""The ticket made for each iAdvize conversation (table ``conversation_ticket``, docs/iadvize-zendesk.md).

One row per (site, conversation): the Zendesk ticket, whether it is an archive or an escalation, the agent, the
form and whether the requester was found. The archival reads it before creating anything (then Zendesk's
``external_id`` lookup, for a ticket made by a run that stopped before recording it); the escalation report
counts its escalations per agent.

Example:
    record_ticket(TicketRecord(site="4242", conversation_id=cid, kind=ARCHIVE, ticket_id=81))
    ticket_for("4242", cid).kind  # 'archive'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from passerelle.store.engine import session_scope
from passerelle.store.models import ConversationTicket, utcnow

ARCHIVE, ESCALATION = "archive", "escalation"
KINDS = (ARCHIVE, ESCALATION)


@dataclass(frozen=True)
class TicketRecord:
    """What is recorded of one conversation's ticket."""

    site: str
    conversation_id: str
    kind: str
    ticket_id: int
    agent_id: int | None = None
    agent_name: str | None = None
    requester_found: bool = False
    form_id: int | None = None
    created_at: datetime | None = None
    escalated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be {ARCHIVE!r} or {ESCALATION!r}, not {self.kind!r}")


def _record(row: ConversationTicket) -> TicketRecord:
    return TicketRecord(site=row.site, conversation_id=row.conversation_id, kind=row.kind, ticket_id=row.ticket_id,
                        agent_id=row.agent_id, agent_name=row.agent_name, requester_found=row.requester_found,
                        form_id=row.form_id, created_at=row.created_at, escalated_at=row.escalated_at)


def ticket_for(site: str, conversation_id: str, url: str | None = None) -> TicketRecord | None:
    """The conversation's recorded ticket, or None."""
    with session_scope(url) as s:
        row = s.get(ConversationTicket, (str(site), str(conversation_id)))
        return _record(row) if row else None


def tickets_for(site: str, conversation_ids: Iterable[str], url: str | None = None) -> dict[str, TicketRecord]:
    """The recorded tickets of several conversations of a site, by conversation id."""
    ids = sorted({str(c) for c in conversation_ids})
    found: dict[str, TicketRecord] = {}
    with session_scope(url) as s:
        for start in range(0, len(ids), 500):
            stmt = select(ConversationTicket).where(ConversationTicket.site == str(site),
                                                    ConversationTicket.conversation_id.in_(ids[start:start + 500]))
            found.update({row.conversation_id: _record(row) for row in s.exec(stmt)})
    return found


def record_ticket(record: TicketRecord, url: str | None = None) -> TicketRecord:
    """Record the conversation's ticket. A conversation has one row: recording again updates it (an archive
    turned into an escalation keeps its ``created_at`` and gets ``escalated_at``). Returns what is stored."""
    with session_scope(url) as s:
        row = s.get(ConversationTicket, (str(record.site), str(record.conversation_id)))
        if row is None:
            row = ConversationTicket(site=str(record.site), conversation_id=str(record.conversation_id),
                                     kind=record.kind, ticket_id=record.ticket_id,
                                     created_at=record.created_at or utcnow())
            s.add(row)
        row.kind, row.ticket_id = record.kind, record.ticket_id
        row.agent_id, row.agent_name = record.agent_id, record.agent_name
        row.requester_found, row.form_id = record.requester_found, record.form_id
        if record.kind == ESCALATION:
            row.escalated_at = row.escalated_at or record.escalated_at or utcnow()
        s.flush()
        return _record(row)


def escalations(site: str, start: datetime, end: datetime, url: str | None = None) -> list[TicketRecord]:
    """The site's escalated tickets with ``escalated_at`` in ``[start, end)``, oldest first (the report's)."""
    with session_scope(url) as s:
        stmt = (select(ConversationTicket)
                .where(ConversationTicket.site == str(site), ConversationTicket.kind == ESCALATION,
                       ConversationTicket.escalated_at >= start, ConversationTicket.escalated_at < end)
                .order_by(ConversationTicket.escalated_at))
        return [_record(row) for row in s.exec(stmt)]
