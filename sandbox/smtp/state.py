"""SMTP sink, state: the accounts it accepts, its refusals and faults, and every message it received
(docs/connector-smtp.md, "The sandbox's SMTP sink").

The state document (``PUT``/``GET /_sandbox/smtp/state``)::

    {"users": [{"username": str, "password": str}, ...],
     "auth_required": bool,          # MAIL FROM refused (530) before a successful AUTH (default true)
     "auth_require_tls": bool,       # AUTH offered only after STARTTLS or on the TLS port (default false)
     "refuse_recipients": [str, ...],  # RCPT TO answered 550 5.1.1 (compared without case)
     "data_fault": null | {"code": 451, "message": "..."} | {"disconnect": true},
     "messages": [message, ...]}

``data_fault`` hits every DATA until it is cleared: a code answers it and keeps nothing; ``disconnect`` keeps
the message and closes the connection before answering (the delivered mail whose answer was lost).
"""

from __future__ import annotations

import datetime as dt
import threading
from email import policy
from email.parser import BytesParser
from typing import Any

DEFAULT_USER = {"username": "sandbox", "password": "sandbox-smtp-password"}


def _data_fault(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, dict) and raw.get("disconnect") is True:
        return {"disconnect": True}
    code = raw.get("code") if isinstance(raw, dict) else None
    if isinstance(code, int) and 400 <= code <= 599:
        return {"code": code, "message": str(raw.get("message") or "Requested action aborted")}
    raise ValueError("data_fault must be null, {'code': 400-599, 'message': '...'} or {'disconnect': true}")


class SmtpState:
    """What the sink accepts and what it received (every method takes ``lock``: routes run in threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        users = document.get("users", [DEFAULT_USER])
        if not isinstance(users, list) or not all(
                isinstance(u, dict) and isinstance(u.get("username"), str) and isinstance(u.get("password"), str)
                for u in users):
            raise ValueError("users must be a list of {'username': str, 'password': str}")
        refused = document.get("refuse_recipients", [])
        if not isinstance(refused, list) or not all(isinstance(r, str) for r in refused):
            raise ValueError("refuse_recipients must be a list of addresses")
        messages = document.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages must be a list of objects")
        flags = {k: document.get(k, default) for k, default in (("auth_required", True), ("auth_require_tls", False))}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError("auth_required and auth_require_tls must be true or false")
        fault = _data_fault(document.get("data_fault"))
        with self.lock:
            self.users = {u["username"]: u["password"] for u in users}
            self.refused = {r.strip().lower() for r in refused}
            self.auth_required = flags["auth_required"]
            self.auth_require_tls = flags["auth_require_tls"]
            self.data_fault = fault
            self.messages = [dict(m) for m in messages]

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"users": [{"username": u, "password": p} for u, p in self.users.items()],
                    "auth_required": self.auth_required, "auth_require_tls": self.auth_require_tls,
                    "refuse_recipients": sorted(self.refused), "data_fault": self.data_fault,
                    "messages": [dict(m) for m in self.messages]}

    # -- what the SMTP session asks ------------------------------------------------------------------------
    def login(self, username: str, password: str) -> bool:
        with self.lock:
            return username in self.users and self.users[username] == password

    def refuses(self, address: str) -> bool:
        with self.lock:
            return address.strip().lower() in self.refused

    def record(self, *, mail_from: str, rcpt_tos: list[str], content: bytes, tls: bool,
               auth_user: str | None) -> dict[str, Any]:
        """Keep one received message, parsed: envelope, headers in order, text and HTML bodies."""
        parsed = BytesParser(policy=policy.default).parsebytes(content)
        text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
        with self.lock:
            message = {
                "id": len(self.messages) + 1,
                "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "tls": tls, "auth_user": auth_user,
                "envelope_from": mail_from, "envelope_to": list(rcpt_tos),
                "headers": [[name, str(value)] for name, value in parsed.items()],
                "message_id": parsed.get("Message-ID"), "subject": parsed.get("Subject"),
                "from": parsed.get("From"), "to": parsed.get("To"), "cc": parsed.get("Cc"),
                "reply_to": parsed.get("Reply-To"),
                "text": text.get_content() if text is not None else None,
                "html": html.get_content() if html is not None else None,
                "size": len(content), "raw": content.decode("utf-8", "replace"),
            }
            self.messages.append(message)
            return message
