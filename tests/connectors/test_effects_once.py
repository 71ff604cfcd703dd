"""Effects that must not happen twice (DESIGN.md; docs/connectors.md): a call that is not safe to repeat is
re-sent only when it surely did not reach the vendor, or when it is marked idempotent or carries an
idempotency key; otherwise it fails with OutcomeUnknown after one send.

Part one: the rule, over respx (every mocked route asserted called). Part two: the Cyberimpact client against
the sandbox's faults over a real socket, counting the sandbox's request log.
"""

from __future__ import annotations

import time

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    BearerTokenAuth,
    NotFoundError,
    OAuth2TokenAuth,
    OutcomeUnknown,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from connectors.cyberimpact import CyberimpactClient
from tests.connectors.conftest import CYBER_TOKEN, Control

BASE = "https://api.example.test"
TOKEN = "tok-SECRET-123"
RETRY = RetryPolicy(max_attempts=4, max_total_wait=30, initial_wait=0.5, max_wait=2)


def client(sleeps, **kwargs) -> ApiClient:
    kwargs.setdefault("auth", BearerTokenAuth(TOKEN))
    return ApiClient(BASE, vendor="Example", retry=RETRY, sleep=sleeps, **kwargs)


# -- the rule, over respx ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lost", [httpx.ReadTimeout("timed out"), httpx.ReadError("connection reset"),
                                  httpx.RemoteProtocolError("server disconnected"),
                                  httpx.Response(500), httpx.Response(502), httpx.Response(504),
                                  httpx.Response(503)])
@respx.mock(assert_all_called=True)
async def test_a_post_whose_answer_is_lost_is_sent_once_and_left_unknown(respx_mock, sleeps, lost) -> None:
    route = respx_mock.post(f"{BASE}/tickets").mock(side_effect=[lost, httpx.Response(201, json={"id": 2})])
    async with client(sleeps) as api:
        with pytest.raises(OutcomeUnknown) as info:
            await api.post_json("/tickets", {"subject": "Hi"}, params={"token": "q-SECRET"})
    assert route.call_count == 1 and sleeps.waits == [] and api.stats.retries == 0
    text = str(info.value)
    assert text.startswith("Example left the outcome unknown (")
    assert "POST /tickets)" in text and "not re-sent: check in Example whether it took effect" in text
    assert "q-SECRET" not in text and TOKEN not in text and info.value.attempts == 1


@pytest.mark.parametrize("refused", [
    httpx.ConnectError("connection refused"), httpx.ConnectTimeout("connect timed out"),
    httpx.PoolTimeout("no free connection"),
    httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "1"}),
    httpx.Response(503, headers={"Retry-After": "2"})])
@respx.mock(assert_all_called=True)
async def test_a_post_that_surely_did_not_reach_the_vendor_is_retried(respx_mock, sleeps, refused) -> None:
    route = respx_mock.post(f"{BASE}/tickets").mock(side_effect=[refused, httpx.Response(201, json={"id": 2})])
    async with client(sleeps) as api:
        assert await api.post_json("/tickets", {"subject": "Hi"}) == {"id": 2}
    assert route.call_count == 2 and len(sleeps.waits) == 1


@respx.mock(assert_all_called=True)
async def test_throttled_then_lost_is_unknown_after_two_sends(respx_mock, sleeps) -> None:
    route = respx_mock.post(f"{BASE}/tickets").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.ReadTimeout("timed out"),
        httpx.Response(201, json={"id": 2})])
    async with client(sleeps) as api:
        with pytest.raises(OutcomeUnknown) as info:
            await api.post_json("/tickets", {})
    assert route.call_count == 2 and info.value.attempts == 2 and info.value.status is None


@respx.mock(assert_all_called=True)
async def test_a_post_that_never_reached_the_vendor_fails_as_unreachable_not_unknown(respx_mock, sleeps) -> None:
    route = respx_mock.post(f"{BASE}/tickets").mock(side_effect=httpx.ConnectError("connection refused"))
    async with client(sleeps) as api:
        with pytest.raises(TransportError) as info:
            await api.post_json("/tickets", {})
    assert route.call_count == RETRY.max_attempts and not isinstance(info.value, OutcomeUnknown)


