"""Contract: every request the Google Sheets connector sends is a method of Google's discovery document
(../shared/specs/google-sheets/sheets_v4_discovery.json, `sheets:v4`): path template and HTTP method, the
`{range}` path parameter percent-encoded as a simple (not reserved) expansion, each query parameter declared
(the method's or the document's global ones), the JSON body validating against the method's `request` schema
made strict (tests/support/oas.py), and the scope asked for one the method accepts.

The token exchange is not a Sheets method (it is Google's OAuth service, no discovery document here): it is
checked against RFC 7523 and Google's service-account guide (API-NOTES §9): a form with exactly `grant_type`
(jwt-bearer) and `assertion`, an RS256 JWT whose signature verifies with the key's public half, `kid` = the key
id, claims `iss`, `scope`, `aud` (the token URL), `iat`, `exp` at most an hour later.
The emulator's answers validate against the document's response schemas, strict.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import httpx
import jsonschema
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors._http import RetryPolicy
from connectors.google_sheets import GoogleSheetsCredentials
from connectors.google_sheets.zap import AppendRowInput, append_row
from tests.support.oas import SPECS, discovery_methods, discovery_schema, load, match_template, needs, strict

SPEC = SPECS / "google-sheets" / "sheets_v4_discovery.json"
pytestmark = needs(SPEC)
BASE = "https://sheets.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
SHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
EMAIL = "sync@acme-prod.iam.gserviceaccount.com"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = PRIVATE.public_key()
KEY = json.dumps({"type": "service_account", "project_id": "acme-prod", "private_key_id": "k-123",
                  "private_key": PRIVATE.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode(),
                  "client_email": EMAIL, "token_uri": TOKEN_URL})


def spec() -> dict[str, Any]:
    return load(SPEC)


def method_of(request: httpx.Request) -> tuple[str, dict[str, Any]]:
    methods = {template: m for (verb, template), m in discovery_methods(spec()).items() if verb == request.method}
    template = match_template(methods, request.url.path)
    assert template is not None, f"{request.method} {request.url.path} is no method of the discovery document"
    return template, methods[template]


def check(request: httpx.Request, scopes: set[str]) -> str:
    """Raise AssertionError / jsonschema.ValidationError unless the request is a method of the document."""
    template, method = method_of(request)
    if "{range}" in template:  # a simple expansion ({range}, not {+range}): every reserved character encoded
        raw = request.url.raw_path.decode().partition("?")[0].split("/values/", 1)[1].removesuffix(":append")
        assert raw == quote(unquote(raw), safe=""), f"{{range}} must be percent-encoded, got {raw}"
    declared = {n for n, p in method["parameters"].items() if p["location"] == "query"} | set(spec()["parameters"])
    unknown = set(request.url.params) - declared
    assert not unknown, f"{request.method} {template}: query parameters {sorted(unknown)} are not declared"
    for name, value in request.url.params.items():
        allowed = (method["parameters"].get(name) or {}).get("enum")
        assert allowed is None or value in allowed, f"{name}={value} is not one of {allowed}"
        assert not value.endswith("_UNSPECIFIED"), f"{name}={value}: the default value, 'must not be used'"
    if request.content:
        assert "request" in method, f"{method['id']} takes no body"
        schema = strict(discovery_schema(spec(), method["request"]))
        jsonschema.Draft4Validator(schema).validate(json.loads(request.content))
    assert scopes & set(method["scopes"]), f"{method['id']} takes none of the scopes {sorted(scopes)}"
    return method["id"]


def check_grant(request: httpx.Request) -> set[str]:
    """The JWT-bearer grant (RFC 7523 §2.1, Google's service-account guide); returns the scopes asked for."""
    assert str(request.url) == TOKEN_URL and request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(parse_qsl(request.content.decode()))
    assert set(form) == {"grant_type", "assertion"}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header = jwt.get_unverified_header(form["assertion"])
    assert (header["alg"], header["typ"], header["kid"]) == ("RS256", "JWT", "k-123")
    claims = jwt.decode(form["assertion"], PUBLIC, algorithms=["RS256"], audience=TOKEN_URL)
    assert set(claims) == {"iss", "scope", "aud", "iat", "exp"} and claims["iss"] == EMAIL
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60
    return set(claims["scope"].split())


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.host == "oauth2.googleapis.com":
        return httpx.Response(200, json={"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"})
    if request.method == "POST":
        return httpx.Response(200, json={"spreadsheetId": SHEET, "tableRange": "Sheet1!A1:C3",
                                         "updates": {"spreadsheetId": SHEET, "updatedRange": "Sheet1!A4:C4",
                                                     "updatedRows": 1, "updatedColumns": 3, "updatedCells": 3}})
    if "/values/" in request.url.path:
        return httpx.Response(200, json={"range": "Clients!A1:C10", "majorDimension": "ROWS", "values": [["a"]]})
    return httpx.Response(200, json={"spreadsheetId": SHEET, "properties": {"title": "Clients"}})


APPENDS = [
    {"spreadsheet_id": SHEET, "values": ["lea@example.org", 12, 2.5, True, None]},
    {"spreadsheet_id": f"https://docs.google.com/spreadsheets/d/{SHEET}/edit#gid=0", "range": "'My sheet'!A:F",
     "values": ["=HYPERLINK(\"x\")", "2026-11-27"], "value_input_option": "USER_ENTERED",
     "insert_data_option": "OVERWRITE"},
    {"spreadsheet_id": SHEET, "range": "Activités!A1", "values": ["Léa"]},
]


@pytest.fixture(scope="module")
def sent() -> list[httpx.Request]:
    async def produce() -> list[httpx.Request]:
        creds = GoogleSheetsCredentials(service_account_key=KEY, test_spreadsheet_id=SHEET)
        with respx.mock(assert_all_called=True) as mock:
            route = mock.route().mock(side_effect=answer)
            await creds.test()
            for inputs in APPENDS:
                await append_row(AppendRowInput(**inputs), creds)
            async with creds.client(retry=RetryPolicy(max_attempts=1)) as sheets:
                await sheets.get_values(SHEET, "Clients!A1:C10")
                await sheets.append_values(SHEET, "Sheet1", [["a", "b"], ["c"]], include_values_in_response=True)
            return [call.request for call in route.calls]

    return asyncio.run(produce())


def test_every_request_is_a_method_of_the_discovery_document(sent: list[httpx.Request]) -> None:
    grants = [r for r in sent if r.url.host == "oauth2.googleapis.com"]
    scopes = set().union(*(check_grant(g) for g in grants))
    assert scopes == {"https://www.googleapis.com/auth/spreadsheets"}
    calls = [check(r, scopes) for r in sent if r.url.host == "sheets.googleapis.com"]
    assert calls == ["sheets.spreadsheets.get", *["sheets.spreadsheets.values.append"] * len(APPENDS),
                     "sheets.spreadsheets.values.get", "sheets.spreadsheets.values.append"]
    assert all(r.headers["Authorization"] == "Bearer ya29.test" for r in sent if r.url.host == "sheets.googleapis.com")


def test_the_append_sends_its_options_and_one_row(sent: list[httpx.Request]) -> None:
    appends = [r for r in sent if r.method == "POST" and r.url.host == "sheets.googleapis.com"]
    assert [dict(r.url.params) for r in appends[:2]] == [
        {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        {"valueInputOption": "USER_ENTERED", "insertDataOption": "OVERWRITE"}]
    assert json.loads(appends[0].content) == {"range": "Sheet1", "majorDimension": "ROWS",
                                              "values": [["lea@example.org", 12, 2.5, True, None]]}
    assert appends[1].url.raw_path.decode().startswith(f"/v4/spreadsheets/{SHEET}/values/%27My%20sheet%27%21A%3AF:")


def test_the_checker_refuses_what_the_document_does_not_have() -> None:
    scopes = {"https://www.googleapis.com/auth/spreadsheets"}
    path = f"{BASE}/v4/spreadsheets/{SHEET}/values/Sheet1:append"
    with pytest.raises(AssertionError, match="no method"):
        check(httpx.Request("POST", f"{BASE}/v4/spreadsheets/{SHEET}/rows:append"), scopes)
    with pytest.raises(AssertionError, match="no method"):
        check(httpx.Request("DELETE", path), scopes)
    with pytest.raises(AssertionError, match=r"\['valueInput'\]"):
        check(httpx.Request("POST", path, params={"valueInput": "RAW"}, json={"values": [["a"]]}), scopes)
    with pytest.raises(AssertionError, match="RAWISH is not one of"):
        check(httpx.Request("POST", path, params={"valueInputOption": "RAWISH"}, json={"values": [["a"]]}), scopes)
    with pytest.raises(AssertionError, match="must not be used"):
        check(httpx.Request("POST", path, params={"valueInputOption": "INPUT_VALUE_OPTION_UNSPECIFIED"},
                            json={"values": [["a"]]}), scopes)
    with pytest.raises(jsonschema.ValidationError, match="'rows' was unexpected"):
        check(httpx.Request("POST", path, params={"valueInputOption": "RAW"}, json={"rows": [["a"]]}), scopes)
    with pytest.raises(jsonschema.ValidationError, match="'COLS' is not one of"):
        check(httpx.Request("POST", path, json={"majorDimension": "COLS", "values": [["a"]]}), scopes)
    with pytest.raises(AssertionError, match="none of the scopes"):
        check(httpx.Request("POST", path, json={"values": [["a"]]}),
              {"https://www.googleapis.com/auth/spreadsheets.readonly"})
    with pytest.raises(AssertionError, match="percent-encoded"):
        check(httpx.Request("POST", f"{BASE}/v4/spreadsheets/{SHEET}/values/Sheet1!A1:append"), scopes)


def response_schema(method_id: str) -> dict[str, Any]:
    method = next(m for m in discovery_methods(spec()).values() if m["id"] == method_id)
    return strict(discovery_schema(spec(), method["response"]), request=False)


def test_the_emulators_answers_follow_the_document(sandbox) -> None:
    key = httpx.post(f"{sandbox.url}/_sandbox/google-sheets/keys", json={}).raise_for_status().json()
    assertion = jwt.encode({"iss": key["client_email"], "scope": "https://www.googleapis.com/auth/spreadsheets",
                            "aud": key["token_uri"], "iat": int(time.time()), "exp": int(time.time()) + 3600},
                           key["private_key"], algorithm="RS256", headers={"kid": key["private_key_id"]})
    token = httpx.post(key["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                               "assertion": assertion}).raise_for_status().json()
    assert set(token) == {"access_token", "expires_in", "token_type"} and token["token_type"] == "Bearer"
    sheet = "1PasserelleSandboxSpreadsheet000000000000000"
    with httpx.Client(base_url=f"{sandbox.url}/google-sheets/v4/spreadsheets/{sheet}",
                      headers={"Authorization": f"Bearer {token['access_token']}"}) as http:
        first = http.post("/values/Sheet1:append", params={"valueInputOption": "RAW"},
                          json={"values": [["email", "n"]]})
        second = http.post(f"/values/{quote('Sheet1!A:B', safe='')}:append",
                           params={"valueInputOption": "USER_ENTERED", "includeValuesInResponse": "true"},
                           json={"range": "Sheet1!A:B", "majorDimension": "ROWS", "values": [["lea@x.org", "12"]]})
        values = http.get("/values/Sheet1")
        spreadsheet = http.get(f"{sandbox.url}/google-sheets/v4/spreadsheets/{sheet}")
        missing = http.post("/values/Sheet1:append", json={"values": [["x"]]})
    for response, method_id in ((first, "sheets.spreadsheets.values.append"),
                                (second, "sheets.spreadsheets.values.append"),
                                (values, "sheets.spreadsheets.values.get"), (spreadsheet, "sheets.spreadsheets.get")):
        assert response.status_code == 200, response.text
        jsonschema.Draft4Validator(response_schema(method_id)).validate(response.json())
    assert "tableRange" not in first.json() and second.json()["tableRange"] == "Sheet1!A1:B1"
    assert second.json()["updates"]["updatedRange"] == "Sheet1!A2:B2"
    assert second.json()["updates"]["updatedData"]["values"] == [["lea@x.org", "12"]]
    assert (missing.status_code, missing.json()) == (400, {"error": {
        "code": 400, "message": "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED",
        "status": "INVALID_ARGUMENT"}})
