"""OKAST platform events (../shared/seeds/okast-zapier.txt; API-NOTES §7; the payload contract: docs/contracts.md,
"OKAST"), one link per OKAST connection: `POST /hooks/okast/{connection}?token=…` (`passerelle hooks add okast
--link <connection> --secret-env OKAST_API_KEY`).

- Caller: the link's URL token (as every source), then **the platform's API key**, which OKAST sends with each call
  in `X-Api-Key` (or `Authorization: Bearer <key>`): compared in constant time with the connection's key, kept as
  the link's secret (the Prefect Secret block `hook-okast-<connection>`, read once and cached by the gateway, as
  iAdvize's signing secret is: `passerelle hooks secret okast --link <connection> --secret-env OKAST_API_KEY`).
  A missing or wrong key is 401 naming the header and the fix; nothing is stored.
- Body: one JSON object `{event_id, event, occurred_at, user: {id, email, first_name, last_name}, …}`. `event` must
  be one of OKAST's 13 events (422 listing them), `event_id` a non-empty string or whole number, `user` an object
  whose `email` is an e-mail address, `occurred_at` (when sent) an ISO 8601 time: else 422 naming the field.
- Event id: `event_id:<event_id>` (the same event sent twice is stored once). Event type: the event's name
  (`new_registration`…), the trigger `okast.<event>`. Entity key: `user:<e-mail, lower-cased>`: one user's events
  are applied in the order received.
- The inbox row's `payload` is the JSON body as received.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, ClassVar

from passerelle.gateway.sources.base import FieldKey, InvalidEnvelope, Source, Unauthorized, load_json
from passerelle.gateway.sources.calls import Call
from passerelle.store.inbox import Delivery

EVENTS = ("new_registration", "new_subscription", "new_purchase", "subscription_cancelled", "forgot_password",
          "new_gift", "gift_confirmation", "payment_confirmation", "payment_failed", "payment_incomplete",
          "new_free_copy", "password_created", "comment_reported")
"""OKAST's 13 events (connectors/okast/events.py holds their payloads; the gateway does not import connectors)."""
KEY_HEADER = "X-Api-Key"
MAX_EMAIL = 254


class ApiKeyHeader:
    """OKAST's proof: the platform's API key itself in `X-Api-Key` (or `Authorization: Bearer <key>`), compared in
    constant time with the link's secret. A `Signature` (passerelle/gateway/sources/signatures.py) in all but name:
    the key is a shared secret sent as is, not an HMAC."""

    header = KEY_HEADER

    def __init__(self, fix: str) -> None:
        self.fix = fix

    def presented(self, call: Call) -> str | None:
        value = call.headers.get(self.header, "").strip()
        if value:
            return value
        scheme, _, token = call.headers.get("authorization", "").strip().partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None

    def verify(self, call: Call, secret: bytes, now: float | None = None) -> None:
        presented = self.presented(call)
        if presented is None:
            raise Unauthorized(f"missing {self.header} header: OKAST sends the platform's API key with each call "
                               f"({self.fix.format(link=call.link)})")
        if not hmac.compare_digest(presented.encode(), secret):
            raise Unauthorized(f"{self.header} is not the API key of OKAST connection {call.link[:64]!r}: "
                               f"{self.fix.format(link=call.link[:64])}")


OKAST_KEY = ApiKeyHeader("check the key in the OKAST editor under Plateforme > Configuration and set it with "
                         "`passerelle hooks secret okast --link {link} --secret-env OKAST_API_KEY`")


def _object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidEnvelope("the body must be a JSON object (one OKAST event)", "$")
    return document


def _event(document: dict[str, Any]) -> str:
    if "event" not in document:
        raise InvalidEnvelope(f"envelope field 'event' is missing; it names the event, one of {', '.join(EVENTS)}",
                              "event")
    event = document["event"]
    if event not in EVENTS:
        raise InvalidEnvelope(f"envelope field 'event' is {str(event)[:60]!r}, not an OKAST event; known events: "
                              f"{', '.join(EVENTS)}", "event")
    return event


def _event_id(document: dict[str, Any]) -> None:
    value = document.get("event_id")
    if value is None:
        raise InvalidEnvelope("envelope field 'event_id' is missing: the event cannot be deduplicated", "event_id")
    if not ((isinstance(value, str) and value.strip()) or (type(value) is int and value >= 0)):
        raise InvalidEnvelope(f"envelope field 'event_id' must be a non-empty string or a whole number; got "
                              f"{value!r:.40}", "event_id")


def _user_key(document: dict[str, Any]) -> str:
    user = document.get("user")
    if user is None:
        raise InvalidEnvelope("envelope field 'user' is missing (the user the event is about: {id, email, "
                              "first_name, last_name})", "user")
    if not isinstance(user, dict):
        raise InvalidEnvelope("envelope field 'user' must be an object {id, email, first_name, last_name}", "user")
    email = user.get("email")
    if not isinstance(email, str) or not email.strip():
        raise InvalidEnvelope("envelope field 'user.email' is missing or not a string", "user.email")
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > MAX_EMAIL:
        raise InvalidEnvelope(f"envelope field 'user.email' must be an e-mail address such as lea@example.org; got "
                              f"{email!r:.60}", "user.email")
    for name in ("first_name", "last_name"):
        if user.get(name) is not None and not isinstance(user[name], str):
            raise InvalidEnvelope(f"envelope field 'user.{name}' must be a string", f"user.{name}")
    return f"user:{email.lower()}"


def _occurred_at(document: dict[str, Any]) -> None:
    value = document.get("occurred_at")
    if value is None:
        return
    try:
        datetime.fromisoformat(value) if isinstance(value, str) else datetime.fromisoformat("")
    except ValueError:
        raise InvalidEnvelope(f"envelope field 'occurred_at' must be an ISO 8601 time such as 2026-03-15T14:03:22Z; "
                              f"got {value!r:.40}", "occurred_at") from None


class OkastSource(Source):
    name: ClassVar[str] = "okast"
    summary: ClassVar[str] = "Receive OKAST platform events (one link per OKAST connection)"
    description: ClassVar[str] = (
        "OKAST event receiver (the link is the OKAST connection's name). Each call carries the platform's API key "
        f"in `{KEY_HEADER}` (or `Authorization: Bearer <key>`), checked in constant time against the connection's "
        "key (401 otherwise, nothing stored). Body: one event `{event_id, event, occurred_at, user: {id, email, "
        "first_name, last_name}, …}`, `event` one of: " + ", ".join(EVENTS) + " (422 otherwise, naming the field). "
        "Deduplicated on `event_id`; one user's events are applied in order. Answers 200 `{accepted, duplicates}` "
        "once stored.")
    example: ClassVar[Any] = {"event_id": "evt_01HZX3K901QF7M2V8C4T6R", "event": "new_registration",
                              "occurred_at": "2026-03-15T14:03:22Z", "registered_at": "2026-03-15T14:03:22Z",
                              "user": {"id": "18342", "email": "lea.roy@example.org", "first_name": "Léa",
                                       "last_name": "Roy"}}
    signature = OKAST_KEY
    dedupe = (FieldKey("event_id"),)

    def deliveries(self, call: Call) -> list[Delivery]:
        document = _object(load_json(call.body))
        event = _event(document)
        _event_id(document)
        key = _user_key(document)
        _occurred_at(document)
        return [Delivery(self.name, call.link, self.event_id(document, call=call), event, key, document,
                         raw=call.body)]
