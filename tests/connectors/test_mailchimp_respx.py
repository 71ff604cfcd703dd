"""MailchimpClient against respx: host from the key's data center, Basic auth, what is retried (both calls are
idempotent: a lost answer is re-sent), and Mailchimp's problem documents read into the kit's errors. Every route
is asserted called."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import respx

from connectors._http import AuthError, RetryPolicy, ValidationError
from connectors.mailchimp import MailchimpClient, subscriber_hash
from tests.connectors.conftest import SleepRecorder

KEY = "0123456789abcdef0123456789abcdef-us19"
BASE = "https://us19.api.mailchimp.com/3.0"
LIST = "8e3b1f0c2a"
MEMBER = f"{BASE}/lists/{LIST}/members/{subscriber_hash('lea@example.org')}"


def client(sleeps: SleepRecorder | None = None, **kwargs) -> MailchimpClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    mailchimp = MailchimpClient(api_key=KEY, **kwargs)
    if sleeps is not None:
        mailchimp.api._sleep = sleeps
    return mailchimp


def problem(status: int, title: str, detail: str, **extra) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "application/problem+json"}, content=json.dumps(
        {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title, "status": status,
         "detail": detail, "instance": "0b9f", **extra}).encode())


@respx.mock(assert_all_called=True)
async def test_the_host_is_the_keys_data_center_and_auth_is_basic_with_the_key(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/ping").mock(return_value=httpx.Response(200, json={
        "health_status": "Everything's Chimpy!"}))
    async with client() as mailchimp:
        assert mailchimp.base_url == BASE
        await mailchimp.ping()
    scheme, _, encoded = route.calls[0].request.headers["Authorization"].partition(" ")
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic" and user and password == KEY


@respx.mock(assert_all_called=True)
async def test_upsert_sends_put_by_hash_with_status_if_new_and_merge_fields(respx_mock) -> None:
    route = respx_mock.put(MEMBER).mock(return_value=httpx.Response(200, json={"id": "x", "status": "pending"}))
    async with client() as mailchimp:
        await mailchimp.upsert_member(LIST, "Lea@Example.org", status_if_new="pending",
                                      merge_fields={"FNAME": "Léa"}, vip=True)
    assert json.loads(route.calls[0].request.content) == {
        "email_address": "Lea@Example.org", "status_if_new": "pending", "merge_fields": {"FNAME": "Léa"}, "vip": True}


@respx.mock(assert_all_called=True)
async def test_a_lost_upsert_answer_is_sent_again_because_a_put_by_key_is_idempotent(respx_mock) -> None:
    route = respx_mock.put(MEMBER).mock(side_effect=[httpx.Response(502), httpx.ReadTimeout("lost"),
                                                     httpx.Response(200, json={"id": "x", "status": "subscribed"})])
    async with client() as mailchimp:
        assert (await mailchimp.upsert_member(LIST, "lea@example.org"))["status"] == "subscribed"
    assert route.call_count == 3


@respx.mock(assert_all_called=True)
async def test_tags_are_posted_as_an_idempotent_call_and_re_sent_after_a_lost_answer(respx_mock) -> None:
    route = respx_mock.post(f"{MEMBER}/tags").mock(side_effect=[httpx.Response(504), httpx.Response(204)])
    async with client() as mailchimp:
        await mailchimp.update_member_tags(LIST, "lea@example.org", active=["okast"], inactive=["trial"],
                                           is_syncing=True)
    assert route.call_count == 2
    assert json.loads(route.calls[1].request.content) == {
        "tags": [{"name": "okast", "status": "active"}, {"name": "trial", "status": "inactive"}], "is_syncing": True}


@respx.mock(assert_all_called=True)
async def test_429_is_waited_out_then_retried(respx_mock) -> None:
    sleeps = SleepRecorder()
    route = respx_mock.put(MEMBER).mock(side_effect=[
        problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."),
        httpx.Response(200, json={"id": "x", "status": "subscribed"})])
    async with client(sleeps) as mailchimp:
        await mailchimp.upsert_member(LIST, "lea@example.org")
    assert route.call_count == 2 and len(sleeps.waits) == 1


@respx.mock(assert_all_called=True)
async def test_field_errors_of_a_problem_document_are_named(respx_mock) -> None:
    respx_mock.put(MEMBER).mock(return_value=problem(
        400, "Invalid Resource", "The resource submitted could not be validated. For field-specific details, see "
        "the 'errors' array.", errors=[{"field": "merge_fields.FNAME", "message": "Data did not match any of the "
                                        "schemas described in anyOf."}, {"field": "", "message": "Required fields "
                                                                         "were not provided: status_if_new"}]))
    async with client() as mailchimp:
        with pytest.raises(ValidationError) as info:
            await mailchimp.upsert_member(LIST, "lea@example.org")
    assert info.value.errors == {"merge_fields.FNAME": "Data did not match any of the schemas described in anyOf.",
                                 "body": "Required fields were not provided: status_if_new"}
    assert str(info.value).startswith("Mailchimp rejected the request as invalid (400 on PUT /lists/8e3b1f0c2a/"
                                      "members/") and "Invalid Resource: The resource submitted" in str(info.value)


@respx.mock(assert_all_called=True)
async def test_a_refused_key_is_an_auth_error_never_retried_and_never_shown(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/ping").mock(return_value=problem(
        401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter."))
    async with client(auth_hint="Check the API key in the 'mailchimp-credentials/news' block.") as mailchimp:
        with pytest.raises(AuthError) as info:
            await mailchimp.ping()
    assert route.call_count == 1 and KEY not in str(info.value) and KEY not in repr(mailchimp.api._http.auth)
    assert "'mailchimp-credentials/news'" in str(info.value)


async def test_the_client_refuses_what_mailchimp_would_before_sending() -> None:
    with pytest.raises(ValueError, match="10 simultaneous connections"):
        MailchimpClient(api_key=KEY, max_concurrency=11)
    with respx.mock(assert_all_called=True) as mock:  # no route: nothing may be sent
        async with client() as mailchimp:
            with pytest.raises(ValueError, match="status_if_new must be one of subscribed"):
                await mailchimp.upsert_member(LIST, "lea@example.org", status_if_new="active")
            with pytest.raises(ValueError, match="list_id must be a Mailchimp audience id"):
                await mailchimp.get_member("a/b", "lea@example.org")
            with pytest.raises(ValueError, match="tags both active and inactive: okast"):
                await mailchimp.update_member_tags(LIST, "lea@example.org", active=["okast"], inactive=["okast"])
        assert not mock.calls
