"""SheetsClient against respx: the JWT-bearer grant (one exchange for many calls, one more after a 401), a
refused grant as an auth error never retried, and the effects rule of an append (not idempotent). Every route
is asserted called."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors._http import AuthError, OutcomeUnknown, RetryPolicy
from connectors.google_sheets import ServiceAccountKey, SheetsClient
from tests.connectors.conftest import SleepRecorder

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY = ServiceAccountKey.from_json(json.dumps({
    "type": "service_account", "private_key_id": "kid-1", "client_email": "sync@acme.iam.gserviceaccount.com",
    "private_key": PRIVATE.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()}))
TOKEN_URL = "https://oauth2.googleapis.com/token"
SHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz"
APPEND = f"https://sheets.googleapis.com/v4/spreadsheets/{SHEET}/values/Sheet1:append"
DONE = httpx.Response(200, json={"spreadsheetId": SHEET, "updates": {"updatedRange": "Sheet1!A1:A1"}})


def token(value: str = "ya29.one") -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "expires_in": 3599, "token_type": "Bearer"})


def client() -> SheetsClient:
    sheets = SheetsClient(key=KEY, retry=RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001),
                          auth_hint="Check the service-account key in the 'google-sheets-credentials/x' block.")
    sheets.api._sleep = SleepRecorder()
    return sheets


@respx.mock(assert_all_called=True)
async def test_one_signed_grant_serves_many_calls(respx_mock) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(return_value=token())
    append = respx_mock.post(APPEND).mock(return_value=DONE)
    async with client() as sheets:
        for i in range(3):
            await sheets.append_values(SHEET, "Sheet1", [[i]])
    assert grant.call_count == 1 and append.call_count == 3
    form = dict(parse_qsl(grant.calls[0].request.content.decode()))
    claims = jwt.decode(form["assertion"], PRIVATE.public_key(), algorithms=["RS256"], audience=TOKEN_URL)
    assert (claims["iss"], claims["scope"]) == ("sync@acme.iam.gserviceaccount.com",
                                                "https://www.googleapis.com/auth/spreadsheets")
    assert {c.request.headers["Authorization"] for c in append.calls} == {"Bearer ya29.one"}


@respx.mock(assert_all_called=True)
async def test_a_refused_token_is_exchanged_again_once_and_the_call_replayed(respx_mock) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(side_effect=[token("ya29.old"), token("ya29.new")])
    append = respx_mock.post(APPEND).mock(side_effect=[httpx.Response(401, json={"error": {
        "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        DONE])
    async with client() as sheets:
        await sheets.append_values(SHEET, "Sheet1", [["x"]])
    assert grant.call_count == 2
    assert [c.request.headers["Authorization"] for c in append.calls] == ["Bearer ya29.old", "Bearer ya29.new"]


@respx.mock(assert_all_called=True)
async def test_a_refused_grant_is_an_auth_error_naming_the_block_never_retried(respx_mock) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={
        "error": "invalid_grant", "error_description": "Invalid JWT Signature."}))
    async with client() as sheets:
        with pytest.raises(AuthError) as info:
            await sheets.append_values(SHEET, "Sheet1", [["x"]])
    assert grant.call_count == 1
    assert str(info.value) == ("Google rejected the service-account key (400 on POST /token): invalid_grant: Invalid "
                               "JWT Signature. Check the service-account key in the 'google-sheets-credentials/x' "
                               "block.")


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.ReadTimeout("lost")])
async def test_an_append_whose_answer_may_be_lost_is_never_re_sent(failure) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(TOKEN_URL).mock(return_value=token())
        append = mock.post(APPEND).mock(side_effect=[failure, DONE])
        async with client() as sheets:
            with pytest.raises(OutcomeUnknown):
                await sheets.append_values(SHEET, "Sheet1", [["x"]])
    assert append.call_count == 1


async def test_a_throttled_append_is_retried_it_did_not_reach_the_sheet() -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(TOKEN_URL).mock(return_value=token())
        append = mock.post(APPEND).mock(side_effect=[httpx.Response(429, json={"error": {
            "code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}), DONE])
        async with client() as sheets:
            await sheets.append_values(SHEET, "Sheet1", [["x"]])
    assert append.call_count == 2
