"""ZendeskClient against the Zendesk emulator over a real socket (docs/sandbox-zendesk.md, API-NOTES §4)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from connectors._http import AuthError, OutcomeUnknown, RetryPolicy, ServerError, ValidationError
from connectors.zendesk import ZendeskClient, ZendeskCredentials
from tests.connectors.conftest import FAST_RETRY, Control

ADMIN = "admin@passerelle.dev"
TOKEN = "sandbox-zendesk-token"
AGENT_FIELD = 360001


def root(sb: Control) -> str:
    return f"{sb.server.url}/zendesk"


def client(sb: Control, **kwargs: Any) -> ZendeskClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return ZendeskClient(base_url=root(sb), email=ADMIN, api_token=TOKEN, **kwargs)


def auth(email: str = ADMIN, token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()}


def account(users: int = 0, fields: int = 0) -> dict[str, Any]:
    return {
        "users": [{"id": 1, "name": "Admin", "email": ADMIN, "role": "admin"},
                  *({"name": f"Visitor {i}", "email": f"v{i:03d}@example.org"} for i in range(users))],
        "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"},
                          {"id": 2, "type": "description", "title": "Description"},
                          {"id": AGENT_FIELD, "type": "text", "title": "iAdvize Agent"},
                          *({"type": "text", "title": f"Extra {i}"} for i in range(fields))],
        "ticket_forms": [{"id": 10, "name": "Default", "default": True, "ticket_field_ids": [1, 2]},
                         {"id": 20, "name": "Escalation", "ticket_field_ids": [1, 2, AGENT_FIELD]},
                         {"id": 30, "name": "Retired", "active": False, "ticket_field_ids": [1]}],
    }


def posts(sb: Control) -> list[dict[str, Any]]:
    return [r for r in sb.requests("zendesk") if r["method"] == "POST"]


async def test_the_blocks_test_call_accepts_the_admin_and_refuses_a_bad_token(sb: Control) -> None:
    good = ZendeskCredentials(domain="https://acme.zendesk.com", email=ADMIN, api_token=TOKEN, base_url=root(sb))
    assert await good.test() == f"Zendesk accepted the API token of {ADMIN} (admin)"
    bad = ZendeskCredentials(domain="https://acme.zendesk.com", email=ADMIN, api_token="nope", base_url=root(sb))
    bad._block_document_name = "support"
    with pytest.raises(AuthError) as info:
        await bad.test()
    assert "(401 on GET /api/v2/users/me): Couldn't authenticate you." in str(info.value)
    assert "'zendesk-credentials/support'" in str(info.value)
    assert [r["status"] for r in sb.requests("zendesk")] == [200, 401]


def test_end_users_and_other_schemes_are_not_authenticated(sb: Control) -> None:
    sb.load("zendesk", account(users=1))
    me = f"{root(sb)}/api/v2/users/me.json"
    assert httpx.get(me, headers=auth()).json()["user"]["role"] == "admin"
    for headers in (auth("v000@example.org"), {"Authorization": f"Bearer {TOKEN}"}, {},
                    {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{TOKEN}".encode()).decode()}):
        answer = httpx.get(me, headers=headers)
        assert (answer.status_code, answer.json()) == (401, {"error": "Couldn't authenticate you"})


async def test_create_ticket_with_a_requester_then_find_it_by_external_id(sb: Control) -> None:
    sb.load("zendesk", account(users=3))
    ticket = {"subject": "Conversation 42", "status": "solved", "external_id": "conv-42", "ticket_form_id": 20,
              "comment": {"body": "Visitor: hello", "public": True},
              "requester": {"name": "Léa Roy", "email": "Lea@Example.org"},
              "custom_fields": [{"id": AGENT_FIELD, "value": "Ana Silva"}, {"id": 999999, "value": "ignored"}]}
    async with client(sb) as zendesk:
        created = await zendesk.create_ticket(ticket)
        again = await zendesk.create_ticket({**ticket, "external_id": "conv-43"})
        found = await zendesk.tickets_by_external_id("conv-42")
        lea = await zendesk.find_user_by_email("lea@example.org")
        shown = await zendesk.get_ticket(created["id"])
        assert await zendesk.get_ticket(9999) is None
    assert [t["id"] for t in found] == [created["id"]]
    assert lea is not None and lea["role"] == "end-user" and lea["name"] == "Léa Roy"
    assert created["requester_id"] == again["requester_id"] == lea["id"]  # created once, then matched
    assert created["submitter_id"] == 1 and shown["status"] == "solved" and shown["ticket_form_id"] == 20
    assert shown["custom_fields"] == [{"id": AGENT_FIELD, "value": "Ana Silva"}]  # unknown ids are ignored
    comments = httpx.get(f"{root(sb)}/api/v2/tickets/{created['id']}/comments.json", headers=auth()).json()
    assert [(c["body"], c["public"], c["author_id"]) for c in comments["comments"]] == [
        ("Visitor: hello", True, lea["id"])]


@pytest.mark.parametrize(("ticket", "field", "error"), [
    ({"subject": "x"}, "description", "BlankValue"),
    ({"comment": {"body": "x"}, "ticket_form_id": 99}, "ticket_form_id", "InvalidValue"),
    ({"comment": {"body": "x"}, "ticket_form_id": 30}, "ticket_form_id", "InvalidValue"),  # inactive form
    ({"comment": {"body": "x"}, "requester_id": 404}, "requester_id", "InvalidValue"),
    ({"comment": {"body": "x"}, "requester": {"name": "No mail"}}, "requester", "BlankValue"),
    ({"comment": {"body": "x"}, "status": "done"}, "status", "InvalidValue"),
])
def test_bad_tickets_get_record_invalid(sb: Control, ticket: dict, field: str, error: str) -> None:
    sb.load("zendesk", account())
    answer = httpx.post(f"{root(sb)}/api/v2/tickets.json", json={"ticket": ticket}, headers=auth())
    assert answer.status_code == 422
    body = answer.json()
    assert (body["error"], body["description"]) == ("RecordInvalid", "Record validation errors")
    assert [d["error"] for d in body["details"][field]] == [error]
    assert sb.state("zendesk")["tickets"] == []


async def test_the_connector_reads_422_details_by_field(sb: Control) -> None:
    sb.load("zendesk", account())
    async with client(sb) as zendesk:
        with pytest.raises(ValidationError) as info:
            await zendesk.create_ticket({"comment": {"body": "x"}, "ticket_form_id": 99})
    assert info.value.errors == {"ticket_form_id": ["Ticket form 99 is invalid"]}


async def test_offset_and_cursor_pages_are_read_to_the_end(sb: Control) -> None:
    sb.load("zendesk", account(users=230, fields=120))
    async with client(sb) as zendesk:
        everyone = await zendesk.search_users("example.org")
        one = await zendesk.find_user_by_email("V229@example.org")
        fields = await zendesk.ticket_fields()
        forms = await zendesk.ticket_forms()
        active = await zendesk.ticket_forms(active=True)
    assert len(everyone) == 230 and one is not None and one["email"] == "v229@example.org"
    assert len(fields) == 123 and {"id": AGENT_FIELD, "title": "iAdvize Agent"}.items() <= next(
        f for f in fields if f["id"] == AGENT_FIELD).items()
    assert [f["name"] for f in forms] == ["Default", "Escalation", "Retired"]
    assert [f["name"] for f in active] == ["Default", "Escalation"]
    log = sb.requests("zendesk")
    search = [r["query"] for r in log if r["path"] == "/zendesk/api/v2/users/search"]
    pages = [httpx.QueryParams(q).get("page") for q in search]
    assert pages == [None, "2", "3", None]  # 230 users: 3 pages of 100; the e-mail: one page
    assert len([r for r in log if r["path"] == "/zendesk/api/v2/ticket_fields"]) == 2  # 123 fields, 100 a page


def test_cursor_pages_have_zendesks_shape(sb: Control) -> None:
    sb.load("zendesk", account(fields=2))
    first = httpx.get(f"{root(sb)}/api/v2/ticket_fields", params={"page[size]": 3}, headers=auth()).json()
    assert first["meta"]["has_more"] is True and first["links"]["next"]
    second = httpx.get(first["links"]["next"], headers=auth()).json()
    assert [f["id"] for f in first["ticket_fields"] + second["ticket_fields"]] == [1, 2, AGENT_FIELD,
                                                                                   AGENT_FIELD + 1, AGENT_FIELD + 2]
    assert second["meta"] == {"has_more": False, "after_cursor": second["meta"]["after_cursor"],
                              "before_cursor": second["meta"]["before_cursor"]}
    assert second["links"]["next"] is None
    back = httpx.get(second["links"]["prev"], headers=auth()).json()
    assert [f["id"] for f in back["ticket_fields"]] == [1, 2, AGENT_FIELD]
    too_big = httpx.get(f"{root(sb)}/api/v2/ticket_fields", params={"page[size]": 101}, headers=auth())
    assert too_big.status_code == 400 and too_big.json()["error"] == "InvalidPaginationParameter"


async def test_rate_limit_answers_429_with_headers_and_the_client_waits(sb: Control) -> None:
    sb.http.put("/_sandbox/zendesk/rate-limit", json={"per_minute": 3, "window_seconds": 1}).raise_for_status()
    me = f"{root(sb)}/api/v2/users/me"
    answers = [httpx.get(me, headers=auth()) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].headers["X-Rate-Limit"] == "3" and answers[3].headers["Retry-After"] == "1"
    assert answers[3].headers["content-type"].startswith("text/plain")
    time.sleep(1.05)
    async with client(sb, retry=RetryPolicy(max_attempts=5, max_total_wait=10, initial_wait=0.01)) as zendesk:
        for _ in range(5):
            await zendesk.me()
    statuses = [r["status"] for r in sb.requests("zendesk")][4:]
    assert statuses.count(200) == 5 and 429 in statuses
    assert sb.http.get("/_sandbox/zendesk/rate-limit").json()["per_minute"] == 3
    assert sb.http.put("/_sandbox/zendesk/rate-limit", json={"per_minute": 0}).status_code == 422


async def test_a_create_that_times_out_is_sent_once(sb: Control) -> None:
    sb.load("zendesk", account())
    sb.faults("zendesk", timeout_rate=1.0, timeout_s=0.4)
    async with client(sb, timeout=0.1) as zendesk:
        with pytest.raises(OutcomeUnknown):
            await zendesk.create_ticket({"comment": {"body": "x"}, "external_id": "conv-1"})
    time.sleep(0.6)  # the emulator logs the call when its (late) answer leaves
    assert len(posts(sb)) == 1


async def test_a_lost_answer_leaves_one_ticket_the_lookup_finds(sb: Control) -> None:
    sb.load("zendesk", account())
    sb.faults("zendesk", lost_answer_rate=1.0)
    async with client(sb) as zendesk:
        with pytest.raises(OutcomeUnknown):
            await zendesk.create_ticket({"comment": {"body": "x"}, "external_id": "conv-7"})
        found = await zendesk.tickets_by_external_id("conv-7")
    assert len(posts(sb)) == 1 and len(found) == 1


async def test_an_idempotency_key_makes_resends_return_the_first_ticket(sb: Control) -> None:
    sb.load("zendesk", account())
    sb.faults("zendesk", lost_answer_rate=1.0)
    ticket = {"comment": {"body": "x"}, "external_id": "conv-8"}
    async with client(sb, retry=RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.02)) as zendesk:
        with pytest.raises(ServerError):  # every answer lost: re-sent, then given up
            await zendesk.create_ticket(ticket, idempotency_key="run-1:conv-8")
    assert len(posts(sb)) == 3 and len(sb.state("zendesk")["tickets"]) == 1
    sb.faults("zendesk")
    url, headers = f"{root(sb)}/api/v2/tickets", {**auth(), "Idempotency-Key": "run-1:conv-8"}
    hit = httpx.post(url, json={"ticket": ticket}, headers=headers)
    assert (hit.status_code, hit.headers["x-idempotency-lookup"], hit.json()["ticket"]["id"]) == (201, "hit", 1)
    other = httpx.post(url, json={"ticket": {**ticket, "subject": "changed"}}, headers=headers)
    assert (other.status_code, other.json()["error"]) == (400, "IdempotentRequestError")


def test_state_round_trips_and_bad_documents_are_named(sb: Control) -> None:
    sb.load("zendesk", account(users=2))
    httpx.post(f"{root(sb)}/api/v2/tickets", json={"ticket": {"comment": {"body": "x", "public": False}}},
               headers=auth()).raise_for_status()
    dumped = sb.state("zendesk")
    sb.load("zendesk", dumped)
    assert sb.state("zendesk") == dumped
    assert dumped["tickets"][0]["comments"][0]["public"] is False
    for bad, words in (({"users": [{"emial": "x@y.org"}]}, "unknown user keys"),
                       ({"ticket_forms": [{"name": "F", "ticket_field_ids": [77]}]}, "existing ticket fields"),
                       ({"account": {"rate_limit_per_minute": -1}}, "rate_limit_per_minute")):
        answer = sb.http.put("/_sandbox/zendesk/state", json=bad)
        assert answer.status_code == 422 and words in answer.json()["detail"]


async def test_a_ticket_is_created_against_the_default_account_after_a_reset(sb: Control) -> None:
    """The default state's system ticket fields go through the same parsing as loaded ones (they once lacked their
    `system` flag, and every create answered 500)."""
    sb.reset()
    async with client(sb) as zendesk:
        created = await zendesk.create_ticket({"subject": "Hello", "comment": {"body": "First words"}})
    assert created["id"] >= 1 and created["subject"] == "Hello"