@respx.mock(assert_all_called=True)
async def test_a_post_throttled_past_its_budget_is_rate_limited_not_unknown(respx_mock, sleeps) -> None:
    respx_mock.post(f"{BASE}/tickets").mock(return_value=httpx.Response(429, headers={"Retry-After": "0"}))
    async with client(sleeps) as api:
        with pytest.raises(RateLimitedError):
            await api.post_json("/tickets", {})


@pytest.mark.parametrize(("status", "cls"), [(400, ValidationError), (404, NotFoundError),
                                             (422, ValidationError), (501, ServerError)])
@respx.mock(assert_all_called=True)
async def test_a_post_the_vendor_refused_keeps_its_class(respx_mock, sleeps, status, cls) -> None:
    route = respx_mock.post(f"{BASE}/tickets").mock(return_value=httpx.Response(status, json={"message": "no"}))
    async with client(sleeps) as api:
        with pytest.raises(cls) as info:
            await api.post_json("/tickets", {})
    assert not isinstance(info.value, OutcomeUnknown) and route.call_count == 1


@pytest.mark.parametrize("lost", [httpx.ReadTimeout("timed out"), httpx.Response(502)])
@respx.mock(assert_all_called=True)
async def test_a_post_marked_idempotent_is_retried_after_a_lost_answer(respx_mock, sleeps, lost) -> None:
    route = respx_mock.post(f"{BASE}/members").mock(side_effect=[lost, httpx.Response(200, json={"ok": 1})])
    async with client(sleeps) as api:
        assert await api.post_json("/members", {"email": "a@example.org"}, idempotent=True) == {"ok": 1}
    assert route.call_count == 2


@respx.mock(assert_all_called=True)
async def test_an_idempotency_key_is_sent_on_every_attempt_and_allows_the_retry(respx_mock, sleeps) -> None:
    route = respx_mock.post(f"{BASE}/messages").mock(side_effect=[
        httpx.ReadTimeout("timed out"), httpx.Response(201, json={"sid": "SM1"})])
    async with client(sleeps, idempotency_header="Idempotency-Key") as api:
        assert await api.post_json("/messages", {"to": "+1"}, idempotency_key="run-7:sms") == {"sid": "SM1"}
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["run-7:sms", "run-7:sms"]


async def test_an_idempotency_key_for_a_vendor_without_one_is_refused_before_sending(sleeps) -> None:
    async with client(sleeps) as api:
        with pytest.raises(ValueError, match="Example takes no idempotency key"):
            await api.post_json("/messages", {}, idempotency_key="run-7:sms")


@respx.mock(assert_all_called=True)
async def test_patch_is_unknown_and_put_and_delete_are_retried(respx_mock, sleeps) -> None:
    patch = respx_mock.patch(f"{BASE}/items/1").mock(side_effect=[httpx.ReadTimeout("t"), httpx.Response(200)])
    put = respx_mock.put(f"{BASE}/items/1").mock(side_effect=[httpx.ReadTimeout("t"), httpx.Response(200)])
    delete = respx_mock.delete(f"{BASE}/items/1").mock(side_effect=[httpx.Response(504), httpx.Response(204)])
    async with client(sleeps) as api:
        with pytest.raises(OutcomeUnknown):
            await api.patch_json("/items/1", {"a": 1})
        await api.put_json("/items/1", {"a": 1})
        await api.delete("/items/1")
    assert (patch.call_count, put.call_count, delete.call_count) == (1, 2, 2)


@respx.mock(assert_all_called=True)
async def test_a_delete_marked_not_idempotent_is_not_retried(respx_mock, sleeps) -> None:
    route = respx_mock.delete(f"{BASE}/credits/1/one").mock(side_effect=[httpx.Response(500), httpx.Response(204)])
    async with client(sleeps) as api:
        with pytest.raises(OutcomeUnknown):
            await api.delete("/credits/1/one", idempotent=False)
    assert route.call_count == 1


