"""Twilio emulator, part 2: accounts, their numbers and Messaging Services, and the messages sent.

Rules of ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded; API-NOTES §10, the OAS, Twilio's
error codes): ``To`` required (21604) and E.164 (21211); a sender: ``From`` (21603 when neither it nor
``MessagingServiceSid``) that is a number of the account (21659 when it is not, 21606 when it is but cannot send
SMS), or a Messaging Service of the account; ``Body`` required (21602), at most 1,600 characters (21617). The
answer is 201 with the message resource: ``sid`` SM + 32 hex digits, ``status`` queued (accepted, ``from``
null and ``num_segments`` "0" when the service picks the sender), ``num_segments`` as GSM-7 / UCS-2 count them.

`reset`, `load` and `dump` take `lock` themselves; the routes hold `lock` around every other call.
"""

from __future__ import annotations

import math
import secrets
import threading
from email.utils import parsedate_to_datetime
from typing import Any

from sandbox.budget import RequestBudget
from sandbox.twilio.document import E164, TwilioError, bad_request, parse_document, rfc2822

API = "/2010-04-01"
MAX_BODY = 1600
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def segments(body: str) -> int:
    """SMS segments: 160 GSM-7 characters in one, 153 per part beyond; 70 / 67 for UCS-2 (any other character)."""
    single, part = (160, 153) if set(body) <= GSM7 else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / part)


class TwilioState:
    """The Twilio accounts of the sandbox and every message sent."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.budget = RequestBudget()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.load({})
            self.budget.set(None)

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.accounts: dict[str, dict[str, Any]] = fresh["accounts"]
            self.messages: list[dict[str, Any]] = fresh["messages"]

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"accounts": [self._dump_account(a) for a in self.accounts.values()],
                    "messages": [dict(m) for m in self.messages]}

    @staticmethod
    def _dump_account(account: dict[str, Any]) -> dict[str, Any]:
        return {"sid": account["sid"], "auth_token": account["auth_token"], "friendly_name": account["friendly_name"],
                "status": account["status"], "phone_numbers": [dict(n) for n in account["phone_numbers"].values()],
                "messaging_services": [{"sid": s["sid"], "phone_numbers": list(s["phone_numbers"])}
                                       for s in account["messaging_services"].values()]}

    # --- auth --------------------------------------------------------------------------------------------
    def authenticate(self, user: str, password: str, path_account: str) -> dict[str, Any]:
        """The account of ``AccountSid:AuthToken``; it must be the account the path names (else 20003)."""
        account = self.accounts.get(user)
        if account is None or not secrets.compare_digest(account["auth_token"], password) or user != path_account:
            raise TwilioError(401, 20003, "Authenticate")
        return account

    # --- messages ----------------------------------------------------------------------------------------
    def send(self, account: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
        to = form.get("To", "").strip()
        if not to:
            raise bad_request(21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to):
            raise bad_request(21211, f"The 'To' number {to} is not a valid phone number.")
        sender, service = form.get("From", "").strip() or None, form.get("MessagingServiceSid", "").strip() or None
        if sender is None and service is None:
            raise bad_request(21603, "A 'From' phone number is required.")
        if service is not None and service not in account["messaging_services"]:
            raise bad_request(21701, f"The Messaging Service Sid {service} is invalid.")
        if sender is not None:
            number = account["phone_numbers"].get(sender)
            if number is None:
                raise bad_request(21659, f"'From' {sender} is not a Twilio phone number or Short Code country "
                                  "mismatch")
            if not number["sms"]:
                raise bad_request(21606, f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                                  "number or short code for your account.")
        body = form.get("Body", "")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            raise bad_request(21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise bad_request(21617, "The concatenated message body exceeds the 1600 character limit.")
        sid = "SM" + secrets.token_hex(16)
        now = rfc2822()
        picked = sender is None
        message = {"account_sid": account["sid"], "api_version": "2010-04-01", "body": body, "date_created": now,
                   "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
                   "error_message": None, "from": sender, "messaging_service_sid": service, "num_media": "0",
                   "num_segments": "0" if picked else str(segments(body)), "price": None, "price_unit": "USD",
                   "sid": sid, "status": "accepted" if picked else "queued",
                   "status_callback": form.get("StatusCallback"), "to": to,
                   "subresource_uris": {"media": f"{API}/Accounts/{account['sid']}/Messages/{sid}/Media.json"},
                   "uri": f"{API}/Accounts/{account['sid']}/Messages/{sid}.json"}
        self.messages.append(message)
        return message

    def messages_of(self, account_sid: str, to: str | None, sender: str | None, date_sent: str | None
                    ) -> list[dict[str, Any]]:
        """The account's messages, newest first, filtered as ``GET Messages.json`` does."""
        rows = [m for m in reversed(self.messages) if m["account_sid"] == account_sid
                and to in (None, m["to"]) and sender in (None, m["from"])]
        if date_sent:
            rows = [m for m in rows if _day(m.get("date_sent") or m["date_created"]) == date_sent]
        return rows

    def message(self, account_sid: str, sid: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["sid"] == sid and m["account_sid"] == account_sid), None)

    @staticmethod
    def render(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k != "status_callback"}


def _day(stamp: str) -> str:
    return parsedate_to_datetime(stamp).date().isoformat()
