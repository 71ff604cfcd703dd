"""Slack incoming webhooks (API-NOTES §11, docs/connector-slack.md): `slack.send_message` through the registry
against the emulator over a real socket, and the exact requests against respx.

Facts pinned: POST of a JSON message to https://hooks.slack.com/services/T…/B…/…; 200 with the plain text `ok`;
errors as plain-text codes with their statuses (invalid_payload/no_text 400, invalid_token/action_prohibited 403,
no_service/channel_not_found 404, channel_is_archived 410); 429 with Retry-After; the URL is the secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError as InputError

from connectors._http import (
    ApiError,
    AuthError,
    NotFoundError,
    OutcomeUnknown,
    RateLimitedError,
    RetryPolicy,
    ValidationError,
)
from connectors.slack import SlackCredentials, SlackWebhookClient
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import Control

TOKEN = "SandboxSlackWebhookToken"
SANDBOX_HOOK = f"https://hooks.slack.com/services/T00000001/B00000001/{TOKEN}"
REAL_TOKEN = "xoxSecretWebhookToken42"
REAL_HOOK = f"https://hooks.slack.com/services/T0AB12CD/B0EF34GH/{REAL_TOKEN}"
FAST = RetryPolicy(max_attempts=3, max_total_wait=5.0, initial_wait=0.01, max_wait=0.02)


@pytest.fixture(scope="module")
def slack_sandbox() -> Iterator[Control]:
    from sandbox.app import create_app
    from sandbox.server import SandboxServer
    from sandbox.slack.app import build_slack

    with SandboxServer(app=create_app([build_slack()])) as server:
        control = Control(server)
        yield control
        control.http.close()


@pytest.fixture
def sb(slack_sandbox: Control) -> Control:
    slack_sandbox.reset()
    return slack_sandbox


def block(sb: Control | None = None, url: str = SANDBOX_HOOK) -> SlackCredentials:
    return SlackCredentials(webhook_url=url, base_url=f"{sb.server.url}/slack" if sb else None)


async def send(connection: SlackCredentials, **inputs: Any):
    spec = get_action("slack.send_message")
    return await spec.run(spec.input_model.model_validate(inputs), connection)


def received(sb: Control) -> list[dict[str, Any]]:
    return sb.http.get("/_sandbox/slack/messages").raise_for_status().json()["messages"]


# -- through the emulator -------------------------------------------------------------------------------

async def test_a_message_with_blocks_arrives_in_the_webhooks_channel(sb: Control) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "New client"}},
              {"type": "section", "text": {"type": "mrkdwn", "text": "*Léa Roy* signed up"}}]
    out = await send(block(sb), text="New client: Léa Roy", blocks=json.dumps(blocks))
    assert out.ok is True
    assert out.webhook == "/services/T00000001/B00000001/***"
    [message] = received(sb)
    assert (message["channel"], message["text"], message["blocks"]) == ("#general", "New client: Léa Roy", blocks)


async def test_an_apps_webhook_keeps_its_own_name_and_icon_a_legacy_one_takes_the_messages(sb: Control) -> None:
    sb.load("slack", {"channels": [{"name": "#general"}, {"name": "#ops"}], "webhooks": [
        {"team_id": "T1", "webhook_id": "B1", "token": "app", "channel": "#general", "username": "Passerelle"},
        {"team_id": "T1", "webhook_id": "B2", "token": "old", "channel": "#general", "kind": "legacy"}]})
    for url in ("https://hooks.slack.com/services/T1/B1/app", "https://hooks.slack.com/services/T1/B2/old"):
        await send(block(sb, url), text="hi", username="Robot", icon_emoji=":robot_face:")
    app, legacy = received(sb)
    assert (app["username"], app["icon_emoji"]) == ("Passerelle", None)
    assert (legacy["username"], legacy["icon_emoji"]) == ("Robot", ":robot_face:")


@pytest.mark.parametrize(("change", "error", "code"), [
    ({"token": "WrongToken"}, AuthError, "invalid_token"),
    ({"disabled": True}, AuthError, "no_service"),
    ({"prohibited": True}, AuthError, "action_prohibited"),
    ({"channel": "#deleted"}, NotFoundError, "channel_not_found"),
    ({"channel": "#old"}, NotFoundError, "channel_is_archived"),
])
async def test_a_webhook_that_cannot_post_fails_with_slacks_code_and_what_to_do(
        sb: Control, change: dict[str, Any], error: type[ApiError], code: str) -> None:
    hook = {"team_id": "T00000001", "webhook_id": "B00000001", "token": TOKEN, "channel": "#general", **change}
    sb.load("slack", {"webhooks": [hook], "channels": [{"name": "#general"}, {"name": "#old", "archived": True}]})
    connection = block(sb)
    connection._block_document_name = "sales"
    with pytest.raises(error) as info:
        await send(connection, text="hello")
    assert info.value.message == code
    assert info.value.hint and info.value.hint.endswith(".")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert received(sb) == []
    if code == "invalid_token":
        assert "'slack-incoming-webhook/sales'" in str(info.value)


async def test_a_block_kit_object_slack_refuses_is_invalid_blocks(sb: Control) -> None:
    with pytest.raises(ValidationError) as info:
        await send(block(sb), text="x", blocks=[{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}])
    assert (info.value.status, info.value.message) == (400, "invalid_blocks")


async def test_the_emulator_answers_ok_in_plain_text_and_refuses_what_slack_refuses(sb: Control) -> None:
    hook = f"/slack/services/T00000001/B00000001/{TOKEN}"
    ok = sb.http.post(hook, json={"text": "hi"})
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (200, "ok", "text/plain")
    form = sb.http.post(hook, data={"payload": json.dumps({"text": "from a form"})})
    assert form.text == "ok"
    bad = sb.http.post(hook, content=b"{not json", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.text) == (400, "invalid_payload")
    empty = sb.http.post(hook, json={"text": "  "})
    assert (empty.status_code, empty.text) == (400, "no_text")
    unknown = sb.http.post("/slack/services/T00000001/B99/abc", json={"text": "hi"})
    assert (unknown.status_code, unknown.text) == (404, "no_service")
    assert [m["text"] for m in received(sb)] == ["hi", "from a form"]


async def test_past_its_rate_the_webhook_answers_429_with_retry_after_and_the_client_waits_it(sb: Control) -> None:
    sb.load("slack", {"webhooks": [{"team_id": "T00000001", "webhook_id": "B00000001", "token": TOKEN,
                                    "channel": "#general"}], "channels": [{"name": "#general"}],
                      "rate_limit": {"per_second": 1, "burst": 1}})
    async with SlackWebhookClient(webhook_url=SANDBOX_HOOK, base_url=f"{sb.server.url}/slack",
                                  retry=RetryPolicy(max_attempts=1)) as once:
        assert await once.post_message({"text": "first"}) == "ok"
        with pytest.raises(RateLimitedError) as info:
            await once.post_message({"text": "too soon"})
    assert info.value.status == 429 and info.value.retry_after == 1
    async with SlackWebhookClient(webhook_url=SANDBOX_HOOK, base_url=f"{sb.server.url}/slack",
                                  retry=RetryPolicy(max_attempts=3, max_total_wait=5, initial_wait=0.01)) as patient:
        assert await patient.post_message({"text": "after waiting"}) == "ok"
    assert [m["text"] for m in received(sb)] == ["first", "after waiting"]
    statuses = [r["status"] for r in sb.requests("slack")]
    assert statuses.count(429) >= 1 and statuses.count(200) == 2


async def test_the_blocks_test_checks_the_webhook_without_posting(sb: Control) -> None:
    assert await block(sb).test() == "Slack knows the webhook /services/T00000001/B00000001/*** (checked without " \
                                     "posting)"
    with pytest.raises(AuthError, match="invalid_token"):
        await block(sb, SANDBOX_HOOK[:-1] + "x").test()
    assert received(sb) == []
    assert [r["status"] for r in sb.requests("slack")] == [400, 403]


def test_the_state_document_round_trips_and_bad_documents_are_refused(sb: Control) -> None:
    sb.http.post(f"/slack/services/T00000001/B00000001/{TOKEN}", json={"text": "kept"}).raise_for_status()
    dumped = sb.state("slack")
    sb.reset()
    assert sb.state("slack")["messages"] == []
    sb.load("slack", dumped)
    assert sb.state("slack") == dumped
    bad = sb.http.put("/_sandbox/slack/state", json={"webhooks": [{"team_id": "t1", "webhook_id": "B1",
                                                                   "token": "x", "channel": "#a"}]})
    assert bad.status_code == 422 and "team_id" in bad.json()["detail"]


# -- inputs and the credentials Block -------------------------------------------------------------------

@pytest.mark.parametrize(("inputs", "field", "words"), [
    ({}, "text", "give a text, or blocks"),
    ({"text": " ", "blocks": []}, "text", "give a text, or blocks"),
    ({"text": "x", "icon_emoji": "robot"}, "icon_emoji", "between colons"),
    ({"text": "x", "icon_emoji": ":a:", "icon_url": "https://x.org/i.png"}, "icon_url", "not both"),
    ({"blocks": [{"type": "divider"}] * 51}, "blocks", "at most 50"),
    ({"blocks": [{"text": "no type"}]}, "blocks", "block 0 has no type"),
    ({"blocks": "[{"}, "blocks", "not JSON"),
    ({"text": "x", "channel": "#other"}, "channel", "Extra inputs"),
])
def test_bad_inputs_are_refused_naming_the_field(inputs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        get_action("slack.send_message").input_model.model_validate(inputs)
    error = info.value.errors()[0]
    assert field in (".".join(map(str, error["loc"])) + " " + error["msg"])
    assert words in error["msg"]


@pytest.mark.parametrize(("url", "why"), [
    ("http://hooks.slack.com/services/T1/B1/abc", "starts with http://"),
    ("https://hooks.slack.com/workflows/T1/A1/123/abc", "Workflow Builder"),
    ("https://example.org/services/T1/B1/abc", "does not start with"),
    ("https://hooks.slack.com/services/T1/B1", "its path is not"),
])
def test_the_block_refuses_a_url_that_is_no_incoming_webhook_without_echoing_it(url: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        SlackCredentials(webhook_url=url)
    text = str(info.value)
    assert "webhook_url" in text and why in text and "https://hooks.slack.com/services/T…/B…/…" in text
    assert url not in text


def test_the_webhook_url_never_shows_in_the_blocks_or_clients_repr() -> None:
    creds = SlackCredentials(webhook_url=REAL_HOOK)
    client = creds.client()
    assert REAL_TOKEN not in repr(creds) and REAL_TOKEN not in repr(client) and REAL_TOKEN not in repr(client.api)
    assert get_action("slack.send_message").idempotent is False


# -- the exact requests ---------------------------------------------------------------------------------

@respx.mock(assert_all_called=True)
async def test_the_message_is_one_json_post_to_the_webhooks_url(respx_mock, caplog) -> None:
    route = respx_mock.post(REAL_HOOK).mock(return_value=httpx.Response(200, text="ok"))
    caplog.set_level(logging.DEBUG)
    out = await send(block(url=REAL_HOOK), text="Hello *team*", username="Robot", icon_url="https://x.org/r.png",
                     unfurl_links=False)
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"text": "Hello *team*", "username": "Robot",
                                           "icon_url": "https://x.org/r.png", "unfurl_links": False}
    assert "authorization" not in request.headers
    assert out.webhook == "/services/T0AB12CD/B0EF34GH/***"
    assert route.call_count == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "hooks.slack.com" in logged  # httpx logged the call...
    assert REAL_TOKEN not in logged  # ...with the token masked


@pytest.mark.parametrize(("status", "code", "error"), [
    (400, "invalid_payload", ValidationError), (400, "no_text", ValidationError),
    (403, "invalid_token", AuthError), (403, "action_prohibited", AuthError), (404, "no_service", AuthError),
    (404, "channel_not_found", NotFoundError), (410, "channel_is_archived", NotFoundError),
])
async def test_each_text_code_becomes_its_error_class(status: int, code: str, error: type[ApiError]) -> None:
    with respx.mock(assert_all_called=True) as respx_mock:
        route = respx_mock.post(REAL_HOOK).mock(return_value=httpx.Response(status, text=code))
        with pytest.raises(error) as info:
            await send(block(url=REAL_HOOK), text="x")
    assert type(info.value) is error and info.value.message == code and info.value.status == status
    assert "POST /services/T0AB12CD/B0EF34GH/***" in str(info.value)
    assert REAL_TOKEN not in str(info.value)
    assert route.call_count == 1  # a 4xx is never retried


@respx.mock(assert_all_called=True)
async def test_a_429_is_waited_then_sent_again_and_a_500_is_never_sent_twice(respx_mock) -> None:
    from tests.connectors.conftest import SleepRecorder

    route = respx_mock.post(REAL_HOOK).mock(side_effect=[
        httpx.Response(429, text="rate_limited", headers={"Retry-After": "2"}), httpx.Response(200, text="ok"),
        httpx.Response(500, text="rollup_error")])
    sleeps = SleepRecorder()
    async with SlackWebhookClient(webhook_url=REAL_HOOK, retry=FAST) as slack:
        slack.api._sleep = sleeps
        assert await slack.post_message({"text": "one"}) == "ok"
        assert sleeps.waits == [2.0]
        with pytest.raises(OutcomeUnknown) as info:
            await slack.post_message({"text": "two"})
    assert route.call_count == 3
    assert "rollup_error" in str(info.value) and "not re-sent" in str(info.value)


@respx.mock(assert_all_called=True)
async def test_a_connection_that_could_not_open_is_tried_again(respx_mock) -> None:
    route = respx_mock.post(REAL_HOOK).mock(side_effect=[httpx.ConnectError("refused"),
                                                         httpx.Response(200, text="ok")])
    async with SlackWebhookClient(webhook_url=REAL_HOOK, retry=FAST) as slack:
        assert await slack.post_message({"text": "x"}) == "ok"
    assert route.call_count == 2


@respx.mock(assert_all_called=True)
async def test_the_blocks_test_posts_an_empty_text_and_refuses_a_url_that_accepts_it(respx_mock) -> None:
    route = respx_mock.post(REAL_HOOK).mock(side_effect=[httpx.Response(400, text="no_text"),
                                                         httpx.Response(200, text="ok")])
    creds = block(url=REAL_HOOK)
    assert "checked without posting" in await creds.test()
    assert json.loads(route.calls[0].request.content) == {"text": ""}
    with pytest.raises(ApiError, match="an empty message was accepted"):
        await creds.test()


@pytest.mark.prefect
async def test_a_saved_webhook_loads_as_a_connection_and_posts(prefect_server, sb: Control) -> None:
    import uuid

    from connectors.registry import load_connection

    name = f"slack-{uuid.uuid4().hex[:8]}"
    await block(sb).save(name)
    loaded = await load_connection("slack", name)
    assert loaded.webhook_url.get_secret_value() == SANDBOX_HOOK
    assert loaded.block_ref == f"slack-incoming-webhook/{name}"
    assert (await send(loaded, text="from a saved block")).ok
    assert [m["text"] for m in received(sb)] == ["from a saved block"]
