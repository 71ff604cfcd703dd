"""Contract: every request the Twilio connector sends is an operation of Twilio's own OpenAPI file
(../shared/specs/twilio/twilio_api_v2010.json, OAS 3.0.1): the path and method exist, path parameters match
their patterns (``^AC[0-9a-fA-F]{32}$``…), each query parameter is declared, each body is
``application/x-www-form-urlencoded`` and its fields are declared form fields validating against the
operation's schema made strict (tests/support/oas.py). HTTP Basic is the only security scheme: the user is the
Account SID. The emulator's answers validate against the same file's response schemas (strict: it invents no
field). Twilio's error body ``{code, message, more_info, status}`` has no schema in the file; it is checked by
hand against API-NOTES §10.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
import pytest
import respx

from connectors._http import RetryPolicy
from connectors.twilio import TwilioCredentials
from connectors.twilio.zap import SendSmsInput, send_sms
from tests.support.oas import SPECS, load, match_template, needs, resolve, strict

SPEC = SPECS / "twilio" / "twilio_api_v2010.json"
pytestmark = needs(SPEC)
BASE = "https://api.twilio.com"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-SECRET-token"
SERVICE = "MG" + "fedcba9876543210" * 2
FORM = "application/x-www-form-urlencoded"


def spec() -> dict[str, Any]:
    return load(SPEC)


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    template = match_template(spec()["paths"], path)
    assert template is not None, f"{path} is no path of the spec"
    item = spec()["paths"][template]
    assert method.lower() in item, f"{method} {template} is not an operation of the spec"
    return template, item[method.lower()]


def path_values(template: str, path: str) -> dict[str, str]:
    pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    match = re.fullmatch(pattern, path)
    assert match is not None
    return match.groupdict()


def form_schema(op: dict[str, Any]) -> dict[str, Any]:
    content = op["requestBody"]["content"]
    assert list(content) == [FORM], f"{op['operationId']} takes {list(content)}"
    return strict(resolve(content[FORM]["schema"], spec()))


def check(request: httpx.Request) -> str:
    """Raise AssertionError / jsonschema.ValidationError unless the request is an operation of the spec."""
    template, op = operation(request.method, request.url.path)
    params = [resolve(p, spec()) for p in op.get("parameters", [])]
    for name, value in path_values(template, request.url.path).items():
        declared = next(p for p in params if p["in"] == "path" and p["name"] == name)
        jsonschema.validate(value, declared["schema"])
    declared_query = {p["name"] for p in params if p["in"] == "query"}
    unknown = set(request.url.params) - declared_query
    assert not unknown, f"{request.method} {template}: query parameters {sorted(unknown)} are not declared"
    if request.content:
        assert "requestBody" in op, f"{request.method} {template} takes no body"
        assert request.headers["Content-Type"] == FORM, "Twilio takes form bodies, not JSON"
        fields = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        jsonschema.Draft4Validator(form_schema(op)).validate(fields)
    assert op["security"] == [{"accountSid_authToken": []}]
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", f"{SID}:{TOKEN}")
    return f"{request.method} {template}"


def message(sid: str = "SM" + "0" * 32) -> dict[str, Any]:
    return {"sid": sid, "status": "queued", "to": "+15145550100", "from": "+15005550006", "num_segments": "1"}


def answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if request.method == "POST":
        return httpx.Response(201, json=message())
    if path.endswith(f"{SID}.json"):
        return httpx.Response(200, json={"sid": SID, "friendly_name": "Acme", "status": "active"})
    if path.endswith("/Messages.json"):  # two pages, so that the next page's request is checked too
        last = "PageToken" in request.url.params
        nxt = None if last else f"{path}?PageSize=1000&Page=1&PageToken=PA{'SM' + '1' * 32}"
        return httpx.Response(200, json={"messages": [message()], "next_page_uri": nxt, "page": int(last)})
    return httpx.Response(200, json=message())


SENDS = [
    {"to": "+15145550100", "body": "Hello", "from_number": "+15005550006"},
    {"to": "+1 (514) 555-0101", "body": "Bonjour Léa 👋", "messaging_service_sid": SERVICE,
     "status_callback": "https://hooks.example.org/twilio/status"},
    {"to": "+33612345678", "body": "x" * 1600, "from_number": "Passerelle"},
]


@pytest.fixture(scope="module")
def sent() -> list[httpx.Request]:
    async def produce() -> list[httpx.Request]:
        creds = TwilioCredentials(account_sid=SID, auth_token=TOKEN)
        with respx.mock(base_url=BASE, assert_all_called=True) as mock:
            route = mock.route().mock(side_effect=answer)
            await creds.test()
            for inputs in SENDS:
                await send_sms(SendSmsInput(**inputs), creds)
            async with creds.client(retry=RetryPolicy(max_attempts=1)) as twilio:
                await twilio.list_messages(to="+15145550100", from_="+15005550006", date_sent="2026-11-27")
                await twilio.get_message("SM" + "0" * 32)
            return [call.request for call in route.calls]

    return asyncio.run(produce())


def test_every_request_the_connector_sends_is_an_operation_of_the_spec(sent: list[httpx.Request]) -> None:
    operations = [check(request) for request in sent]
    assert set(operations) == {"GET /2010-04-01/Accounts/{Sid}.json",
                               "POST /2010-04-01/Accounts/{AccountSid}/Messages.json",
                               "GET /2010-04-01/Accounts/{AccountSid}/Messages.json",
                               "GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"}
    assert operations.count("POST /2010-04-01/Accounts/{AccountSid}/Messages.json") == len(SENDS)
    assert [r.url.params.get("PageToken") for r in sent if r.method == "GET" and r.url.path.endswith("Messages.json")
            ] == [None, "PA" + "SM" + "1" * 32]


def test_each_send_names_exactly_one_sender(sent: list[httpx.Request]) -> None:
    forms = [dict(parse_qsl(r.content.decode())) for r in sent if r.method == "POST"]
    assert [("From" in f, "MessagingServiceSid" in f) for f in forms] == [(True, False), (False, True), (True, False)]
    assert forms[1]["To"] == "+15145550101" and forms[1]["Body"] == "Bonjour Léa 👋"


def test_the_checker_refuses_what_the_spec_does_not_have() -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()}
    messages = f"{BASE}/2010-04-01/Accounts/{SID}/Messages.json"
    with pytest.raises(AssertionError, match="no path"):
        check(httpx.Request("POST", f"{BASE}/2010-04-01/Accounts/{SID}/SMS.json", headers=auth, data={"To": "+1"}))
    with pytest.raises(AssertionError, match="not an operation"):
        check(httpx.Request("DELETE", messages, headers=auth))
    with pytest.raises(AssertionError, match=r"\['Limit'\]"):
        check(httpx.Request("GET", messages, params={"Limit": "5"}, headers=auth))
    with pytest.raises(AssertionError, match="form bodies"):
        check(httpx.Request("POST", messages, json={"To": "+15145550100", "Body": "x"}, headers=auth))
    with pytest.raises(jsonschema.ValidationError, match="'To' is a required property"):
        check(httpx.Request("POST", messages, data={"Body": "x", "From": "+15005550006"}, headers=auth))
    with pytest.raises(jsonschema.ValidationError, match="'from' was unexpected"):
        check(httpx.Request("POST", messages, data={"To": "+15145550100", "from": "+15005550006"}, headers=auth))
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        check(httpx.Request("POST", messages, data={"To": "+1", "MessagingServiceSid": "MG" + "z" * 32}, headers=auth))
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        check(httpx.Request("GET", f"{BASE}/2010-04-01/Accounts/AC{'z' * 32}.json", headers=auth))


def response_schema(method: str, template: str, status: str) -> dict[str, Any]:
    content = spec()["paths"][template][method.lower()]["responses"][status]["content"]["application/json"]
    return strict(resolve(content["schema"], spec()), request=False)


def test_the_emulators_answers_follow_the_spec(sandbox) -> None:
    sid, token = "AC00000000000000000000000000000001", "sandbox-twilio-auth-token"
    messages = f"/2010-04-01/Accounts/{sid}/Messages.json"
    with httpx.Client(base_url=f"{sandbox.url}/twilio", auth=(sid, token)) as http:
        account = http.get(f"/2010-04-01/Accounts/{sid}.json")
        sent = http.post(messages, data={"To": "+15145550100", "From": "+15005550006", "Body": "Hello"})
        picked = http.post(messages, data={"To": "+15145550100", "MessagingServiceSid": "MG" + "0" * 31 + "1",
                                           "Body": "Hi"})
        listed = http.get(messages, params={"PageSize": 1})
        refused = http.post(messages, data={"To": "5145550100", "From": "+15005550006", "Body": "Hello"})
    assert [r.status_code for r in (account, sent, picked, listed, refused)] == [200, 201, 201, 200, 400]
    account_schema = response_schema("GET", "/2010-04-01/Accounts/{Sid}.json", "200")
    jsonschema.Draft4Validator(account_schema).validate(account.json())
    template = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
    for created in (sent, picked):
        jsonschema.Draft4Validator(response_schema("POST", template, "201")).validate(created.json())
    jsonschema.Draft4Validator(response_schema("GET", template, "200")).validate(listed.json())
    assert sent.json()["status"] == "queued" and re.fullmatch(r"SM[0-9a-f]{32}", sent.json()["sid"])
    assert (picked.json()["status"], picked.json()["from"]) == ("accepted", None)
    assert listed.json()["next_page_uri"].startswith(f"{messages}?")
    assert refused.json() == {"code": 21211, "message": "The 'To' number 5145550100 is not a valid phone number.",
                              "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
