"""The archival's store writes that go together, each in one transaction (one SQLite commit instead of two).

- :func:`record_ticket_with_effects`: a conversation's ``conversation_ticket`` row (as
  :func:`passerelle.store.conversation_tickets.record_ticket` writes it) and its effect-ledger keys (as
  :func:`passerelle.store.effects.record_effects`: insert-if-absent, the first ``done_at`` and detail kept).

Example:
    record_ticket_with_effects(TicketRecord(site="4242", conversation_id=cid, kind=ARCHIVE, ticket_id=81),
                               {f"iadvize-4242:{cid}:ticket": '{"ticket_id": 81, "kind": "archive"}'})
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from passerelle.store.conversation_tickets import ESCALATION, TicketRecord
from passerelle.store.engine import session_scope
from passerelle.store.models import ConversationTicket, Effect, utcnow

_TICKET = ConversationTicket.__table__
_EFFECT = Effect.__table__


@lru_cache(maxsize=2)
def _statements(dialect: str) -> tuple[Any, Any]:
    """The upsert of a ticket row (``created_at`` kept, ``escalated_at`` set once) and the insert-if-absent of
    ledger keys, built once: executed with parameters, their compiled form is reused."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    ticket = insert(_TICKET)
    kept = {"escalated_at": func.coalesce(_TICKET.c.escalated_at, ticket.excluded.escalated_at)}
    changed = {c: getattr(ticket.excluded, c) for c in ("kind", "ticket_id", "agent_id", "agent_name",
                                                         "requester_found", "form_id")}
    upsert = ticket.on_conflict_do_update(index_elements=["site", "conversation_id"], set_={**changed, **kept})
    effects = insert(_EFFECT).on_conflict_do_nothing(index_elements=["key"])
    return upsert.returning(*_TICKET.c), effects


def record_ticket_with_effects(record: TicketRecord, effects: Mapping[str, str | None],
                               url: str | None = None) -> TicketRecord:
    """Record the conversation's ticket and the ledger keys `effects` (key → detail) in one transaction.

    As :func:`passerelle.store.conversation_tickets.record_ticket`: one row per conversation, recording again
    updates it, an archive turned into an escalation keeps its ``created_at`` and gets ``escalated_at``.
    Returns what is stored."""
    now = utcnow()
    escalated = (record.escalated_at or now) if record.kind == ESCALATION else None
    values = {"site": str(record.site), "conversation_id": str(record.conversation_id), "kind": record.kind,
              "ticket_id": record.ticket_id, "agent_id": record.agent_id, "agent_name": record.agent_name,
              "requester_found": record.requester_found, "form_id": record.form_id,
              "created_at": record.created_at or now, "escalated_at": escalated}
    with session_scope(url) as s:
        upsert, insert_effects = _statements(s.get_bind().dialect.name)
        row = s.execute(upsert, [values]).one()
        if effects:
            s.execute(insert_effects, [{"key": k, "done_at": now, "detail": effects[k]} for k in sorted(effects)])
    return TicketRecord(site=row.site, conversation_id=row.conversation_id, kind=row.kind, ticket_id=row.ticket_id,
                        agent_id=row.agent_id, agent_name=row.agent_name, requester_found=row.requester_found,
                        form_id=row.form_id, created_at=row.created_at, escalated_at=row.escalated_at)
