"""`zendesk.create_ticket` through the registry against the Zendesk emulator over a real socket
(docs/zap-actions-vendors.md; API-NOTES §4: create → 201 {"ticket"}, requester {name, email} creates the end user,
comment.public false is an internal note, external_id is neither unique nor enforced on tickets)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError as InputError

from connectors._http import ApiError, AuthError, OutcomeUnknown
from connectors.zendesk import ZendeskCredentials
from connectors.zendesk.zap import idempotency_key
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import Control

ADMIN, TOKEN = "admin@passerelle.dev", "sandbox-zendesk-token"
AGENT_FIELD, COUNTRY_FIELD = 360001, 360002


@pytest.fixture(scope="module")
def zendesk_sandbox() -> Iterator[Control]:
    from sandbox.app import create_app
    from sandbox.server import SandboxServer
    from sandbox.zendesk.app import build_zendesk

    with SandboxServer(app=create_app([build_zendesk()])) as server:
        control = Control(server)
        yield control
        control.http.close()


@pytest.fixture
def sb(zendesk_sandbox: Control) -> Control:
    zendesk_sandbox.reset()
    zendesk_sandbox.load("zendesk", {
        "users": [{"id": 1, "name": "Admin", "email": ADMIN, "role": "admin"},
                  {"id": 2, "name": "Known Customer", "email": "known@example.org"}],
        "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"},
                          {"id": 2, "type": "description", "title": "Description"},
                          {"id": AGENT_FIELD, "type": "text", "title": "Agent"},
                          {"id": COUNTRY_FIELD, "type": "text", "title": "Country"}],
        "ticket_forms": [{"id": 10, "name": "Default", "default": True,
                          "ticket_field_ids": [1, 2, AGENT_FIELD, COUNTRY_FIELD]}]})
    return zendesk_sandbox


def block(sb: Control) -> ZendeskCredentials:
    return ZendeskCredentials(domain="https://acme.zendesk.com", email=ADMIN, api_token=TOKEN,
                              base_url=f"{sb.server.url}/zendesk")


def inputs(**values: Any):
    return get_action("zendesk.create_ticket").input_model.model_validate(values)


async def create(sb: Control, **values: Any):
    return await get_action("zendesk.create_ticket").run(inputs(**values), block(sb))


def tickets(sb: Control) -> list[dict[str, Any]]:
    return sb.state("zendesk")["tickets"]


def posts(sb: Control) -> list[dict[str, Any]]:
    return [r for r in sb.requests("zendesk") if r["method"] == "POST"]


async def test_a_ticket_is_created_with_every_field_the_step_gives(sb: Control) -> None:
    out = await create(sb, subject="Password reset", comment_body="Lea asked for a new password.",
                       comment_public=False, requester_email="Lea@Example.org", requester_name="Léa Roy",
                       priority="HIGH", type="question", tags="okast, password-reset",
                       custom_fields={str(AGENT_FIELD): "Bot", COUNTRY_FIELD: "CA"})
    [ticket] = tickets(sb)
    assert out.created is True and out.id == ticket["id"]
    assert (ticket["subject"], ticket["priority"], ticket["type"]) == ("Password reset", "high", "question")
    assert ticket["tags"] == ["okast", "password-reset"]
    assert {c["id"]: c["value"] for c in ticket["custom_fields"]} == {AGENT_FIELD: "Bot", COUNTRY_FIELD: "CA"}
    [comment] = ticket["comments"]
    assert (comment["body"], comment["public"]) == ("Lea asked for a new password.", False)  # an internal note
    requester = next(u for u in sb.state("zendesk")["users"] if u["id"] == ticket["requester_id"])
    assert (requester["email"], requester["name"], requester["role"]) == ("lea@example.org", "Léa Roy", "end-user")
    assert out.requester_id == requester["id"] and out.external_id is None


async def test_an_html_comment_and_a_known_requester(sb: Control) -> None:
    out = await create(sb, comment_body="<p>Hello <b>there</b></p>", comment_html=True,
                       requester_email="known@example.org")
    [ticket] = tickets(sb)
    assert ticket["comments"][0]["html_body"] == "<p>Hello <b>there</b></p>"
    assert ticket["comments"][0]["public"] is True
    assert out.requester_id == 2 and len(sb.state("zendesk")["users"]) == 2  # no second user


async def test_without_an_external_id_each_call_creates_a_ticket_and_it_is_not_idempotent(sb: Control) -> None:
    spec = get_action("zendesk.create_ticket")
    assert spec.is_idempotent(inputs(comment_body="x")) is False
    first, second = await create(sb, comment_body="x"), await create(sb, comment_body="x")
    assert first.id != second.id and len(tickets(sb)) == 2


async def test_with_an_external_id_the_existing_ticket_is_returned_not_duplicated(sb: Control) -> None:
    spec = get_action("zendesk.create_ticket")
    assert spec.is_idempotent(inputs(comment_body="x", external_id="okast-77")) is True
    first = await create(sb, comment_body="Reset", external_id="okast-77")
    again = await create(sb, comment_body="Reset", external_id="okast-77")
    assert (first.created, again.created, again.id) == (True, False, first.id)
    assert len(tickets(sb)) == 1 and tickets(sb)[0]["external_id"] == "okast-77"
    looked_up = [r for r in sb.requests("zendesk") if r["method"] == "GET" and r["path"] == "/zendesk/api/v2/tickets"]
    assert [r["query"] for r in looked_up] == ["external_id=okast-77"] * 2
    assert len(posts(sb)) == 1


async def test_of_several_tickets_holding_the_external_id_the_oldest_is_returned(sb: Control) -> None:
    for body in ("first", "second"):
        sb.http.post("/zendesk/api/v2/tickets", auth=(f"{ADMIN}/token", TOKEN),
                     json={"ticket": {"comment": {"body": body}, "external_id": "dup"}}).raise_for_status()
    out = await create(sb, comment_body="third", external_id="dup")
    assert (out.created, out.id) == (False, min(t["id"] for t in tickets(sb)))
    assert len(tickets(sb)) == 2


async def test_a_lost_answer_without_external_id_is_unknown_and_not_sent_again(sb: Control) -> None:
    sb.faults("zendesk", lost_answer_rate=1.0, lost_answer_methods=["POST"])
    with pytest.raises(OutcomeUnknown) as info:
        await create(sb, comment_body="maybe twice?")
    assert "not re-sent" in str(info.value)
    assert len(posts(sb)) == 1 and len(tickets(sb)) == 1  # Zendesk did create it: a re-send would duplicate it


def _seed_losing_only_the_first_answer() -> int:
    """A fault seed whose first lost-answer draw (p = 0.5) loses the answer and whose second does not."""
    return next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())


async def test_a_lost_answer_with_external_id_is_sent_again_with_its_key_and_zendesk_dedupes(sb: Control) -> None:
    sb.faults("zendesk", lost_answer_rate=0.5, lost_answer_methods=["POST"], seed=_seed_losing_only_the_first_answer())
    out = await create(sb, comment_body="exactly once", external_id="conv-9")
    assert [r["status"] for r in posts(sb)] == [504, 201]
    assert len(tickets(sb)) == 1 and out.id == tickets(sb)[0]["id"] and out.created is True
    assert idempotency_key("conv-9") == idempotency_key("conv-9") != idempotency_key("conv-10")


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"comment_body": " "}, "comment_body", "the first comment is empty"),
    ({"comment_body": "x", "requester_name": "Léa"}, "requester_email", "give the requester's e-mail"),
    ({"comment_body": "x", "requester_email": "lea@"}, "requester_email", "must be an e-mail address"),
    ({"comment_body": "x", "tags": ["two words"]}, "tags", "holds a space"),
    ({"comment_body": "x", "priority": "asap"}, "priority", "'urgent', 'high', 'normal' or 'low'"),
    ({"comment_body": "x", "custom_fields": {"0": "v"}}, "custom_fields", "not a ticket field id"),
    ({"comment_body": "x", "custom_fields": {"agent": "v"}}, "custom_fields", "valid integer"),
    ({"comment_body": "x", "status": "solved"}, "status", "Extra inputs"),
])
def test_bad_inputs_are_refused_naming_the_field(values: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        inputs(**values)
    error = info.value.errors()[0]
    assert field in (".".join(map(str, error["loc"])) + " " + error["msg"]) and words in error["msg"]


async def test_refused_credentials_and_a_missing_connection_are_named_and_create_nothing(sb: Control) -> None:
    with pytest.raises(ApiError, match="needs a Zendesk connection"):
        await get_action("zendesk.create_ticket").run(inputs(comment_body="x"), None)
    bad = ZendeskCredentials(domain="https://acme.zendesk.com", email=ADMIN, api_token="wrong",
                             base_url=f"{sb.server.url}/zendesk")
    with pytest.raises(AuthError, match="Couldn't authenticate you"):
        await get_action("zendesk.create_ticket").run(inputs(comment_body="x", external_id="e1"), bad)
    assert tickets(sb) == []
