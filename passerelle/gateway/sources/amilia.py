"""Amilia webhooks (API-NOTES §1): unsigned POSTs of `{"OrganizationId", "Context", "Action", "Name",
"EventTime", "Payload"}`, retried by Amilia at a regular interval for ~72 h, then dropped.

- Caller check: the per-link URL token (`?token=` or header `X-Passerelle-Token`), since Amilia signs nothing.
- Event id: Amilia sends none, so a single envelope's id is the SHA-256 of the raw body (a retry of the same
  message has the same bytes); in an array of envelopes each element's id is the SHA-256 of its canonical
  JSON (sorted keys, no spaces).
- Entity key (events of one entity are applied in order): Person → `person:{Payload.Id}`, Account →
  `account:{Payload.Id}`, Registration → `person:{Payload.Person.Id}` (a thin payload without `Person`:
  `registration:{Payload.Id}`), MembershipPurchased → `person:{Payload.PersonId}`, any other context →
  `{context in lower case}:{Payload.Id}`. Ids are written without quotes: `{"Id": 501}` and the thin
  Delete payload `{"Id": "501"}` give the same key.
- The inbox row's `payload` is the whole envelope, as received.
- `OrganizationId` must be numeric (Amilia always sends the number). Whether it is the link's organisation is
  checked by the drain, which knows the link's credentials (an id, or a store slug whose number Amilia's
  answers give): an event of another organisation is dead there, never applied (docs/amilia-webhooks.md,
  "The organisation check").
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from passerelle.gateway.sources.base import (
    InvalidEnvelope,
    KnownLink,
    Source,
    load_json,
    verify_url_token,
)
from passerelle.store.inbox import Delivery

CONTEXTS = ("Program", "Account", "Person", "FacilityBooking", "MembershipPurchased", "MerchandisePurchased",
            "MultiPassPurchased", "DonationPurchased", "Activity", "Registration", "WaitListRegistration",
            "Alert", "Block")
ACTIONS = ("Create", "Update", "Delete")
MAX_ENVELOPES = 1000  # per call; Amilia itself sends one envelope per call


MAX_ID = 2**63 - 1  # Amilia's ids are whole numbers; the drain reads them as integers


def _id_text(value: Any) -> str | None:
    """An Amilia id as it appears in entity keys (501 and "501" are the same id), or None when `value` is not
    one: a whole number from 0 to MAX_ID, as a JSON number or a string of ASCII digits (spaces around ok)."""
    if type(value) is int:  # not bool; bounded before str(): a huge int would not even convert
        return str(value) if 0 <= value <= MAX_ID else None
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID:
        return str(int(text))
    return None


def _id(value: Any, field: str) -> str:
    text = _id_text(value)
    if text is None:
        raise InvalidEnvelope(f"envelope field '{field}' must be an id: a whole number from 0 to {MAX_ID}, "
                              f"as a number or a string of digits; got {value!r:.40}", field)
    return text


def _required(envelope: dict[str, Any], key: str, prefix: str) -> Any:
    if key not in envelope:
        raise InvalidEnvelope(f"envelope field '{prefix}{key}' is missing", prefix + key)
    return envelope[key]


def _one_of(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidEnvelope(f"envelope field '{field}' must be one of {', '.join(allowed)}; "
                              f"got {value!r:.40}", field)
    return value


def entity_key(context: str, payload: dict[str, Any], prefix: str = "") -> str:
    p = f"{prefix}Payload."
    if context == "Registration":
        person = payload.get("Person")
        if isinstance(person, dict) and person.get("Id") is not None:
            return f"person:{_id(person['Id'], p + 'Person.Id')}"
        return f"registration:{_id(_required(payload, 'Id', p), p + 'Id')}"
    if context == "MembershipPurchased":
        return f"person:{_id(_required(payload, 'PersonId', p), p + 'PersonId')}"
    return f"{context.lower()}:{_id(_required(payload, 'Id', p), p + 'Id')}"


def check_envelope(envelope: Any, prefix: str = "") -> tuple[str, str]:
    """Validate one envelope; returns (event_type, entity_key). `prefix` locates it in an array."""
    if not isinstance(envelope, dict):
        where = prefix.rstrip(".") or "$"
        raise InvalidEnvelope(f"{where}: expected an Amilia envelope (a JSON object with OrganizationId, "
                              f"Context, Action, Name, EventTime, Payload)", where)
    org = _required(envelope, "OrganizationId", prefix)
    if _id_text(org) is None:
        raise InvalidEnvelope(f"envelope field '{prefix}OrganizationId' must be the numeric organisation id",
                              prefix + "OrganizationId")
    context = _one_of(_required(envelope, "Context", prefix), CONTEXTS, prefix + "Context")
    action = _one_of(_required(envelope, "Action", prefix), ACTIONS, prefix + "Action")
    for optional in ("Name", "EventTime"):
        if envelope.get(optional) is not None and not isinstance(envelope[optional], str):
            raise InvalidEnvelope(f"envelope field '{prefix}{optional}' must be a string", prefix + optional)
    payload = _required(envelope, "Payload", prefix)
    if not isinstance(payload, dict):
        raise InvalidEnvelope(f"envelope field '{prefix}Payload' must be an object", prefix + "Payload")
    return f"{context}.{action}", entity_key(context, payload, prefix)


class AmiliaSource(Source):
    name: ClassVar[str] = "amilia"
    summary: ClassVar[str] = "Receive Amilia webhooks"
    description: ClassVar[str] = (
        "Amilia webhook receiver (paste this URL, with its `token`, into Amilia's webhook subscription). "
        "Body: one Amilia envelope `{OrganizationId, Context, Action, Name, EventTime, Payload}` or a JSON "
        "array of envelopes. The link token goes in the `token` query parameter (or the "
        "`X-Passerelle-Token` header). Answers 200 `{accepted, duplicates}` only once the deliveries are "
        "durably stored in the inbox; a re-delivery is acknowledged and not stored twice.")
    example: ClassVar[Any] = {"OrganizationId": 8008, "Context": "Person", "Action": "Create",
                              "Name": "Passerelle", "EventTime": "2026-03-15T14:03:22.120000Z",
                              "Payload": {"Id": 501, "AccountId": 77, "FirstName": "Léa", "LastName": "Roy",
                                          "Email": "lea@example.org"}}

    def authenticate(self, request: Request, link: KnownLink) -> None:  # before the body is read
        verify_url_token(request, link)

    def parse(self, body: bytes, link: str) -> list[Delivery]:
        document = load_json(body)
        if isinstance(document, list):
            if not document:
                raise InvalidEnvelope("an empty array holds no envelope", "$")
            if len(document) > MAX_ENVELOPES:
                raise InvalidEnvelope(f"at most {MAX_ENVELOPES} envelopes per call, got {len(document)}", "$")
            out = []
            for i, envelope in enumerate(document):
                event_type, key = check_envelope(envelope, f"[{i}].")
                out.append(Delivery(self.name, link, self.event_id(envelope), event_type, key, envelope))
            return out
        event_type, key = check_envelope(document)
        return [Delivery(self.name, link, self.event_id(document, raw=body), event_type, key, document, raw=body)]