@respx.mock(assert_all_called=True)
async def test_a_lost_token_exchange_before_a_post_is_retried(respx_mock, sleeps) -> None:
    """The auth flow's own request failing says nothing about the POST, which was never sent."""
    token = respx_mock.post(f"{BASE}/oauth2/token").mock(side_effect=[
        httpx.ReadTimeout("timed out"), httpx.Response(502),
        httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})])
    create = respx_mock.post(f"{BASE}/tickets").mock(return_value=httpx.Response(201, json={"id": 3}))
    auth = OAuth2TokenAuth.password(f"{BASE}/oauth2/token", "me", SecretStr("pw"), vendor="Example")
    async with client(sleeps, auth=auth) as api:
        assert await api.post_json("/tickets", {}) == {"id": 3}
    assert token.call_count == 3 and create.call_count == 1


@respx.mock(assert_all_called=True)
async def test_get_is_retried_after_a_lost_answer(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(side_effect=[
        httpx.ReadTimeout("t"), httpx.Response(500), httpx.Response(200, json=[])])
    async with client(sleeps) as api:
        assert await api.get_json("/items") == []
    assert route.call_count == 3


@respx.mock(assert_all_called=True)
async def test_an_idempotent_call_that_keeps_failing_is_a_server_error(respx_mock, sleeps) -> None:
    respx_mock.put(f"{BASE}/items/1").mock(return_value=httpx.Response(502))
    async with client(sleeps) as api:
        with pytest.raises(ServerError):
            await api.put_json("/items/1", {})


# -- the Cyberimpact client against the sandbox's faults (real socket) ------------------------------------
QUICK = httpx.Timeout(0.3, connect=5.0)  # answers hang 1.5 s under the timeout fault: the read times out


def cyberimpact(sb: Control, **kwargs) -> CyberimpactClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=4, max_total_wait=5, initial_wait=0.01, max_wait=0.05))
    return CyberimpactClient(api_token=CYBER_TOKEN, base_url=sb.server.cyberimpact_url, timeout=QUICK, **kwargs)


def logged(sb: Control, method: str, path: str, at_least: int, settle: float = 0.0) -> list[dict]:
    """The sandbox's log of `method path` once it holds `at_least` calls (a hung call is logged when it
    answers), then after `settle` more seconds, so that a call sent late would be counted too."""
    deadline = time.monotonic() + 10
    while True:
        calls = [r for r in sb.requests("cyberimpact") if (r["method"], r["path"]) == (method, path)]
        if len(calls) >= at_least or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if settle:
        time.sleep(settle)
        calls = [r for r in sb.requests("cyberimpact") if (r["method"], r["path"]) == (method, path)]
    return calls


async def test_sandbox_a_group_creation_that_times_out_is_sent_exactly_once(sb: Control) -> None:
    sb.faults("cyberimpact", timeout_rate=1.0, timeout_s=1.5)
    async with cyberimpact(sb) as cyber:
        with pytest.raises(OutcomeUnknown) as info:
            await cyber.create_static_group("Arts \\ Danse")
    assert "(POST /groups)" in str(info.value) and "not re-sent: check in Cyberimpact" in str(info.value)
    assert CYBER_TOKEN not in str(info.value)
    assert [r["status"] for r in logged(sb, "POST", "/cyberimpact/groups", 1, settle=1.8)] == [504]


async def test_sandbox_a_custom_field_creation_answered_5xx_is_sent_exactly_once(sb: Control) -> None:
    sb.faults("cyberimpact", error_rate=1.0)
    async with cyberimpact(sb) as cyber:
        with pytest.raises(OutcomeUnknown):
            await cyber.create_custom_field("Amilia.PersonId", "integer")
    calls = logged(sb, "POST", "/cyberimpact/customfields", 1, settle=0.3)
    assert len(calls) == 1 and calls[0]["status"] in (500, 502, 503)


