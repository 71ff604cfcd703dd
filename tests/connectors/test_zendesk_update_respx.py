"""ZendeskClient.update_ticket (PUT /api/v2/tickets/{id}): the body sent, the ticket returned, and the rule that
an update adding a comment is never re-sent after a lost answer (respx; every route asserted called)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from connectors._http import OutcomeUnknown, RetryPolicy, ValidationError
from connectors.zendesk import ZendeskClient

BASE = "https://acme.zendesk.com"
NOTE = {"status": "open", "ticket_form_id": 20, "comment": {"body": "Agent's note: refund", "public": False},
        "tags": ["iadvize", "iadvize_escalation"], "custom_fields": [{"id": 360001, "value": "Ana Roy"}]}


def zendesk() -> ZendeskClient:
    return ZendeskClient(domain=BASE, email="admin@acme.com", api_token="zd-SECRET-token",
                         retry=RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))


@respx.mock(assert_all_called=True)
async def test_update_sends_the_ticket_wrapped_and_returns_it(respx_mock) -> None:
    route = respx_mock.put(f"{BASE}/api/v2/tickets/81").mock(return_value=httpx.Response(
        200, json={"ticket": {"id": 81, "status": "open", "ticket_form_id": 20}, "audit": {"id": 5}}))
    async with zendesk() as client:
        ticket = await client.update_ticket(81, NOTE)
    assert ticket == {"id": 81, "status": "open", "ticket_form_id": 20}
    assert json.loads(route.calls.last.request.content) == {"ticket": NOTE}


@respx.mock(assert_all_called=True)
async def test_an_update_whose_answer_is_lost_is_not_sent_again(respx_mock) -> None:
    route = respx_mock.put(f"{BASE}/api/v2/tickets/81").mock(return_value=httpx.Response(504, text="Gateway Timeout"))
    async with zendesk() as client:
        with pytest.raises(OutcomeUnknown):
            await client.update_ticket(81, NOTE)
    assert route.call_count == 1


@respx.mock(assert_all_called=True)
async def test_a_refused_update_names_the_field(respx_mock) -> None:
    respx_mock.put(f"{BASE}/api/v2/tickets/81").mock(return_value=httpx.Response(422, json={
        "error": "RecordInvalid", "description": "Record validation errors",
        "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}))
    async with zendesk() as client:
        with pytest.raises(ValidationError) as caught:
            await client.update_ticket(81, {"status": "open"})
    assert "closed prevents ticket update" in str(caught.value.errors)


@pytest.mark.parametrize(("ticket_id", "ticket", "message"), [
    (0, {"status": "open"}, "ticket_id"), (True, {"status": "open"}, "ticket_id"), (81, {}, "non-empty"),
    (81, {"comment": {"public": False}}, "'body'")])
async def test_bad_arguments_are_refused_before_sending(ticket_id, ticket, message) -> None:
    async with zendesk() as client:
        with pytest.raises(ValueError, match=message):
            await client.update_ticket(ticket_id, ticket)
