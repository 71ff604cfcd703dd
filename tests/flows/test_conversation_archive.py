"""iAdvize → Zendesk archival end to end: the flow under prefect_test_harness, the install Block saved in
Prefect, the sandbox (iAdvize + Zendesk) over a real socket, events stored in the inbox as the gateway does.

Each test pins a rule of the seed (../shared/seeds/iadvize-zendesk-app.txt) or of docs/iadvize-zendesk.md.
"""

from __future__ import annotations

import time

import httpx
import pytest

from flows.conversation_archive import archive_conversations
from passerelle.store.conversation_tickets import ticket_for
from passerelle.store.inbox import list_events, store_deliveries
from sandbox.server import SandboxServer
from tasks.iadvize_zendesk.install import IadvizeZendeskInstall, install_block_name
from tests.support.iadvize_zendesk import (
    AGENT_FIELD,
    ARCHIVE_FORM,
    CAMPAIGN_FIELD,
    COUNTRY_FIELD,
    ESC,
    ESC2,
    ESCALATION_FORM,
    JANE,
    JANE_USER,
    NOMAIL,
    PRIORITY_FIELD,
    SITE,
    STRANGER,
    ZENDESK_ADMIN,
    ZENDESK_TOKEN,
    closed_delivery,
    escalation_delivery,
    field_value,
    graphql_token,
    load,
    ticket_of,
    tickets,
)

ADMIN_URL = f"https://ha.iadvize.com/admin/site/{SITE}/conversations/"


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        load(server.url)
        yield server


async def install(sandbox, **options) -> None:
    block = IadvizeZendeskInstall(
        site=SITE, zendesk_domain="https://acme.zendesk.com", zendesk_email=ZENDESK_ADMIN,
        zendesk_api_key=ZENDESK_TOKEN, iadvize_rest_api_key="unused-rest-key",
        iadvize_graphql_token=graphql_token(sandbox.vendor_url("iadvize")),
        zendesk_base_url=sandbox.vendor_url("zendesk"), iadvize_base_url=sandbox.vendor_url("iadvize"),
        site_country="France", **options)
    await block.save(install_block_name(SITE), overwrite=True)


def comments(sandbox, ticket: dict) -> list[dict]:
    state = httpx.get(f"{sandbox.url}/_sandbox/zendesk/state", timeout=30).json()
    return next(t for t in state["tickets"] if t["id"] == ticket["id"])["comments"]


def ticket_posts(sandbox) -> int:
    log = httpx.get(f"{sandbox.url}/_sandbox/zendesk/requests", timeout=30).json()["requests"]
    return sum(1 for r in log if r["method"] == "POST" and r["path"].rstrip("/").endswith("/api/v2/tickets"))


async def run() -> dict:
    return await archive_conversations(site=SITE, max_seconds=30)


async def test_auto_archive_makes_one_solved_ticket_per_conversation(sandbox):
    """Seed 2.1: solved, the transcript, a private note with the link, the requester found by the visitor's
    e-mail (else the API user), the archive form and its iAdvize fields; a re-delivery makes nothing more."""
    await install(sandbox, auto_archive=True, archive_form_id=ARCHIVE_FORM)
    store_deliveries([closed_delivery(JANE), closed_delivery(NOMAIL), closed_delivery(STRANGER),
                      closed_delivery(JANE, event_id="second-delivery-of-jane")])
    report = await run()
    assert report["applied"] == 3 and report["failed"] == 0, report
    jane = ticket_of(sandbox.url, JANE)
    assert jane["status"] == "solved" and jane["ticket_form_id"] == ARCHIVE_FORM
    assert jane["requester_id"] == JANE_USER
    first, note = comments(sandbox, jane)
    assert first["public"] is True
    assert "My parcel never arrived" in first["body"] and "Ana Roy: Let me check the tracking number" in first["body"]
    assert note["public"] is False and f"{ADMIN_URL}{JANE}" in note["body"] and JANE in note["body"]
    # the archive form shows Agent and Campaign, not Country: Country is not sent (left empty)
    assert field_value(jane, AGENT_FIELD) == "Ana Roy"
    assert field_value(jane, CAMPAIGN_FIELD) == "Spring sale"
    assert field_value(jane, COUNTRY_FIELD) is None
    for cid in (NOMAIL, STRANGER):  # no e-mail, or an e-mail no user has: the API user is the requester
        ticket = ticket_of(sandbox.url, cid)
        assert ticket["requester_id"] == 1 and ticket["status"] == "solved"
        assert ticket_for(SITE, cid).requester_found is False
    assert ticket_for(SITE, JANE).requester_found is True and ticket_for(SITE, JANE).kind == "archive"
    assert len(tickets(sandbox.url)) == 3
    assert {r.status for r in list_events(source="iadvize", limit=100)} == {"done"}

    posts = ticket_posts(sandbox)
    store_deliveries([closed_delivery(JANE, event_id="third-delivery-of-jane")])
    again = await run()
    assert again["skipped"] == {"already archived": 1}, again
    assert ticket_posts(sandbox) == posts and len(tickets(sandbox.url)) == 3


async def test_auto_archive_off_makes_no_ticket_and_no_form_means_the_default_form(sandbox):
    await install(sandbox, auto_archive=False)
    store_deliveries([closed_delivery(JANE)])
    report = await run()
    assert report["skipped"] == {"auto-archive is off for this site": 1} and tickets(sandbox.url) == []
    await install(sandbox, auto_archive=True)
    store_deliveries([closed_delivery(NOMAIL)])
    await run()
    ticket = ticket_of(sandbox.url, NOMAIL)
    assert ticket["ticket_form_id"] == 10  # Zendesk's default form: it shows no iAdvize field, none is sent
    assert all(field_value(ticket, f) is None for f in (AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD))


