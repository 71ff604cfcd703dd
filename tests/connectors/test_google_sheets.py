"""The Google Sheets connector and `google_sheets.append_row` against the emulator over a real socket (API-NOTES
§9, docs/connector-google-sheets.md): the service-account grant checked against the account's public key, the
token cached and renewed, values.append after the table (RAW / USER_ENTERED, INSERT_ROWS / OVERWRITE), Google's
errors, the quota switch, and an append never re-sent after a lost answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError as InputError

from connectors._http import AuthError, OutcomeUnknown, ValidationError
from connectors.google_sheets import GoogleSheetsCredentials
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import FAST_RETRY, Control

SHEET = "1PasserelleSandboxSpreadsheet000000000000000"
EMAIL = "sync@acme-prod.iam.gserviceaccount.com"
APPEND = get_action("google_sheets.append_row")


def pem_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode(),
            private.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode())


PRIVATE, PUBLIC = pem_pair()
OTHER_PRIVATE, _ = pem_pair()


def key(private: str = PRIVATE, email: str = EMAIL) -> str:
    return json.dumps({"type": "service_account", "project_id": "acme-prod", "private_key_id": "k1",
                       "private_key": private, "client_email": email,
                       "token_uri": "https://oauth2.googleapis.com/token"})


def creds(sb: Control, service_account_key: str | None = None, **extra: Any) -> GoogleSheetsCredentials:
    block = GoogleSheetsCredentials(service_account_key=service_account_key or key(),
                                    base_url=f"{sb.server.url}/google-sheets",
                                    token_url=f"{sb.server.url}/google-sheets/token", **extra)
    block._block_document_name = "reporting"
    return block


def load(sb: Control, rows: list[list[Any]] | None = None, *, title: str = "Clients", **sheet: Any) -> None:
    sb.load("google-sheets", {
        "service_accounts": [{"client_email": EMAIL, "private_key_id": "k1", "public_key": PUBLIC}],
        "spreadsheets": [{"spreadsheetId": SHEET, "title": "CRM", "editors": [EMAIL],
                          "sheets": [{"title": title, "rows": rows or []}], **sheet}]})


def rows(sb: Control) -> list[list[Any]]:
    return sb.state("google-sheets")["spreadsheets"][0]["sheets"][0]["rows"]


async def append(sb: Control, values: list[Any], **inputs: Any) -> Any:
    return await APPEND.run(APPEND.input_model(spreadsheet_id=SHEET, range="Clients", values=values, **inputs),
                            creds(sb))


def calls(sb: Control) -> list[tuple[str, str, int]]:
    return [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in sb.requests("google-sheets")]


def test_append_row_is_registered_as_not_idempotent_on_the_google_sheets_connection() -> None:
    assert (APPEND.idempotent, APPEND.connection) == (False, "google-sheets")


async def test_the_blocks_test_call_with_the_sandboxs_own_key(sb: Control) -> None:
    issued = sb.http.post("/_sandbox/google-sheets/keys", json={}).raise_for_status().json()
    block = GoogleSheetsCredentials(service_account_key=json.dumps(issued), base_url=f"{sb.server.url}/google-sheets")
    assert (await block.test()).startswith(f"Google accepted the key of {issued['client_email']} (token issued")
    block = GoogleSheetsCredentials(service_account_key=json.dumps(issued), test_spreadsheet_id=SHEET,
                                    base_url=f"{sb.server.url}/google-sheets")
    assert await block.test() == (f"Google accepted the key of {issued['client_email']}; it can read the "
                                  "spreadsheet 'Passerelle sandbox'")


async def test_the_grant_is_checked_against_the_accounts_public_key(sb: Control) -> None:
    load(sb)
    assert "Google accepted the key of sync@acme-prod" in await creds(sb).test()
    with pytest.raises(AuthError) as info:
        await creds(sb, key(OTHER_PRIVATE)).test()
    assert "Google rejected the service-account key (400 on POST /google-sheets/token): Invalid JWT Signature." in str(
        info.value) and "'google-sheets-credentials/reporting'" in str(info.value)
    with pytest.raises(AuthError, match="account not found"):
        await creds(sb, key(email="someone@else.iam.gserviceaccount.com")).test()
    assert [c[2] for c in calls(sb)] == [200, 400, 400]


async def test_a_sheet_not_shared_with_the_account_says_whom_to_share_it_with(sb: Control) -> None:
    load(sb, editors=[], viewers=[EMAIL])
    async with creds(sb).client() as sheets:
        assert (await sheets.get_spreadsheet(SHEET))["properties"]["title"] == "CRM"
    with pytest.raises(AuthError) as info:
        await append(sb, ["lea@example.org"])
    assert "refused access with this service-account key (403 on POST" in str(info.value)
    assert f"PERMISSION_DENIED: The caller does not have permission. Share the spreadsheet with {EMAIL}" in str(
        info.value)


async def test_the_row_goes_after_the_table_and_the_answer_says_where(sb: Control) -> None:
    load(sb, [["email", "name", "amount"], ["ana@example.org", "Ana", 10]])
    out = await append(sb, ["lea@example.org", "Léa", 12.5])
    assert (out.table_range, out.updated_range, out.updated_rows, out.updated_columns, out.updated_cells) == (
        "Clients!A1:C2", "Clients!A3:C3", 1, 3, 3)
    assert rows(sb)[2] == ["lea@example.org", "Léa", 12.5]


async def test_an_append_sent_twice_writes_twice_which_is_why_it_is_never_re_sent(sb: Control) -> None:
    load(sb, [["email"]])
    for _ in range(2):
        await append(sb, ["lea@example.org"])
    assert rows(sb) == [["email"], ["lea@example.org"], ["lea@example.org"]]
    async with creds(sb).client() as sheets:
        await sheets.get_spreadsheet(SHEET)  # the token first: the fault below hits every POST, the grant's too
        sb.faults("google-sheets", lost_answer_rate=1.0, lost_answer_methods=["POST"])
        with pytest.raises(OutcomeUnknown, match="check in Google Sheets whether it took effect"):
            await sheets.append_values(SHEET, "Clients", [["once@example.org"]])
    assert rows(sb)[-1] == ["once@example.org"] and len(rows(sb)) == 4
    assert calls(sb)[-1] == ("POST", "Clients:append", 504)


async def test_raw_keeps_text_and_user_entered_parses_it(sb: Control) -> None:
    load(sb)
    await append(sb, ["=HYPERLINK(\"x\")", "12", "TRUE", None, "'007"])
    await append(sb, ["=1+1", "12", "TRUE", None, "'007"], value_input_option="USER_ENTERED")
    assert rows(sb) == [["=HYPERLINK(\"x\")", "12", "TRUE", "", "'007"], ["=1+1", 12, True, "", "007"]]


async def test_insert_rows_pushes_down_overwrite_writes_over(sb: Control) -> None:
    load(sb, [["email"], ["ana@example.org"], [], ["footer"]])
    await append(sb, ["lea@example.org"], insert_data_option="OVERWRITE")
    assert rows(sb) == [["email"], ["ana@example.org"], ["lea@example.org"], ["footer"]]
    load(sb, [["email"], ["ana@example.org"], [], ["footer"]])
    await append(sb, ["lea@example.org"])
    assert rows(sb) == [["email"], ["ana@example.org"], ["lea@example.org"], [], ["footer"]]


async def test_the_token_is_cached_then_exchanged_again_once_after_a_401(sb: Control) -> None:
    load(sb)
    async with creds(sb).client() as sheets:
        for i in range(3):
            await sheets.append_values(SHEET, "Clients", [[f"r{i}"]])
        assert sb.http.post("/_sandbox/google-sheets/expire-tokens").json() == {"expired": 1}
        await sheets.append_values(SHEET, "Clients", [["r3"]])
        assert sheets.auth.exchanges == 2
    assert [c[2] for c in calls(sb) if c[0] == "POST"] == [200, 200, 200, 200, 401, 200, 200]
    assert [r[0] for r in rows(sb)] == ["r0", "r1", "r2", "r3"]


async def test_a_spent_quota_answers_429_and_the_append_waits_then_goes_once(sb: Control) -> None:
    load(sb)
    sb.http.put("/_sandbox/google-sheets/rate-limit", json={"per_minute": 1, "window_seconds": 0.4})
    async with creds(sb).client(retry=FAST_RETRY) as sheets:
        await sheets.get_spreadsheet(SHEET)
        await sheets.append_values(SHEET, "Clients", [["after the wait"]])
    assert [c[2] for c in calls(sb)] == [200, 200, 429, 200]
    assert rows(sb) == [["after the wait"]]


async def test_google_errors_name_the_problem(sb: Control) -> None:
    load(sb)
    with pytest.raises(ValidationError, match="INVALID_ARGUMENT: Unable to parse range: Nope!A1"):
        await APPEND.run(APPEND.input_model(spreadsheet_id=SHEET, range="Nope!A1", values=["x"]), creds(sb))
    with pytest.raises(Exception, match="NOT_FOUND: Requested entity was not found. Check the spreadsheet id"):
        await APPEND.run(APPEND.input_model(spreadsheet_id="1NoSuchSheet000000", values=["x"]), creds(sb))
    raw = httpx.post(f"{sb.server.url}/google-sheets/v4/spreadsheets/{SHEET}/values/Clients:append",
                     json={"values": [["x"]]}, headers={"Authorization": "Bearer nope"})
    assert raw.status_code == 401 and raw.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_inputs_are_checked_before_anything_is_sent() -> None:
    url = f"https://docs.google.com/spreadsheets/d/{SHEET}/edit#gid=0"
    assert APPEND.input_model(spreadsheet_id=url, values=["a"]).spreadsheet_id == SHEET
    with pytest.raises(InputError, match=r"values\[1\]: a cell takes text, a number, true/false or null; got a dict"):
        APPEND.input_model(spreadsheet_id=SHEET, values=["a", {"b": 1}])
    with pytest.raises(InputError, match="spreadsheet_id must be a spreadsheet id"):
        APPEND.input_model(spreadsheet_id="../x", values=["a"])
    with pytest.raises(InputError, match="value_input_option"):
        APPEND.input_model(spreadsheet_id=SHEET, values=["a"], value_input_option="FORMULA")


def test_a_bad_key_is_refused_naming_the_field_and_never_echoed() -> None:
    for text, said in (("not json", "is not JSON"), (json.dumps({"type": "authorized_user"}), "type is"),
                       (json.dumps({"client_email": EMAIL}), "has no private_key"),
                       (json.dumps({"client_email": EMAIL, "private_key": "SECRET-PEM"}), "not a PEM private key")):
        with pytest.raises(InputError) as info:
            GoogleSheetsCredentials(service_account_key=text)
        assert "service_account_key" in str(info.value) and said in str(info.value)
        assert "SECRET-PEM" not in str(info.value)
    assert "PRIVATE KEY" not in repr(GoogleSheetsCredentials(service_account_key=key()))


def test_the_state_document_round_trips(sb: Control) -> None:
    load(sb, [["a", 1, True]])
    dumped = sb.state("google-sheets")
    sb.load("google-sheets", dumped)
    assert sb.state("google-sheets") == dumped
    bad = sb.http.put("/_sandbox/google-sheets/state", json={"spreadsheets": [{"sheets": [{"titel": "x"}]}]})
    assert bad.status_code == 422 and "unknown sheet keys ['titel']" in bad.text
