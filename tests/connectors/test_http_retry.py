"""Retry policy: Retry-After parsing, backoff bounds, and the client's retries (respx, fake sleep)."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from connectors._http import (
    ApiClient,
    AuthError,
    BearerTokenAuth,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
    parse_retry_after,
)

BASE = "https://api.example.test"
TOKEN = "tok-SECRET-123"


# -- Retry-After -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("2", 2.0), ("0.5", 0.5), (" 3 ", 3.0), ("0", 0.0), ("-4", 0.0), (None, None), ("", None),
    ("soon", None), ("nan", None),
])
def test_parse_retry_after_seconds(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=0) > 0


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(initial_wait=0.5, max_wait=4.0)
    random.seed(1)
    for attempt in range(1, 10):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        draws = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # spread over the whole range, not a fixed delay


# -- client retries ---------------------------------------------------------------------------------
def client(sleeps, **kwargs) -> ApiClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=6, max_total_wait=60, initial_wait=0.5, max_wait=10))
    return ApiClient(BASE, vendor="Example", auth=BearerTokenAuth(TOKEN), credential="API token",
                     auth_hint="Check the token.", sleep=sleeps, **kwargs)


@respx.mock(assert_all_called=True)
async def test_429_honours_retry_after_then_succeeds(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(side_effect=[
        httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"ok": True}),
    ])
    async with client(sleeps) as api:
        assert await api.get_json("/items") == {"ok": True}
        assert route.call_count == 2
        assert len(sleeps.waits) == 1 and sleeps.waits[0] >= 7
        assert api.stats.retries == 1 and api.stats.calls == 2
        assert api.stats.by_status == {429: 1, 200: 1}


@respx.mock(assert_all_called=True)
async def test_retry_after_http_date_is_honoured(respx_mock, sleeps) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    respx_mock.get(f"{BASE}/items").mock(side_effect=[
        httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json=[]),
    ])
    async with client(sleeps) as api:
        assert await api.get_json("/items") == []
    assert 18 <= sleeps.waits[0] <= 21


@respx.mock(assert_all_called=True)
async def test_retry_after_beyond_budget_gives_up_at_once(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(
        return_value=httpx.Response(429, json={"message": "quota"}, headers={"Retry-After": "3600"}))
    async with client(sleeps) as api:
        with pytest.raises(RateLimitedError) as info:
            await api.get_json("/items")
    assert route.call_count == 1 and sleeps.waits == []
    assert info.value.retry_after == 3600 and info.value.attempts == 1
    assert "retry budget" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@respx.mock(assert_all_called=True)
async def test_5xx_retried_then_succeeds(respx_mock, sleeps, status) -> None:
    """An idempotent call (PUT) is re-sent after a 5xx; a POST is not (tests/connectors/test_effects_once.py)."""
    route = respx_mock.put(f"{BASE}/items/1").mock(side_effect=[
        httpx.Response(status), httpx.Response(status), httpx.Response(200, json={"id": 1}),
    ])
    async with client(sleeps) as api:
        assert await api.put_json("/items/1", {"a": 1}) == {"id": 1}
    assert route.call_count == 3 and len(sleeps.waits) == 2
    assert all(route.calls[i].request.content == b'{"a":1}' for i in range(3))


@respx.mock(assert_all_called=True)
async def test_5xx_exhausts_attempts_and_total_wait_is_capped(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(return_value=httpx.Response(503, json={"message": "down"}))
    policy = RetryPolicy(max_attempts=20, max_total_wait=3.0, initial_wait=1.0, max_wait=2.0)
    async with client(sleeps, retry=policy) as api:
        with pytest.raises(ServerError) as info:
            await api.get_json("/items")
    assert sum(sleeps.waits) <= 3.0 + 1e-9
    assert info.value.attempts == route.call_count == len(sleeps.waits) + 1
    expected = f"Example kept failing after {route.call_count} attempts (503 on GET /items)"
    assert str(info.value).startswith(expected)


@respx.mock(assert_all_called=True)
async def test_max_attempts_is_respected(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(return_value=httpx.Response(429))
    async with client(sleeps) as api:
        with pytest.raises(RateLimitedError):
            await api.get_json("/items")
    assert route.call_count == 6 and len(sleeps.waits) == 5
    assert api.stats.retries == 5


@pytest.mark.parametrize(("status", "cls"), [(401, AuthError), (403, AuthError), (404, NotFoundError),
                                             (400, ValidationError), (422, ValidationError)])
@respx.mock(assert_all_called=True)
async def test_other_4xx_fail_fast(respx_mock, sleeps, status, cls) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(return_value=httpx.Response(status, json={"message": "no"}))
    async with client(sleeps) as api:
        with pytest.raises(cls) as info:
            await api.get_json("/items")
    assert route.call_count == 1 and sleeps.waits == []
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


@respx.mock(assert_all_called=True)
async def test_connection_errors_and_timeouts_are_retried(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/items").mock(side_effect=[
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json={"n": 1}),
    ])
    async with client(sleeps) as api:
        assert await api.get_json("/items") == {"n": 1}
        assert api.stats.transport_errors == 2 and api.stats.retries == 2
    assert route.call_count == 3


@respx.mock(assert_all_called=True)
async def test_transport_error_after_retries(respx_mock, sleeps) -> None:
    respx_mock.get(f"{BASE}/items").mock(side_effect=httpx.ConnectError("connection refused"))
    async with client(sleeps, retry=RetryPolicy(max_attempts=3)) as api:
        with pytest.raises(TransportError) as info:
            await api.get_json("/items")
    assert info.value.attempts == 3 and info.value.status is None
    assert str(info.value) == ("Example could not be reached after 3 attempts (GET /items): ConnectError: "
                               f"connection refused. Check the base URL ({BASE}) and the network.")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@respx.mock(assert_all_called=True)
async def test_retry_logs_carry_no_secret(respx_mock, sleeps, caplog) -> None:
    respx_mock.get(f"{BASE}/items").mock(side_effect=[httpx.Response(503), httpx.Response(200, json={})])
    caplog.set_level(logging.DEBUG)
    async with client(sleeps) as api:
        await api.get_json("/items", {"q": "x"})
    assert "Example GET /items failed (503); retry 1" in caplog.text
    assert TOKEN not in caplog.text


@respx.mock(assert_all_called=True)
async def test_bearer_token_is_sent(respx_mock, sleeps) -> None:
    route = respx_mock.get(f"{BASE}/ping").mock(return_value=httpx.Response(200, json={"ping": "pong"}))
    async with client(sleeps) as api:
        await api.get_json("/ping")
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(BearerTokenAuth(TOKEN))


@respx.mock(assert_all_called=True)
async def test_rate_limit_spaces_out_calls(respx_mock, sleeps) -> None:
    import time

    respx_mock.get(f"{BASE}/ping").mock(return_value=httpx.Response(200, json={}))
    async with client(sleeps, rate_limit=20) as api:
        started = time.monotonic()
        for _ in range(30):  # a burst of 20, then 20 per second
            await api.get_json("/ping")
        elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0


def test_rate_limit_below_one_per_second_is_accepted(sleeps) -> None:
    api = client(sleeps, rate_limit=0.5)
    assert api._limiter is not None and api._limiter.max_rate == 1 and api._limiter.time_period == 2
