"""tasks/iadvize_zendesk/records.py: the ticket row and its ledger keys in one transaction store exactly what
`record_ticket` and `record_effects` store one after the other (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from passerelle.store.conversation_tickets import ARCHIVE, ESCALATION, TicketRecord, record_ticket, ticket_for
from passerelle.store.effects import effect_details
from tasks.iadvize_zendesk.records import record_ticket_with_effects
from tests.support.store_backends import store_url  # noqa: F401 (fixture)

SITE = "4242"


def _record(cid: str, kind: str, ticket_id: int, **extra) -> TicketRecord:
    return TicketRecord(site=SITE, conversation_id=cid, kind=kind, ticket_id=ticket_id, **extra)


def _plain(record: TicketRecord | None) -> dict:
    assert record is not None
    out = {k: getattr(record, k) for k in ("site", "kind", "ticket_id", "agent_id", "agent_name",
                                           "requester_found", "form_id")}
    out["escalated"] = record.escalated_at is not None
    return out


def test_same_rows_as_record_ticket_through_archive_then_escalation(store_url):  # noqa: F811
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    steps = [(ARCHIVE, 81, {"agent_id": 100, "agent_name": "Ana Roy", "requester_found": True, "form_id": 30}),
             (ESCALATION, 81, {"agent_id": 101, "agent_name": "Marc Tremblay", "requester_found": True,
                               "form_id": 20}),
             (ARCHIVE, 81, {"form_id": 30})]  # an archive recorded again after an escalation: escalated_at kept
    escalated_at = None
    for kind, ticket_id, extra in steps:
        stored = record_ticket_with_effects(_record(ours, kind, ticket_id, **extra), {}, url=store_url)
        expected = record_ticket(_record(theirs, kind, ticket_id, **extra), url=store_url)
        assert _plain(stored) == _plain(expected) == _plain(ticket_for(SITE, ours, url=store_url))
        first = ticket_for(SITE, ours, url=store_url)
        assert first.created_at is not None
        if kind == ESCALATION:
            escalated_at = first.escalated_at
        assert first.escalated_at == escalated_at  # set once, by the first escalation, then kept
    created = [ticket_for(SITE, ours, url=store_url).created_at]
    record_ticket_with_effects(_record(ours, ESCALATION, 81), {}, url=store_url)
    assert ticket_for(SITE, ours, url=store_url).created_at == created[0]  # created_at never moves


def test_the_ledger_keys_are_recorded_with_the_row_and_the_first_detail_is_kept(store_url):  # noqa: F811
    cid = str(uuid.uuid4())
    key = f"iadvize-{SITE}:{cid}:ticket"
    record_ticket_with_effects(_record(cid, ARCHIVE, 7), {key: '{"ticket_id": 7}'}, url=store_url)
    record_ticket_with_effects(_record(cid, ARCHIVE, 7), {key: "again", f"{key}-2": "other"}, url=store_url)
    assert effect_details(f"iadvize-{SITE}:{cid}:", url=store_url) == {key: '{"ticket_id": 7}',
                                                                        f"{key}-2": "other"}


def test_a_failed_ledger_write_leaves_no_ticket_row(store_url):  # noqa: F811
    cid = str(uuid.uuid4())
    with pytest.raises(TypeError):  # a key that is no text fails once the row is written: all is rolled back
        record_ticket_with_effects(_record(cid, ARCHIVE, 9), {f"iadvize-{SITE}:{cid}:ticket": None, None: "x"},
                                   url=store_url)
    assert ticket_for(SITE, cid, url=store_url) is None
