"""Auth strategies of the kit over respx: the header or form each vendor documents, tokens cached until they
expire, one new exchange on a 401, and no secret in any repr or error."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    ApiKeyHeaderAuth,
    AuthError,
    BasicAuth,
    OAuth2TokenAuth,
    RetryPolicy,
)

BASE = "https://api.example.test"
TOKEN_URL = f"{BASE}/oauth2/token"
SECRET = "pw-SECRET-42"
FAST = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001)


def api(auth: httpx.Auth) -> ApiClient:
    return ApiClient(BASE, vendor="Example", auth=auth, retry=FAST, credential="username and password",
                     auth_hint="Check the 'example-credentials/x' block.")


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def token(value: str, expires_in: float | None = 3600) -> httpx.Response:
    body = {"access_token": value, "token_type": "bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return httpx.Response(200, json=body)


@respx.mock(assert_all_called=True)
async def test_zendesk_api_token_is_basic_email_slash_token(respx_mock) -> None:
    """Zendesk: `{email}/token:{api_token}`, base64 in an HTTP Basic header (API-NOTES §4)."""
    route = respx_mock.get(f"{BASE}/api/v2/users/me").mock(return_value=httpx.Response(200, json={}))
    auth = BasicAuth.zendesk_api_token("agent@example.org", SecretStr(SECRET))
    async with api(auth) as client:
        await client.get_json("/api/v2/users/me")
    expected = base64.b64encode(f"agent@example.org/token:{SECRET}".encode()).decode()
    assert route.calls.last.request.headers["Authorization"] == f"Basic {expected}"
    assert SECRET not in repr(auth)


@respx.mock(assert_all_called=True)
async def test_api_key_header(respx_mock) -> None:
    """noCRM: the admin API key in `X-API-KEY` (API-NOTES §5)."""
    route = respx_mock.get(f"{BASE}/api/v2/ping", headers={"X-API-KEY": SECRET}).mock(
        return_value=httpx.Response(200, json={"status": 200}))
    auth = ApiKeyHeaderAuth("X-API-KEY", SecretStr(SECRET))
    async with api(auth) as client:
        await client.get_json("/api/v2/ping")
    assert "Authorization" not in route.calls.last.request.headers and SECRET not in repr(auth)


@respx.mock(assert_all_called=True)
async def test_oauth2_password_grant_is_exchanged_once_for_concurrent_calls(respx_mock) -> None:
    """iAdvize: POST /oauth2/token form `username, password, grant_type=password` → bearer (API-NOTES §3)."""
    exchange = respx_mock.post(TOKEN_URL).mock(return_value=token("at-1"))
    data = respx_mock.get(f"{BASE}/_authenticated", headers={"Authorization": "Bearer at-1"}).mock(
        return_value=httpx.Response(200, json={"authenticated": True}))
    auth = OAuth2TokenAuth.password(TOKEN_URL, "me@example.org", SecretStr(SECRET), vendor="Example")
    async with api(auth) as client:
        await asyncio.gather(*(client.get_json("/_authenticated") for _ in range(5)))
    assert exchange.call_count == 1 and data.call_count == 5 and auth.exchanges == 1
    sent = exchange.calls.last.request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(sent) == {"grant_type": "password", "username": "me@example.org", "password": SECRET}
    assert SECRET not in repr(auth)


@respx.mock(assert_all_called=True)
async def test_oauth2_client_credentials_authenticate_the_client_with_basic(respx_mock) -> None:
    exchange = respx_mock.post(TOKEN_URL).mock(return_value=token("at-1"))
    respx_mock.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json=[]))
    auth = OAuth2TokenAuth.client_credentials(TOKEN_URL, "client-1", SecretStr(SECRET), vendor="Example",
                                              scope="read")
    async with api(auth) as client:
        await client.get_json("/things")
    sent = exchange.calls.last.request
    assert form(sent) == {"grant_type": "client_credentials", "scope": "read"}
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()


@respx.mock(assert_all_called=True)
async def test_an_expired_token_is_exchanged_again_before_the_call(respx_mock, monkeypatch) -> None:
    exchange = respx_mock.post(TOKEN_URL).mock(side_effect=[token("at-1", 100), token("at-2", 100)])
    data = respx_mock.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json=[]))
    auth = OAuth2TokenAuth.password(TOKEN_URL, "me", SecretStr(SECRET), vendor="Example")
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    async with api(auth) as client:
        await client.get_json("/things")
        monkeypatch.setattr(time, "monotonic", lambda: now + 49)  # renewed at half its life at the latest
        await client.get_json("/things")
        monkeypatch.setattr(time, "monotonic", lambda: now + 51)
        await client.get_json("/things")
    assert exchange.call_count == 2
    assert [c.request.headers["Authorization"] for c in data.calls] == [
        "Bearer at-1", "Bearer at-1", "Bearer at-2"]


@respx.mock(assert_all_called=True)
async def test_a_refused_token_is_exchanged_once_then_the_401_is_an_auth_error(respx_mock) -> None:
    exchange = respx_mock.post(TOKEN_URL).mock(side_effect=[token("at-1"), token("at-2")])
    data = respx_mock.get(f"{BASE}/things").mock(return_value=httpx.Response(
        401, json={"error": "invalid_token", "error_description": "access token not valid"}))
    auth = OAuth2TokenAuth.password(TOKEN_URL, "me", SecretStr(SECRET), vendor="Example")
    async with api(auth) as client:
        with pytest.raises(AuthError) as info:
            await client.get_json("/things")
    assert exchange.call_count == 2 and data.call_count == 2
    assert str(info.value) == ("Example rejected the username and password (401 on GET /things): access token "
                               "not valid. Check the 'example-credentials/x' block.")


@respx.mock(assert_all_called=True)
async def test_a_refused_exchange_is_an_auth_error_naming_the_token_path(respx_mock) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(
        401, json={"error": "invalid_grant", "error_description": "Bad credentials"}))
    auth = OAuth2TokenAuth.password(TOKEN_URL, "me", SecretStr(SECRET), vendor="Example")
    async with api(auth) as client:
        with pytest.raises(AuthError) as info:
            await client.get_json("/things")
    assert "(401 on POST /oauth2/token): Bad credentials." in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


@respx.mock(assert_all_called=True)
async def test_an_exchange_answer_without_a_token_says_so(respx_mock) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"hello": "world"}))
    auth = OAuth2TokenAuth.password(TOKEN_URL, "me", SecretStr(SECRET), vendor="Example")
    async with api(auth) as client:
        with pytest.raises(AuthError, match="the answer holds no access_token"):
            await client.get_json("/things")


@respx.mock(assert_all_called=True)
async def test_a_grant_can_build_its_form_on_each_exchange(respx_mock) -> None:
    """A Google service account signs a fresh JWT assertion per exchange: a subclass overrides form()."""

    class Assertion(OAuth2TokenAuth):
        signed = 0

        def form(self) -> dict[str, str]:
            Assertion.signed += 1
            return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": f"jwt-{Assertion.signed}"}

    exchange = respx_mock.post(TOKEN_URL).mock(side_effect=[token("at-1"), token("at-2")])
    respx_mock.get(f"{BASE}/things").mock(side_effect=[httpx.Response(401), httpx.Response(200, json=[])])
    async with api(Assertion(TOKEN_URL, vendor="Example")) as client:
        await client.get_json("/things")
    assert [form(c.request)["assertion"] for c in exchange.calls] == ["jwt-1", "jwt-2"]
