"""Google Sheets emulator, part 1: the state document and Google's error shapes.

The document (``PUT|GET /_sandbox/google-sheets/state``; everything optional, unknown keys refused):

    {"service_accounts": [{"client_email": "sync@acme.iam.gserviceaccount.com", "private_key_id": "k1",
                           "public_key": "-----BEGIN PUBLIC KEY-----…"}],
     "spreadsheets": [{"spreadsheetId": "1Passerelle…", "title": "Clients",
                       "editors": ["sync@acme.iam.gserviceaccount.com"], "viewers": [],
                       "sheets": [{"title": "Sheet1", "sheetId": 0,
                                   "rows": [["email", "name"], ["lea@x.org", "Léa"]]}]}],
     "token_lifetime_seconds": 3599}

A spreadsheet answers only the service accounts listed as its ``editors`` (read and append) or ``viewers`` (read).
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

DEFAULT_EMAIL = "sandbox@passerelle-sandbox.iam.gserviceaccount.com"
DEFAULT_SPREADSHEET = "1PasserelleSandboxSpreadsheet000000000000000"
SHEET_KEYS = {"title", "sheetId", "rows"}
SPREADSHEET_KEYS = {"spreadsheetId", "title", "editors", "viewers", "sheets"}
ACCOUNT_KEYS = {"client_email", "private_key_id", "public_key"}
_ID = re.compile(r"[A-Za-z0-9_-]{10,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class GoogleError(Exception):
    """An API answer in Google's shape ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, status: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code, status)
        self.code, self.status, self.message = code, status, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class OAuthError(Exception):
    """A token endpoint answer ``{"error", "error_description"}`` (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, code: int = 400) -> None:
        super().__init__(error)
        self.code, self.error, self.description = code, error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_argument(message: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT", message)


def _keys(kind: str, row: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"every {kind} must be an object; got {row!r}")
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"unknown {kind} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return row


def _emails(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) and _EMAIL.fullmatch(e) for e in value):
        raise ValueError(f"{where} must be a list of e-mail addresses")
    return [e.lower() for e in value]


def parse_account(row: Any) -> dict[str, Any]:
    account = _keys("service account", row, ACCOUNT_KEYS)
    email = account.get("client_email")
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise ValueError(f"service account client_email must be an e-mail address; got {email!r}")
    pem = account.get("public_key")
    try:
        key = load_pem_public_key(str(pem).encode())
    except (ValueError, TypeError):
        raise ValueError(f"service account {email}: public_key must be a PEM public key "
                         "(-----BEGIN PUBLIC KEY-----…)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"service account {email}: public_key must be an RSA key (RS256)")
    return {"client_email": email.lower(), "private_key_id": str(account.get("private_key_id") or ""),
            "public_key": str(pem).strip() + "\n"}


def _cell(value: Any, where: str) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError(f"{where}: a cell is text, a number, true/false or null")
    return "" if value is None else value


def parse_spreadsheet(row: Any) -> dict[str, Any]:
    sheet_doc = _keys("spreadsheet", row, SPREADSHEET_KEYS)
    sid = sheet_doc.get("spreadsheetId", DEFAULT_SPREADSHEET)
    if not isinstance(sid, str) or not _ID.fullmatch(sid):
        raise ValueError(f"spreadsheetId must be 10 or more letters, digits, - or _; got {sid!r}")
    sheets = []
    for i, raw in enumerate(sheet_doc.get("sheets", [{"title": "Sheet1"}])):
        sheet = _keys("sheet", raw, SHEET_KEYS)
        title = sheet.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"spreadsheet {sid}: every sheet needs a title")
        rows = sheet.get("rows", [])
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ValueError(f"spreadsheet {sid}, sheet {title}: rows must be a list of lists of cells")
        sheets.append({"title": title, "sheetId": int(sheet.get("sheetId", i)),
                       "rows": [[_cell(c, f"sheet {title} row {n + 1}") for c in r] for n, r in enumerate(rows)]})
    if not sheets:
        raise ValueError(f"spreadsheet {sid}: a spreadsheet has at least one sheet")
    if len({s["title"].lower() for s in sheets}) != len(sheets):
        raise ValueError(f"spreadsheet {sid}: sheet titles must be unique")
    return {"spreadsheetId": sid, "title": str(sheet_doc.get("title") or "Passerelle sandbox"),
            "editors": _emails(sheet_doc.get("editors", [DEFAULT_EMAIL]), f"spreadsheet {sid}: editors"),
            "viewers": _emails(sheet_doc.get("viewers", []), f"spreadsheet {sid}: viewers"), "sheets": sheets}


def parse_document(document: Any, default_account: dict[str, Any]) -> dict[str, Any]:
    doc = _keys("document", document if document is not None else {},
                {"service_accounts", "spreadsheets", "token_lifetime_seconds"})
    accounts = {}
    for raw in doc.get("service_accounts", [default_account]):
        account = parse_account(raw)
        accounts[account["client_email"]] = account
    spreadsheets = {}
    for raw in doc.get("spreadsheets", [{}]):
        parsed = parse_spreadsheet(raw)
        if parsed["spreadsheetId"] in spreadsheets:
            raise ValueError(f"duplicate spreadsheetId {parsed['spreadsheetId']}")
        spreadsheets[parsed["spreadsheetId"]] = parsed
    lifetime = doc.get("token_lifetime_seconds", 3599)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 1 <= lifetime <= 3600:
        raise ValueError("token_lifetime_seconds must be an integer from 1 to 3600 (Google: 3599)")
    return {"accounts": accounts, "spreadsheets": spreadsheets, "token_lifetime": lifetime}