async def test_escalation_first_then_closed_makes_one_open_ticket(sandbox):
    """Seed 3.2: an open ticket on the escalation form, the agent's note under the label with the URL and id,
    the form's fields (the three iAdvize ones and the agent's own values); the closed event that follows
    (auto-archive on) makes no archive ticket."""
    await install(sandbox, auto_archive=True, escalation=True, escalation_form_id=ESCALATION_FORM,
                  escalation_note_label="Synthèse de la demande client en une ligne")
    store_deliveries([escalation_delivery(ESC)])
    await run()
    store_deliveries([closed_delivery(ESC), escalation_delivery(ESC)])  # the closed event, and a re-sent escalation
    report = await run()
    assert report["failed"] == 0 and report["applied"] == 0, report
    ticket = ticket_of(sandbox.url, ESC)
    assert ticket["status"] == "open" and ticket["ticket_form_id"] == ESCALATION_FORM
    assert ticket["requester_id"] == JANE_USER
    assert field_value(ticket, AGENT_FIELD) == "Ana Roy" and field_value(ticket, COUNTRY_FIELD) == "France"
    assert field_value(ticket, CAMPAIGN_FIELD) == "Spring sale" and field_value(ticket, PRIORITY_FIELD) == "high"
    notes = [c for c in comments(sandbox, ticket) if not c["public"]]
    assert len(notes) == 1
    body = notes[0]["body"]
    assert "Synthèse de la demande client en une ligne:\nRefund the parcel" in body
    assert f"{ADMIN_URL}{ESC}" in body and f"Conversation id: {ESC}" in body
    assert ticket_for(SITE, ESC).kind == "escalation" and ticket_for(SITE, ESC).agent_name == "Ana Roy"
    assert len(tickets(sandbox.url)) == 1


async def test_closed_first_then_escalation_turns_the_archive_into_the_escalation(sandbox):
    """The other order: the archive ticket becomes the escalation (open, escalation form, the note), not a
    second ticket."""
    await install(sandbox, auto_archive=True, escalation=True, escalation_form_id=ESCALATION_FORM)
    store_deliveries([closed_delivery(ESC2)])
    await run()
    archived = ticket_of(sandbox.url, ESC2)
    assert archived["status"] == "solved"
    store_deliveries([escalation_delivery(ESC2, note="Call back tomorrow")])
    report = await run()
    assert report["applied"] == 1, report
    ticket = ticket_of(sandbox.url, ESC2)
    assert ticket["id"] == archived["id"] and len(tickets(sandbox.url)) == 1
    assert ticket["status"] == "open" and ticket["ticket_form_id"] == ESCALATION_FORM
    assert "iadvize_escalation" in ticket["tags"] and "iadvize_archive" not in ticket["tags"]
    notes = [c["body"] for c in comments(sandbox, ticket) if not c["public"]]
    assert len(notes) == 2 and "Agent's note:\nCall back tomorrow" in notes[1]
    assert ticket_for(SITE, ESC2).kind == "escalation"


async def test_a_lost_zendesk_answer_is_resolved_by_the_external_id_lookup(sandbox):
    """Zendesk creates the ticket but the answer is lost (the run cannot record it): the event fails, is not
    re-sent; the next attempt finds the ticket by its external_id and makes no second one."""
    await install(sandbox, auto_archive=True)
    faults = {"lost_answer_rate": 1.0, "lost_answer_methods": ["POST"]}
    httpx.put(f"{sandbox.url}/_sandbox/faults", json={"zendesk": faults}, timeout=30).raise_for_status()
    store_deliveries([closed_delivery(JANE)])
    first = await run()
    assert first["failed"] >= 1 and len(tickets(sandbox.url)) == 1, first  # created, answer lost, not re-sent
    httpx.put(f"{sandbox.url}/_sandbox/faults", json={"zendesk": {}}, timeout=30).raise_for_status()
    runs = [first]
    while list_events(source="iadvize", status="pending", limit=10):  # retried after its backoff (2 s)
        time.sleep(0.5)
        runs.append(await run())
    assert sum(r.get("tickets_found", 0) for r in runs) == 1, runs  # found by external_id, adopted
    assert sum(r["applied"] for r in runs) == 1
    assert ticket_posts(sandbox) == 1 and len(tickets(sandbox.url)) == 1
    ticket = ticket_of(sandbox.url, JANE)
    assert ticket_for(SITE, JANE).ticket_id == ticket["id"]
    assert [c["public"] for c in comments(sandbox, ticket)] == [True, False]


async def test_backfill_archives_what_has_no_ticket_and_a_dry_run_writes_nothing(sandbox):
    """`since`: the conversations closed since then without a ticket are archived; a dry run only counts them;
    running again creates nothing."""
    from datetime import datetime, timedelta

    from flows.conversation_archive import backfill_conversations

    await install(sandbox, auto_archive=True)
    store_deliveries([closed_delivery(JANE)])
    await run()  # JANE already has its ticket
    since = datetime(2026, 3, 15, 14, 3) - timedelta(hours=2)
    dry = await backfill_conversations(site=SITE, since=since, dry_run=True)
    assert (dry["closed"], dry["with_ticket"], dry["without_ticket"]) == (5, 1, 4), dry
    assert len(tickets(sandbox.url)) == 1
    done = await backfill_conversations(site=SITE, since=since)
    assert done["queued"] == 4 and done["applied"] == 4, done
    assert len(tickets(sandbox.url)) == 5 and ticket_posts(sandbox) == 5
    again = await backfill_conversations(site=SITE, since=since)
    assert again["without_ticket"] == 0 and ticket_posts(sandbox) == 5, again
