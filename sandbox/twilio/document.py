"""Twilio emulator, part 1: the state document and Twilio's error shape.

The document (``PUT|GET /_sandbox/twilio/state``; everything optional, unknown keys refused):

    {"accounts": [{"sid": "AC00000000000000000000000000000001", "auth_token": "sandbox-twilio-auth-token",
                   "friendly_name": "Passerelle sandbox", "status": "active",
                   "phone_numbers": [{"phone_number": "+15005550006", "sms": true}],
                   "messaging_services": [{"sid": "MG00000000000000000000000000000001",
                                           "phone_numbers": ["+15005550006"]}]}],
     "messages": [<message resources, as the API answers them>]}
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

DEFAULT_ACCOUNT = "AC00000000000000000000000000000001"
DEFAULT_TOKEN = "sandbox-twilio-auth-token"
DEFAULT_NUMBER = "+15005550006"
DEFAULT_SERVICE = "MG00000000000000000000000000000001"
ACCOUNT_STATUSES = ("active", "suspended", "closed")
ACCOUNT_KEYS = {"sid", "auth_token", "friendly_name", "status", "phone_numbers", "messaging_services"}
NUMBER_KEYS = {"phone_number", "sms"}
SERVICE_KEYS = {"sid", "phone_numbers"}
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SID = {"AC": re.compile(r"AC[0-9a-fA-F]{32}"), "MG": re.compile(r"MG[0-9a-fA-F]{32}"),
       "SM": re.compile(r"SM[0-9a-fA-F]{32}")}


class TwilioError(Exception):
    """An answer in Twilio's error shape ``{code, message, more_info, status}``."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, code)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status}


def bad_request(code: int, message: str) -> TwilioError:
    return TwilioError(400, code, message)


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def rfc2822(moment: datetime | None = None) -> str:
    """Twilio's dates: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime((moment or datetime.now(UTC)).replace(microsecond=0))


def _keys(kind: str, row: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"every {kind} must be an object; got {row!r}")
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"unknown {kind} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return row


def _sid(value: Any, prefix: str, kind: str) -> str:
    if not isinstance(value, str) or not SID[prefix].fullmatch(value):
        raise ValueError(f"{kind} sid must be {prefix} followed by 32 hexadecimal digits; got {value!r}")
    return value


def parse_account(row: Any) -> dict[str, Any]:
    account = _keys("account", row, ACCOUNT_KEYS)
    sid = _sid(account.get("sid", DEFAULT_ACCOUNT), "AC", "account")
    status = account.get("status", "active")
    if status not in ACCOUNT_STATUSES:
        raise ValueError(f"account {sid}: status must be one of {ACCOUNT_STATUSES}; got {status!r}")
    token = account.get("auth_token", DEFAULT_TOKEN)
    if not isinstance(token, str) or not token:
        raise ValueError(f"account {sid}: auth_token must be a non-empty string")
    numbers: dict[str, dict[str, Any]] = {}
    for raw in account.get("phone_numbers", [{"phone_number": DEFAULT_NUMBER}]):
        number = _keys("phone number", raw, NUMBER_KEYS)
        value = number.get("phone_number")
        if not isinstance(value, str) or not E164.fullmatch(value):
            raise ValueError(f"account {sid}: phone_number must be E.164 (+15005550006); got {value!r}")
        numbers[value] = {"phone_number": value, "sms": bool(number.get("sms", True))}
    services: dict[str, dict[str, Any]] = {}
    for raw in account.get("messaging_services", [{"sid": DEFAULT_SERVICE, "phone_numbers": list(numbers)}]):
        service = _keys("messaging service", raw, SERVICE_KEYS)
        service_sid = _sid(service.get("sid"), "MG", "messaging service")
        pool = list(service.get("phone_numbers", []))
        strangers = [n for n in pool if n not in numbers]
        if strangers:
            raise ValueError(f"messaging service {service_sid}: numbers {strangers} are not the account's")
        services[service_sid] = {"sid": service_sid, "phone_numbers": pool}
    return {"sid": sid, "auth_token": token, "friendly_name": str(account.get("friendly_name") or "Passerelle sandbox"),
            "status": status, "phone_numbers": numbers, "messaging_services": services,
            "date_created": rfc2822()}


def parse_document(document: Any) -> dict[str, Any]:
    doc = _keys("document", document if document is not None else {}, {"accounts", "messages"})
    accounts = {}
    for raw in doc.get("accounts", [{}]):
        account = parse_account(raw)
        if account["sid"] in accounts:
            raise ValueError(f"duplicate account sid {account['sid']}")
        accounts[account["sid"]] = account
    messages = []
    for raw in doc.get("messages", []):
        if not isinstance(raw, dict):
            raise ValueError("every message must be an object (a message resource)")
        sid = _sid(raw.get("sid"), "SM", "message")
        if raw.get("account_sid") not in accounts:
            raise ValueError(f"message {sid}: account_sid {raw.get('account_sid')!r} is not an account of the document")
        messages.append(dict(raw))
    return {"accounts": accounts, "messages": messages}
