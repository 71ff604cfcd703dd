"""The Twilio connector and `twilio.send_sms` against the Twilio emulator over a real socket (API-NOTES §10,
docs/connector-twilio.md): form-encoded sends, exactly one sender, Twilio's error codes, segments, the
`next_page_uri` listing, the rate-limit switch, and a lost answer that is never re-sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError as InputError

from connectors._http import AuthError, OutcomeUnknown, ValidationError
from connectors.twilio import TwilioCredentials
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import FAST_RETRY, Control

SID = "AC00000000000000000000000000000001"
TOKEN = "sandbox-twilio-auth-token"
NUMBER = "+15005550006"
SERVICE = "MG00000000000000000000000000000001"
SEND = get_action("twilio.send_sms")


def creds(sb: Control, token: str = TOKEN, sid: str = SID) -> TwilioCredentials:
    block = TwilioCredentials(account_sid=sid, auth_token=token, base_url=f"{sb.server.url}/twilio")
    block._block_document_name = "support-sms"
    return block


async def send(sb: Control, **inputs: Any) -> Any:
    return await SEND.run(SEND.input_model(**inputs), creds(sb))


def messages(sb: Control) -> list[dict[str, Any]]:
    return sb.state("twilio")["messages"]


def account(**extra: Any) -> dict[str, Any]:
    return {"accounts": [{"sid": SID, "auth_token": TOKEN, "phone_numbers": [
        {"phone_number": NUMBER}, {"phone_number": "+15005550009", "sms": False}], **extra}]}


def test_send_sms_is_registered_as_not_idempotent() -> None:
    assert (SEND.idempotent, SEND.connection) == (False, "twilio")


async def test_the_blocks_test_call_reads_the_account_and_refuses_a_bad_token(sb: Control) -> None:
    assert await creds(sb).test() == f"Twilio accepted the Auth Token of account {SID} (Passerelle sandbox, active)"
    with pytest.raises(AuthError) as info:
        await creds(sb, "wrong").test()
    assert f"Twilio rejected the Account SID and Auth Token (401 on GET /2010-04-01/Accounts/{SID}.json): " \
           "Authenticate (Twilio error 20003: https://www.twilio.com/docs/errors/20003)" in str(info.value)
    assert "'twilio-credentials/support-sms'" in str(info.value) and "wrong" not in str(info.value)
    sb.load("twilio", account(status="suspended"))
    with pytest.raises(AuthError, match="the account is suspended"):
        await creds(sb).test()


async def test_an_sms_from_a_number_of_the_account_is_queued(sb: Control) -> None:
    out = await send(sb, to="+1 514 555 0100", body="Bonjour Léa", from_number=NUMBER)
    assert out.sid.startswith("SM") and len(out.sid) == 34
    assert (out.status, out.to, out.from_number, out.num_segments) == ("queued", "+15145550100", NUMBER, 1)
    [stored] = messages(sb)
    assert (stored["sid"], stored["body"], stored["direction"]) == (out.sid, "Bonjour Léa", "outbound-api")
    assert [(r["method"], r["status"]) for r in sb.requests("twilio")] == [("POST", 201)]


async def test_a_messaging_service_picks_the_sender(sb: Control) -> None:
    out = await send(sb, to="+15145550100", body="Hi", messaging_service_sid=SERVICE)
    assert (out.status, out.from_number, out.messaging_service_sid, out.num_segments) == ("accepted", None, SERVICE, 0)


def test_exactly_one_sender_is_required_naming_both_fields() -> None:
    for inputs in ({}, {"from_number": NUMBER, "messaging_service_sid": SERVICE}):
        with pytest.raises(InputError) as info:
            SEND.input_model(to="+15145550100", body="x", **inputs)
        assert "give exactly one of from_number (Twilio's From" in str(info.value)
        assert "messaging_service_sid (Twilio's MessagingServiceSid" in str(info.value)
    with pytest.raises(InputError, match="to must be a phone number in E.164 form"):
        SEND.input_model(to="514-555-0100", body="x", from_number=NUMBER)
    with pytest.raises(InputError, match="Twilio takes at most 1600"):
        SEND.input_model(to="+15145550100", body="x" * 1601, from_number=NUMBER)
    with pytest.raises(InputError, match="messaging_service_sid must be a Twilio SID of the form MG"):
        SEND.input_model(to="+15145550100", body="x", messaging_service_sid="MG123")


async def test_a_sender_that_is_not_the_accounts_is_refused_with_twilios_code(sb: Control) -> None:
    sb.load("twilio", account())
    with pytest.raises(ValidationError) as info:
        await send(sb, to="+15145550100", body="x", from_number="+15145550999")
    assert "'From' +15145550999 is not a Twilio phone number" in str(info.value) and "21659" in str(info.value)
    with pytest.raises(ValidationError, match="not a valid, SMS-capable inbound phone number .*21606"):
        await send(sb, to="+15145550100", body="x", from_number="+15005550009")
    with pytest.raises(ValidationError, match="Messaging Service Sid MG0+2 is invalid"):
        await send(sb, to="+15145550100", body="x", messaging_service_sid="MG" + "0" * 31 + "2")
    assert messages(sb) == []


def test_the_emulator_answers_twilios_errors_for_what_the_model_refuses(sb: Control) -> None:
    url = f"{sb.server.url}/twilio/2010-04-01/Accounts/{SID}/Messages.json"

    def post(**form: str) -> dict[str, Any]:
        return httpx.post(url, data=form, auth=(SID, TOKEN)).json()

    assert post(Body="x", From=NUMBER)["code"] == 21604
    assert post(To="5145550100", Body="x", From=NUMBER)["code"] == 21211
    assert post(To="+15145550100", Body="x")["code"] == 21603
    assert post(To="+15145550100", From=NUMBER)["code"] == 21602
    assert post(To="+15145550100", From=NUMBER, Body="x" * 1601)["code"] == 21617
    as_json = httpx.post(url, json={"To": "+15145550100", "From": NUMBER, "Body": "x"}, auth=(SID, TOKEN))
    assert (as_json.status_code, as_json.json()["code"]) == (400, 21604)  # Twilio reads form fields only
    other = httpx.post(f"{sb.server.url}/twilio/2010-04-01/Accounts/AC{'0' * 31}2/Messages.json",
                       data={"To": "+15145550100", "From": NUMBER, "Body": "x"}, auth=(SID, TOKEN))
    assert other.status_code == 401 and other.json()["code"] == 20003


async def test_segments_are_counted_as_gsm_7_or_ucs_2(sb: Control) -> None:
    assert (await send(sb, to="+15145550100", body="é" * 160, from_number=NUMBER)).num_segments == 1
    assert (await send(sb, to="+15145550100", body="a" * 161, from_number=NUMBER)).num_segments == 2
    assert (await send(sb, to="+15145550100", body="👋" * 71, from_number=NUMBER)).num_segments == 2


async def test_listing_follows_next_page_uri_newest_first(sb: Control) -> None:
    for i in range(5):
        await send(sb, to="+15145550100" if i % 2 else "+15145550101", body=f"n{i}", from_number=NUMBER)
    async with creds(sb).client() as twilio:
        everything = await twilio.list_messages(page_size=2)
        to_one = await twilio.list_messages(to="+15145550101", page_size=2)
        found = await twilio.get_message(everything[0]["sid"])
        absent = await twilio.get_message("SM" + "f" * 32)
    assert [m["body"] for m in everything] == ["n4", "n3", "n2", "n1", "n0"]
    assert [m["body"] for m in to_one] == ["n4", "n2", "n0"]
    assert found["body"] == "n4" and absent is None
    pages = [r["query"] for r in sb.requests("twilio") if r["method"] == "GET"][:3]
    assert pages[0] == "PageSize=2" and "PageToken=PASM" in pages[1] and "Page=2" in pages[2]


async def test_a_lost_answer_is_not_sent_again_the_sms_went_once(sb: Control) -> None:
    sb.faults("twilio", lost_answer_rate=1.0, lost_answer_methods=["POST"])
    with pytest.raises(OutcomeUnknown) as info:
        await SEND.run(SEND.input_model(to="+15145550100", body="once", from_number=NUMBER),
                       creds(sb))
    assert "It was not re-sent: check in Twilio whether it took effect" in str(info.value)
    assert [m["body"] for m in messages(sb)] == ["once"]
    assert [r["status"] for r in sb.requests("twilio")] == [504]


async def test_a_spent_budget_answers_429_and_the_send_waits_then_goes_once(sb: Control) -> None:
    sb.http.put("/_sandbox/twilio/rate-limit", json={"per_minute": 1, "window_seconds": 0.4}).raise_for_status()
    async with creds(sb).client(retry=FAST_RETRY) as twilio:
        await twilio.fetch_account()
        await twilio.send_message("+15145550100", "after the wait", from_=NUMBER)
    assert [r["status"] for r in sb.requests("twilio")][:3] == [200, 429, 201]
    assert [m["body"] for m in messages(sb)] == ["after the wait"]
    raw = httpx.get(f"{sb.server.url}/twilio/2010-04-01/Accounts/{SID}.json", auth=(SID, TOKEN))
    assert raw.status_code == 429 and raw.json()["code"] == 20429 and "Retry-After" in raw.headers


def test_the_state_document_round_trips(sb: Control) -> None:
    sb.load("twilio", account())
    httpx.post(f"{sb.server.url}/twilio/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, TOKEN),
               data={"To": "+15145550100", "From": NUMBER, "Body": "kept"}).raise_for_status()
    dumped = sb.state("twilio")
    sb.load("twilio", dumped)
    assert sb.state("twilio") == dumped and dumped["messages"][0]["body"] == "kept"
    bad = sb.http.put("/_sandbox/twilio/state", json={"accounts": [{"sid": "AC1"}]})
    assert bad.status_code == 422 and "account sid must be AC followed by 32" in bad.text
