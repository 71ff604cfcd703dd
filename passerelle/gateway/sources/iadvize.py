"""iAdvize (API-NOTES §3; iadvize/documentation `docs/webhooks.md`, `docs/build-apps.md` "App security"), one
link per iAdvize site (project), the link name being the site id (`passerelle hooks add iadvize --link 4242`).

Two receivers share the link, its URL token and its signing secret (`passerelle hooks secret iadvize`):

`POST /hooks/iadvize/{site}` — iAdvize webhooks: JSON `{eventId, eventType, platform, projectId, clientId,
conversationId, channel, visitorExternalId, createdAt, sentAt, operatorIds[] | operatorId}`.
- Signature: `X-iAdvize-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (`signatures.IADVIZE`; iAdvize signs a
  GET's raw query string instead, but sends its webhooks as POSTs only, so GET is not served). iAdvize's public
  documentation describes no URL validation handshake, so there is none.
- Event id: the `X-iAdvize-CorrelationId` header (the same on iAdvize's two retries, 10 s then 20 s later; stored as
  `x-iadvize-correlationid:<uuid>`), else the payload's `eventId` (`eventId:<uuid>`).
- Event type: `eventType`. Entity key: `conversation:{conversationId}` (the UUID in its canonical lower-case form,
  so that a conversation's webhooks and its escalation are applied in order), `event:{event id}` for another
  event that names no conversation (`user.*`, `visitor.updated`): stored too, ignored by the archival.
- Required (422 naming the field): `eventType` (a string), `eventId` when there is no correlation header;
  for `v2.conversation.*` events `conversationId` (a UUID) and `projectId` (a whole number).
  Whether `projectId` is the link's site is for the drain to check (it knows the install), as for Amilia.

`POST /hooks/iadvize/{site}/escalations` — an agent's escalation (the close form's escalation box), signed the
same way; event type `escalation`, event id `escalation:{conversationId}` (one escalation per conversation: a
re-send is a duplicate), the contract in docs/iadvize-zendesk.md ("Escalation contract").

The inbox row's `payload` is the JSON body as received.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any, ClassVar

from passerelle.gateway.sources.base import FieldKey, HeaderKey, InvalidEnvelope, Source, load_json
from passerelle.gateway.sources.calls import Call
from passerelle.gateway.sources.signatures import IADVIZE
from passerelle.store.inbox import Delivery

CORRELATION_HEADER = "X-iAdvize-CorrelationId"
CONVERSATION_EVENTS = ("v2.conversation.closed", "v2.conversation.pushed")
ESCALATION = "escalation"
MAX_FIELDS = 200  # values for the escalation form's fields, per escalation
MAX_NOTE = 65536  # characters of the agent's note (Zendesk's comment limit is far above any one-line summary)


def _object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidEnvelope("the body must be a JSON object (one iAdvize event)", "$")
    return document


def conversation_id(value: Any, field: str = "conversationId") -> str:
    """An iAdvize conversation id (a UUID) in canonical form, or 422 naming `field`."""
    if value is None:
        raise InvalidEnvelope(f"envelope field '{field}' is missing", field)
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else str(uuid.UUID(""))
    except ValueError:
        raise InvalidEnvelope(f"envelope field '{field}' must be an iAdvize conversation id (a UUID such as "
                              f"4c8c7408-f73c-42cd-89e9-afbbee7d9024); got {value!r:.60}", field) from None


def _whole(value: Any, field: str) -> int:
    if type(value) is not int or value < 0:
        raise InvalidEnvelope(f"envelope field '{field}' must be a whole number; got {value!r:.40}", field)
    return value


def _text(document: dict[str, Any], key: str, field: str, required: bool = False) -> str | None:
    value = document.get(key)
    if value is None:
        if required:
            raise InvalidEnvelope(f"envelope field '{field}' is missing", field)
        return None
    if not isinstance(value, str):
        raise InvalidEnvelope(f"envelope field '{field}' must be a string; got {type(value).__name__}", field)
    return value


class IadvizeSource(Source):
    name: ClassVar[str] = "iadvize"
    summary: ClassVar[str] = "Receive iAdvize webhooks (one link per iAdvize site)"
    description: ClassVar[str] = (
        "iAdvize webhook receiver (the link is the iAdvize site id; paste this URL, with its `token`, into the "
        "iAdvize app's webhook settings). Body: one iAdvize event `{eventId, eventType, platform, projectId, "
        "clientId, conversationId, channel, visitorExternalId, createdAt, sentAt, operatorIds | operatorId}`. "
        "Every call must carry `X-iAdvize-Signature: sha256=<hex HMAC-SHA256 of the raw body>` made with the "
        "link's signing secret (401 otherwise, nothing stored). Deduplicated on `X-iAdvize-CorrelationId` (the "
        "same on iAdvize's retries), else `eventId`. Answers 200 `{accepted, duplicates}` once stored.")
    example: ClassVar[Any] = {"eventId": "0f0bb3af-5035-4ba3-b3fb-ff4879a3a74d", "eventType": "v2.conversation.closed",
                              "platform": "ha", "projectId": 1549, "clientId": 335,
                              "conversationId": "4c8c7408-f73c-42cd-89e9-afbbee7d9024", "operatorIds": [15253],
                              "visitorExternalId": "63429889", "channel": "CHAT",
                              "createdAt": "2019-04-12T07:58:35.171Z", "sentAt": "2019-04-12T07:58:35.496Z"}
    signature = IADVIZE
    dedupe = (HeaderKey(CORRELATION_HEADER), FieldKey("eventId"))
    subpaths: ClassVar[dict[str, Source]]
    """Receivers served at `/hooks/iadvize/{link}/{subpath}` with this source's links and signing secrets
    (passerelle/gateway/app.py): the escalations."""

    def deliveries(self, call: Call) -> list[Delivery]:
        document = _object(load_json(call.body))
        event_type = _text(document, "eventType", "eventType", required=True)
        if not event_type.strip():
            raise InvalidEnvelope("envelope field 'eventType' must not be empty", "eventType")
        event_id = self.event_id(document, call=call)
        if not event_id.startswith(("x-iadvize-correlationid:", "eventId:")):  # neither header nor eventId
            raise InvalidEnvelope(f"envelope field 'eventId' is missing (and no {CORRELATION_HEADER} header was "
                                  f"sent): the event cannot be deduplicated", "eventId")
        if event_type in CONVERSATION_EVENTS:
            key = f"conversation:{conversation_id(document.get('conversationId'))}"
            if "projectId" not in document:
                raise InvalidEnvelope("envelope field 'projectId' is missing", "projectId")
            _whole(document["projectId"], "projectId")
        else:  # other events are stored as they come: keyed on their conversation when they name one
            key = f"event:{event_id}"
            with contextlib.suppress(InvalidEnvelope):
                key = f"conversation:{conversation_id(document.get('conversationId'))}"
        return [Delivery(self.name, call.link, event_id, event_type, key, document, raw=call.body)]


def _agent(document: dict[str, Any]) -> None:
    agent = document.get("agent")
    if agent is None:
        raise InvalidEnvelope("envelope field 'agent' is missing", "agent")
    if not isinstance(agent, dict):
        raise InvalidEnvelope("envelope field 'agent' must be an object {id, firstName, lastName}", "agent")
    if "id" not in agent:
        raise InvalidEnvelope("envelope field 'agent.id' is missing", "agent.id")
    _whole(agent["id"], "agent.id")
    for name in ("firstName", "lastName"):
        _text(agent, name, f"agent.{name}")


def _fields(value: Any) -> None:
    if not isinstance(value, list):
        raise InvalidEnvelope("envelope field 'fields' must be a list of {id, value}", "fields")
    if len(value) > MAX_FIELDS:
        raise InvalidEnvelope(f"envelope field 'fields' holds {len(value)} entries; at most {MAX_FIELDS}", "fields")
    for i, entry in enumerate(value):
        where = f"fields[{i}]"
        if not isinstance(entry, dict):
            raise InvalidEnvelope(f"envelope field '{where}' must be an object {{id, value}}", where)
        if "id" not in entry:
            raise InvalidEnvelope(f"envelope field '{where}.id' is missing", f"{where}.id")
        _whole(entry["id"], f"{where}.id")
        if "value" not in entry:
            raise InvalidEnvelope(f"envelope field '{where}.value' is missing", f"{where}.value")


def check_escalation(document: Any) -> str:
    """Validate an escalation body (docs/iadvize-zendesk.md, "Escalation contract"); its conversation id in
    canonical form. `InvalidEnvelope` (422) names the first field at fault."""
    document = _object(document)
    conversation = conversation_id(document.get("conversationId"))
    _agent(document)
    note = _text(document, "note", "note", required=True)
    if len(note) > MAX_NOTE:
        raise InvalidEnvelope(f"envelope field 'note' is {len(note)} characters; at most {MAX_NOTE}", "note")
    if document.get("fields") is not None:
        _fields(document["fields"])
    email = _text(document, "visitorEmail", "visitorEmail")
    if email is not None and (email.count("@") != 1 or " " in email.strip()):
        raise InvalidEnvelope("envelope field 'visitorEmail' must be an e-mail address (e.g. jane@example.com)",
                              "visitorEmail")
    at = _text(document, "escalatedAt", "escalatedAt")
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError:
            raise InvalidEnvelope("envelope field 'escalatedAt' must be an ISO 8601 time such as "
                                  "2026-03-15T14:03:22Z", "escalatedAt") from None
    return conversation


class IadvizeEscalationSource(Source):
    """`POST /hooks/iadvize/{site}/escalations`: served by the gateway as a subpath of `IadvizeSource` (its
    links, its token and its signing secret), never listed on its own."""

    name: ClassVar[str] = "iadvize"
    summary: ClassVar[str] = "Receive an agent's escalation of an iAdvize conversation"
    description: ClassVar[str] = (
        "An agent escalates an iAdvize conversation to an open Zendesk ticket (the close form's escalation box). "
        "Same link, `token` and signature as the iAdvize webhook receiver (`X-iAdvize-Signature: sha256=<hex "
        "HMAC-SHA256 of the raw body>`). Body: `{conversationId (UUID), agent: {id, firstName, lastName}, note, "
        "fields: [{id, value}], visitorEmail, escalatedAt}`; `conversationId`, `agent.id` and `note` (may be "
        "empty) are required (422 naming the field). One escalation per conversation: a re-send answers 200 "
        "with `duplicates: 1` and is not stored twice.")
    example: ClassVar[Any] = {"conversationId": "4c8c7408-f73c-42cd-89e9-afbbee7d9024",
                              "agent": {"id": 15253, "firstName": "Ana", "lastName": "Roy"},
                              "note": "Colis abîmé : renvoyer un article", "fields": [{"id": 360001, "value": "n1"}],
                              "visitorEmail": "jane@example.com", "escalatedAt": "2026-03-15T14:03:22Z"}
    signature = IADVIZE

    def deliveries(self, call: Call) -> list[Delivery]:
        document = load_json(call.body)
        conversation = check_escalation(document)
        return [Delivery(self.name, call.link, f"{ESCALATION}:{conversation}", ESCALATION,
                         f"conversation:{conversation}", document, raw=call.body)]


IadvizeSource.subpaths = {"escalations": IadvizeEscalationSource()}
