"""TwilioClient against respx: Basic `AccountSid:AuthToken`, a form-encoded body, and the effects rule of a
send (not idempotent): re-sent only when it surely did not reach Twilio (no connection, 429, 503 with
Retry-After), never after a lost answer or a 500. Every route is asserted called."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from connectors._http import OutcomeUnknown, RetryPolicy, ValidationError
from connectors.twilio import TwilioClient
from tests.connectors.conftest import SleepRecorder

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-SECRET-token"
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
CREATED = httpx.Response(201, json={"sid": "SM" + "a" * 32, "status": "queued", "to": "+15145550100",
                                    "from": "+15005550006", "num_segments": "1"})


def client(**kwargs) -> TwilioClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    twilio = TwilioClient(account_sid=SID, auth_token=TOKEN, **kwargs)
    twilio.api._sleep = SleepRecorder()
    return twilio


@respx.mock(assert_all_called=True)
async def test_a_send_is_a_form_post_with_basic_auth(respx_mock) -> None:
    route = respx_mock.post(MESSAGES).mock(return_value=CREATED)
    async with client() as twilio:
        message = await twilio.send_message("+15145550100", "Hello & bye", from_="+15005550006",
                                            status_callback="https://hooks.example.org/s")
    request = route.calls[0].request
    assert message["sid"] == "SM" + "a" * 32
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.content.decode())) == {"To": "+15145550100", "Body": "Hello & bye",
                                                         "From": "+15005550006",
                                                         "StatusCallback": "https://hooks.example.org/s"}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.Response(502), httpx.ReadTimeout("lost")])
async def test_a_send_whose_answer_may_be_lost_is_never_re_sent(failure) -> None:
    with respx.mock(assert_all_called=True) as mock:  # a second send would succeed: the client must not try it
        route = mock.post(MESSAGES).mock(side_effect=[failure, CREATED])
        async with client() as twilio:
            with pytest.raises(OutcomeUnknown) as info:
                await twilio.send_message("+15145550100", "once", from_="+15005550006")
    assert route.call_count == 1
    assert "left the outcome unknown" in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.Response(429, json={
    "code": 20429, "message": "Too Many Requests", "status": 429}), httpx.Response(503, headers={"Retry-After": "0"})])
async def test_a_send_that_surely_did_not_reach_twilio_is_retried(failure) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(MESSAGES).mock(side_effect=[failure, CREATED])
        async with client() as twilio:
            await twilio.send_message("+15145550100", "retried", from_="+15005550006")
    assert route.call_count == 2


@respx.mock(assert_all_called=True)
async def test_twilios_error_code_and_link_are_in_the_message(respx_mock) -> None:
    respx_mock.post(MESSAGES).mock(return_value=httpx.Response(400, json={
        "code": 21606, "message": "The From phone number +15005550009 is not a valid, SMS-capable inbound phone "
        "number or short code for your account.", "more_info": "https://www.twilio.com/docs/errors/21606",
        "status": 400}))
    async with client() as twilio:
        with pytest.raises(ValidationError) as info:
            await twilio.send_message("+15145550100", "x", from_="+15005550009")
    assert str(info.value) == (
        f"Twilio rejected the request as invalid (400 on POST /2010-04-01/Accounts/{SID}/Messages.json): The From "
        "phone number +15005550009 is not a valid, SMS-capable inbound phone number or short code for your account "
        "(Twilio error 21606: https://www.twilio.com/docs/errors/21606).")


async def test_nothing_is_sent_for_what_twilio_would_refuse() -> None:
    with pytest.raises(ValueError, match="account_sid must be a Twilio SID of the form AC"):
        TwilioClient(account_sid="AC123", auth_token=TOKEN)
    with respx.mock(assert_all_called=True) as mock:  # no route: nothing may be sent
        async with client() as twilio:
            with pytest.raises(ValueError, match="give exactly one of from_number"):
                await twilio.send_message("+15145550100", "x")
            with pytest.raises(ValueError, match="body must be the text of the message"):
                await twilio.send_message("+15145550100", " ", from_="+15005550006")
        assert not mock.calls
