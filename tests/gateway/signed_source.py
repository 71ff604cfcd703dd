"""A signed vendor for the gateway's tests only (registered through `create_app(sources=…)`, never in
`default_sources`): it signs every call, shakes hands by GET or by a Slack-like POST, and posts forms.

Its dialect, as a vendor's documentation would put it:
- `X-Test-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">` on a POST, of `"{timestamp}.{query}"`
  on a GET; `X-Test-Timestamp` in Unix seconds; calls signed over 300 s away are refused.
- Handshakes: `GET …?challenge=abc` is answered `abc`; a POST `{"type": "url_verification", "challenge": "x"}`
  is answered `{"challenge": "x"}`.
- Events: a form body `EventId=ev-1&Event=ticket.created&TicketId=810&…`; `EventId` is the event id.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from passerelle.gateway.sources import (
    Answer,
    Call,
    FieldKey,
    HmacSignature,
    InvalidEnvelope,
    Source,
    SourceError,
    call_envelope,
    query_challenge,
    url_verification,
)
from passerelle.store.inbox import Delivery

SIGNATURE = HmacSignature(header="X-Test-Signature", prefix="sha256=", template="{timestamp}.{body}",
                          get_template="{timestamp}.{query}", timestamp_header="X-Test-Timestamp",
                          max_age_seconds=300)


class SignedFormSource(Source):
    name: ClassVar[str] = "testvendor"
    summary: ClassVar[str] = "A signed test vendor"
    description: ClassVar[str] = "Signed form posts, GET and POST handshakes (tests only)."
    media_types: ClassVar[tuple[str, ...]] = ("application/x-www-form-urlencoded",)
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    signature = SIGNATURE
    dedupe = (FieldKey("form.EventId"),)

    def handshake(self, call: Call) -> Answer | None:
        return query_challenge(call) or url_verification(call)

    def deliveries(self, call: Call) -> list[Delivery]:
        if call.method == "GET":
            raise SourceError("a GET carries only the handshake (?challenge=…)")
        envelope = call_envelope(call, json_body=False)
        form: dict[str, Any] = envelope.get("form", {})
        for field in ("Event", "TicketId"):
            if not isinstance(form.get(field), str) or not form[field]:
                raise InvalidEnvelope(f"form field '{field}' is missing", field)
        return [Delivery(self.name, call.link, self.event_id(envelope, call=call), form["Event"],
                         f"ticket:{form['TicketId']}", envelope)]


def form_body(**fields: str) -> bytes:
    return urlencode(fields).encode()


def signed_headers(secret: bytes, body: bytes = b"", query: bytes = b"", method: str = "POST",
                   at: float | None = None) -> dict[str, str]:
    """The headers the vendor sends with a call signed at `at` (now by default)."""
    timestamp = str(int(time.time() if at is None else at))
    headers = {"X-Test-Timestamp": timestamp,
               "X-Test-Signature": SIGNATURE.sign(secret, body, timestamp, query, method)}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers
