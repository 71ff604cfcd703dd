"""ZendeskClient against respx: method, URL, query, headers and body of each call; every route must be called.

Facts pinned (../shared/specs/API-NOTES.md §4): Basic auth in the `{email}/token:{api_token}` form; cursor
pages (`page[size]` ≤ 100, `meta.has_more`, `links.next`), offset pages for `users/search` (`next_page`);
429 + `Retry-After` waited then retried; create ticket → 201 `{"ticket"}`, never re-sent after a lost answer
without an idempotency key; 401/403/422 in Zendesk's error shapes become the kit's classified errors.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import respx

from connectors._http import AuthError, OutcomeUnknown, RetryPolicy, ValidationError
from connectors.zendesk import ZendeskClient, ZendeskCredentials, zendesk_domain
from tests.connectors.conftest import SleepRecorder

BASE = "https://acme.zendesk.com"
EMAIL = "admin@acme.com"
TOKEN = "zd-SECRET-token"
TICKET = {"subject": "Chat", "comment": {"body": "transcript", "public": True}, "external_id": "conv-1"}


def zendesk(sleep: SleepRecorder | None = None, **kwargs) -> ZendeskClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    client = ZendeskClient(domain=BASE, email=EMAIL, api_token=TOKEN, **kwargs)
    if sleep is not None:
        client.api._sleep = sleep
    return client


@respx.mock(assert_all_called=True)
async def test_basic_auth_is_email_slash_token(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/api/v2/users/me").mock(
        return_value=httpx.Response(200, json={"user": {"id": 7, "email": EMAIL, "role": "admin"}}))
    async with zendesk() as client:
        assert (await client.me())["id"] == 7
    expected = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    assert route.calls[0].request.headers["Authorization"] == f"Basic {expected}"


@respx.mock(assert_all_called=True)
async def test_ticket_fields_follow_cursor_pages_to_the_end(respx_mock) -> None:
    second = f"{BASE}/api/v2/ticket_fields.json?page%5Bsize%5D=100&page%5Bafter%5D=xyz"
    first = respx_mock.get(f"{BASE}/api/v2/ticket_fields", params__eq={"page[size]": "100"}).mock(
        return_value=httpx.Response(200, json={
            "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"}],
            "meta": {"has_more": True, "after_cursor": "xyz", "before_cursor": "abc"},
            "links": {"next": second, "prev": None}}))
    last = respx_mock.get(second).mock(return_value=httpx.Response(200, json={
        "ticket_fields": [{"id": 360, "type": "text", "title": "iAdvize Agent"}],
        "meta": {"has_more": False, "after_cursor": "zzz", "before_cursor": "yyy"},
        "links": {"next": f"{BASE}/api/v2/ticket_fields.json?page%5Bafter%5D=zzz", "prev": None}}))
    async with zendesk() as client:
        fields = await client.ticket_fields()
    assert [f["title"] for f in fields] == ["Subject", "iAdvize Agent"]  # has_more false ends it
    assert (first.call_count, last.call_count) == (1, 1)


@respx.mock(assert_all_called=True)
async def test_user_search_follows_offset_next_page_and_keeps_exact_email(respx_mock) -> None:
    page2 = f"{BASE}/api/v2/users/search.json?page=2&per_page=100&query=email%3Alea%40example.org"
    first = respx_mock.get(f"{BASE}/api/v2/users/search",
                           params__eq={"query": "email:lea@example.org", "per_page": "100"}).mock(
        return_value=httpx.Response(200, json={"users": [{"id": 9, "email": "lea@example.org.au"}],
                                               "next_page": page2, "previous_page": None, "count": 2}))
    second = respx_mock.get(page2).mock(return_value=httpx.Response(200, json={
        "users": [{"id": 4, "email": "Lea@Example.org"}], "next_page": None, "previous_page": "x", "count": 2}))
    async with zendesk() as client:
        user = await client.find_user_by_email("Lea@example.org")
    assert user == {"id": 4, "email": "Lea@Example.org"}
    assert (first.call_count, second.call_count) == (1, 1)


@respx.mock(assert_all_called=True)
async def test_429_waits_retry_after_then_succeeds(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/api/v2/tickets", params__eq={"external_id": "conv-1"}).mock(side_effect=[
        httpx.Response(429, text="Number of allowed API requests per minute exceeded",
                       headers={"Retry-After": "7", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"}),
        httpx.Response(200, json={"tickets": [{"id": 5, "external_id": "conv-1"}], "next_page": None,
                                  "previous_page": None, "count": 1})])
    sleeps = SleepRecorder()
    async with zendesk(sleeps, retry=RetryPolicy(max_attempts=3, max_total_wait=30)) as client:
        tickets = await client.tickets_by_external_id("conv-1")
    assert [t["id"] for t in tickets] == [5]
    assert route.call_count == 2 and len(sleeps.waits) == 1 and sleeps.waits[0] >= 7


@respx.mock(assert_all_called=True)
async def test_create_ticket_posts_the_ticket_envelope(respx_mock) -> None:
    route = respx_mock.post(f"{BASE}/api/v2/tickets").mock(return_value=httpx.Response(
        201, json={"ticket": {"id": 35436, "status": "solved", "external_id": "conv-1"}}))
    async with zendesk() as client:
        ticket = await client.create_ticket({**TICKET, "status": "solved"})
    assert ticket["id"] == 35436
    request = route.calls[0].request
    assert json.loads(request.content) == {"ticket": {**TICKET, "status": "solved"}}
    assert "Idempotency-Key" not in request.headers


@respx.mock(assert_all_called=True)
async def test_a_create_whose_answer_is_lost_is_not_resent(respx_mock) -> None:
    route = respx_mock.post(f"{BASE}/api/v2/tickets").mock(side_effect=httpx.ReadTimeout("read timed out"))
    async with zendesk() as client:
        with pytest.raises(OutcomeUnknown) as info:
            await client.create_ticket(TICKET)
    assert route.call_count == 1
    assert str(info.value).startswith("Zendesk left the outcome unknown (POST /api/v2/tickets): no answer arrived")
    assert str(info.value).endswith("It was not re-sent: check in Zendesk whether it took effect before trying "
                                    "again.")


@respx.mock(assert_all_called=True)
async def test_a_create_with_an_idempotency_key_is_resent_with_the_same_key(respx_mock) -> None:
    route = respx_mock.post(f"{BASE}/api/v2/tickets").mock(side_effect=[
        httpx.ReadTimeout("read timed out"),
        httpx.Response(201, json={"ticket": {"id": 3}}, headers={"x-idempotency-lookup": "hit"})])
    async with zendesk() as client:
        assert (await client.create_ticket(TICKET, idempotency_key="run-1:archive"))["id"] == 3
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["run-1:archive"] * 2


@respx.mock(assert_all_called=True)
async def test_401_names_the_block_and_never_the_token(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/api/v2/ticket_forms").mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"}))
    creds = ZendeskCredentials(domain=BASE, email=EMAIL, api_token=TOKEN)
    creds._block_document_name = "support"
    async with creds.client() as client:
        with pytest.raises(AuthError) as info:
            await client.ticket_forms()
    assert route.call_count == 1  # a 401 is never retried
    assert str(info.value) == ("Zendesk rejected the e-mail and API token (401 on GET /api/v2/ticket_forms): "
                               "Couldn't authenticate you. Check the e-mail and API token in the "
                               "'zendesk-credentials/support' block.")
    assert TOKEN not in repr(info.value) + repr(creds) + repr(client)


@respx.mock(assert_all_called=True)
async def test_403_and_422_are_classified_with_zendesk_details(respx_mock) -> None:
    respx_mock.get(f"{BASE}/api/v2/ticket_fields").mock(return_value=httpx.Response(403, json={
        "error": {"title": "Forbidden", "message": "You do not have access to this page."}}))
    respx_mock.post(f"{BASE}/api/v2/tickets").mock(return_value=httpx.Response(422, json={
        "error": "RecordInvalid", "description": "Record validation errors",
        "details": {"ticket_form_id": [{"description": "Ticket form 9 is invalid", "error": "InvalidValue"}]}}))
    async with zendesk() as client:
        with pytest.raises(AuthError) as forbidden:
            await client.ticket_fields()
        with pytest.raises(ValidationError) as invalid:
            await client.create_ticket({**TICKET, "ticket_form_id": 9})
    assert "refused access with this e-mail and API token (403 on GET /api/v2/ticket_fields): Forbidden: You " \
           "do not have access to this page." in str(forbidden.value)
    assert invalid.value.errors == {"ticket_form_id": ["Ticket form 9 is invalid"]}
    assert "ticket_form_id: Ticket form 9 is invalid." in str(invalid.value)


@pytest.mark.parametrize(("ticket", "field"), [
    ({"subject": "no comment"}, "ticket.comment"),
    ({"comment": {"public": False}}, "ticket.comment"),
    ({**TICKET, "status": "done"}, "ticket.status"),
    ({**TICKET, "requester": {"name": "Léa", "email": "not-an-email"}}, "ticket.requester.email"),
    ({**TICKET, "requester": {"email": "a@b.org"}, "requester_id": 4}, "ticket.requester_id"),
    ({**TICKET, "custom_fields": [{"id": "360", "value": "x"}]}, "ticket.custom_fields[0]"),
])
async def test_bad_tickets_are_refused_before_sending(ticket: dict, field: str) -> None:
    async with zendesk(transport=httpx.MockTransport(lambda r: pytest.fail("sent"))) as client:
        with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
            await client.create_ticket(ticket)


@pytest.mark.parametrize(("domain", "canonical"), [
    ("https://acme.zendesk.com", "https://acme.zendesk.com"),
    ("https://ACME.zendesk.com/", "https://acme.zendesk.com"),
    (" https://a-1.zendesk.com ", "https://a-1.zendesk.com"),
])
def test_domains_of_the_required_form_are_accepted(domain: str, canonical: str) -> None:
    assert ZendeskCredentials(domain=domain, email=EMAIL, api_token=TOKEN).domain == canonical


@pytest.mark.parametrize("domain", [
    "http://acme.zendesk.com", "https://acme.zendesk.com/api/v2", "https://acme.zendesk.com.evil.io",
    "https://acme.freshdesk.com", "acme.zendesk.com", "https://zendesk.com", "https://-acme.zendesk.com",
    "https://acme.zendesk.com:8443", "",
])
def test_any_other_domain_is_refused_saying_the_form(domain: str) -> None:
    with pytest.raises(ValueError, match=r"must be of the form https://<subdomain>\.zendesk\.com"):
        ZendeskCredentials(domain=domain, email=EMAIL, api_token=TOKEN)


def test_a_bare_subdomain_gets_the_url_suggested() -> None:
    with pytest.raises(ValueError, match=r"did you mean https://acme\.zendesk\.com\?"):
        zendesk_domain("acme")