async def test_sandbox_a_throttled_group_creation_is_retried_and_made_once(sb: Control) -> None:
    sb.faults("cyberimpact", rate_429=0.5, retry_after=0.05, seed=1)  # the 1st draw throttles, the 2nd not
    async with cyberimpact(sb) as cyber:
        group = await cyber.create_static_group("Arts \\ Danse")
    sb.faults("cyberimpact")
    assert [r["status"] for r in logged(sb, "POST", "/cyberimpact/groups", 2)] == [429, 201]
    assert [g["title"] for g in sb.state("cyberimpact")["groups"]] == ["Arts \\ Danse"]
    assert group["title"] == "Arts \\ Danse"


async def test_sandbox_a_batch_submission_is_idempotent_and_retried_after_a_timeout(sb: Control) -> None:
    sb.faults("cyberimpact", timeout_rate=0.5, timeout_s=1.5, seed=1)  # the 1st call hangs, the 2nd not
    async with cyberimpact(sb) as cyber:
        batch_id = await cyber.submit_batch({"batchType": "addMembers", "relationType": "active-clients",
                                             "groups": [], "members": [{"email": "lea@example.org"}]})
    sb.faults("cyberimpact")
    calls = logged(sb, "POST", "/cyberimpact/batches", 2)
    assert sorted(r["status"] for r in calls) == [201, 504] and batch_id >= 1
    assert [m["email"] for m in sb.state("cyberimpact")["members"]] == ["lea@example.org"]


async def test_sandbox_adding_a_member_to_groups_is_retried_after_a_timeout(sb: Control) -> None:
    sb.load("cyberimpact", {"groups": [{"id": 3, "title": "A"}], "members": [{"email": "lea@example.org"}]})
    sb.faults("cyberimpact", timeout_rate=0.5, timeout_s=1.5, seed=1)
    async with cyberimpact(sb) as cyber:
        await cyber.add_member_groups("lea@example.org", [3])
    sb.faults("cyberimpact")
    assert len(logged(sb, "POST", "/cyberimpact/members/lea@example.org/groups", 2)) == 2
    assert sb.state("cyberimpact")["members"][0]["groups"] == [3]


async def test_sandbox_a_get_is_retried_after_a_timeout(sb: Control) -> None:
    sb.faults("cyberimpact", timeout_rate=0.5, timeout_s=1.5, seed=1)
    async with cyberimpact(sb) as cyber:
        assert await cyber.ping() == {"ping": "pong"}
    assert sorted(r["status"] for r in logged(sb, "GET", "/cyberimpact/ping", 2)) == [200, 504]


async def test_sandbox_an_email_change_is_not_replayed(sb: Control) -> None:
    """A PATCH is idempotent unless it changes the member's key (its e-mail)."""
    sb.load("cyberimpact", {"members": [{"email": "lea@example.org"}]})
    sb.faults("cyberimpact", timeout_rate=1.0, timeout_s=1.5)
    async with cyberimpact(sb) as cyber:
        with pytest.raises(OutcomeUnknown):
            await cyber.patch_member("lea@example.org", {"email": "lea.roy@example.org"})
        with pytest.raises(TransportError) as info:  # a plain edit is re-sent until the budget is spent
            await cyber.patch_member("lea@example.org", {"note": "VIP"})
    assert not isinstance(info.value, OutcomeUnknown) and info.value.attempts > 1
    assert len(logged(sb, "PATCH", "/cyberimpact/members/lea@example.org", 1 + info.value.attempts,
                      settle=1.8)) == 1 + info.value.attempts


async def test_sandbox_a_validation_error_on_create_stays_a_validation_error(sb: Control) -> None:
    """The vendor refused it (title taken): not unknown, and callers can look the title up."""
    sb.load("cyberimpact", {"groups": [{"id": 3, "title": "A"}]})
    async with cyberimpact(sb) as cyber:
        with pytest.raises(ValidationError, match="already been taken"):
            await cyber.create_static_group("A")
