"""The archival's Zendesk calls and ledger writes (docs/iadvize-zendesk.md, "One ticket per conversation" and
"Throughput"): a ticket just created gets its note without being read again; the ledger still guards a
re-delivery, and when the ledger lost the note's key (a crash before the batch's ledger write), the ticket's tag
does: the note is never added twice.

The flow under prefect_test_harness, the sandbox (iAdvize + Zendesk) over a real socket.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete

from flows.conversation_archive import archive_conversations
from passerelle.store.effects import effect_details
from passerelle.store.engine import session_scope
from passerelle.store.inbox import store_deliveries
from passerelle.store.models import Effect
from sandbox.server import SandboxServer
from tasks.iadvize_zendesk.install import IadvizeZendeskInstall, install_block_name
from tests.support.iadvize_zendesk import (
    ESC,
    JANE,
    JANE_USER,
    NOMAIL,
    SITE,
    ZENDESK_ADMIN,
    ZENDESK_TOKEN,
    closed_delivery,
    graphql_token,
    load,
    ticket_of,
)


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        load(server.url)
        yield server


async def install(sandbox) -> None:
    await IadvizeZendeskInstall(
        site=SITE, zendesk_domain="https://acme.zendesk.com", zendesk_email=ZENDESK_ADMIN,
        zendesk_api_key=ZENDESK_TOKEN, iadvize_rest_api_key="unused-rest-key",
        iadvize_graphql_token=graphql_token(sandbox.vendor_url("iadvize")),
        zendesk_base_url=sandbox.vendor_url("zendesk"), iadvize_base_url=sandbox.vendor_url("iadvize"),
        auto_archive=True).save(install_block_name(SITE), overwrite=True)


def zendesk_calls(sandbox) -> list[str]:
    """The Zendesk calls answered since the last look, as ``METHOD /api/v2/...`` (ids as ``{id}``), then clears
    the log."""
    log = httpx.get(f"{sandbox.url}/_sandbox/zendesk/requests", timeout=30).json()["requests"]
    httpx.delete(f"{sandbox.url}/_sandbox/zendesk/requests", timeout=30).raise_for_status()
    rest = (r["path"].split("/zendesk", 1)[1] for r in log)
    return [f"{r['method']} " + "/".join("{id}" if p.isdigit() else p for p in path.split("/"))
            for r, path in zip(log, rest, strict=True)]


def private_notes(sandbox, cid: str) -> list[str]:
    ticket = ticket_of(sandbox.url, cid)
    state = httpx.get(f"{sandbox.url}/_sandbox/zendesk/state", timeout=30).json()
    return [c["body"] for c in next(t for t in state["tickets"] if t["id"] == ticket["id"])["comments"]
            if not c["public"]]


async def run() -> dict:
    return await archive_conversations(site=SITE, max_seconds=30)


async def test_a_new_ticket_gets_its_note_without_being_read_again(sandbox):
    await install(sandbox)
    zendesk_calls(sandbox)
    store_deliveries([closed_delivery(JANE), closed_delivery(NOMAIL)])
    report = await run()
    assert report["applied"] == 2 and report["notes_added"] == 2, report
    calls = zendesk_calls(sandbox)
    per_ticket = [c for c in calls if "/tickets" in c and "ticket_f" not in c]
    # Jane's e-mail is searched, the other visitor has none; then per conversation: the external_id lookup,
    # the create, the note: no GET /tickets/{id} between the create and the note
    assert sorted(per_ticket) == sorted(["GET /api/v2/tickets", "POST /api/v2/tickets", "PUT /api/v2/tickets/{id}"]
                                        * 2), calls
    assert calls.count("GET /api/v2/users/search") == 1
    for cid in (JANE, NOMAIL):
        ticket = ticket_of(sandbox.url, cid)
        assert "iadvize_note" in ticket["tags"] and len(private_notes(sandbox, cid)) == 1
        ledger = effect_details(f"iadvize-{SITE}:{cid}:")
        assert ledger[f"iadvize-{SITE}:{cid}:iadvize_note"] == str(ticket["id"])
        assert f"iadvize-{SITE}:{cid}:ticket" in ledger


async def test_a_redelivery_is_stopped_by_the_ledger_and_without_it_by_the_tag(sandbox):
    await install(sandbox)
    store_deliveries([closed_delivery(JANE)])
    await run()
    zendesk_calls(sandbox)

    store_deliveries([closed_delivery(JANE, event_id="second-delivery")])
    again = await run()
    assert again["skipped"] == {"already archived": 1}, again
    assert not [c for c in zendesk_calls(sandbox) if "/tickets" in c and "ticket_f" not in c]  # the ledger said so

    with session_scope() as s:  # as after a crash before the batch's ledger write: the note's key is missing
        s.execute(delete(Effect).where(Effect.key == f"iadvize-{SITE}:{JANE}:iadvize_note"))
    store_deliveries([closed_delivery(JANE, event_id="third-delivery")])
    third = await run()
    assert third["skipped"] == {"already archived": 1}, third
    calls = [c for c in zendesk_calls(sandbox) if "/tickets" in c and "ticket_f" not in c]
    assert calls == ["GET /api/v2/tickets/{id}"]  # the ticket's tag says the note is there: no PUT
    assert len(private_notes(sandbox, JANE)) == 1
    assert f"iadvize-{SITE}:{JANE}:iadvize_note" in effect_details(f"iadvize-{SITE}:{JANE}:")


async def test_a_visitors_conversations_in_one_batch_search_their_email_once(sandbox):
    await install(sandbox)
    zendesk_calls(sandbox)
    store_deliveries([closed_delivery(JANE), closed_delivery(ESC)])  # both are Jane's (jane@example.com)
    report = await run()
    assert report["applied"] == 2 and report["requesters_found"] == 2, report
    assert zendesk_calls(sandbox).count("GET /api/v2/users/search") == 1
    assert ticket_of(sandbox.url, JANE)["requester_id"] == ticket_of(sandbox.url, ESC)["requester_id"] == JANE_USER
