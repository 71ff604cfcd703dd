"""The iAdvize receivers over a real socket (docs/iadvize-zendesk.md, "Receivers"): `POST /hooks/iadvize/{site}`
(signed webhooks, deduplicated on X-iAdvize-CorrelationId, else eventId) and `POST /hooks/iadvize/{site}/escalations`
(same link, token and secret; one escalation per conversation), and the iAdvize emulator's signed sender delivering
to the gateway with iAdvize's retries. The signing secret comes from an in-memory store standing in for the
Prefect Secret block (the Prefect path itself: test_signed_sources.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from passerelle.gateway.app import create_app, route
from passerelle.gateway.secrets import SigningSecrets, secret_block_name
from passerelle.gateway.server import GatewayServer
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import IadvizeSource
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from tests.gateway.conftest import Nudges

SITE, SECRET = "4321", "iadvize-hook-secret"
CONV = "4c8c7408-f73c-42cd-89e9-afbbee7d9024"
# iAdvize's own example of v2.conversation.closed (iadvize/documentation docs/webhooks.md)
CLOSED = {"eventId": "0f0bb3af-5035-4ba3-b3fb-ff4879a3a74d", "eventType": "v2.conversation.closed", "platform": "ha",
          "projectId": 1549, "clientId": 335, "conversationId": CONV, "operatorIds": [15253, 15254],
          "visitorExternalId": "63429889", "channel": "CHAT", "createdAt": "2019-04-12T07:58:35.171Z",
          "sentAt": "2019-04-12T07:58:35.496Z"}
ESCALATION = {"conversationId": CONV, "agent": {"id": 15253, "firstName": "Ana", "lastName": "Roy"},
              "note": "Colis abîmé : renvoyer l'article", "fields": [{"id": 360001, "value": "retour"}],
              "visitorEmail": "jane@example.com", "escalatedAt": "2026-03-15T14:03:22Z"}


def sign(body: bytes, secret: str = SECRET) -> str:
    """iAdvize's recipe (docs/build-apps.md, "App security"), recomputed here with hmac."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Iadvize:
    server: GatewayServer
    store: str
    token: str

    def url(self, path: str = "") -> str:
        return f"{self.server.url}/hooks/iadvize/{SITE}{path}?token={self.token}"

    def post(self, document: Any, path: str = "", signature: str | None = "auto", **headers: str) -> httpx.Response:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        sent = {"Content-Type": "application/json", **headers}
        if signature is not None:
            sent["X-iAdvize-Signature"] = sign(body) if signature == "auto" else signature
        return httpx.post(self.url(path), content=body, headers=sent, timeout=30)

    def rows(self):
        return sorted(list_events(source="iadvize", limit=1000, url=self.store), key=lambda e: e.id)


@pytest.fixture
def iadvize(store) -> Iterator[Iadvize]:
    async def fetch(name: str) -> str | None:
        return SECRET if name == secret_block_name("iadvize", SITE) else None

    token = create_link("iadvize", SITE, url=store)
    app = create_app(url=store, emitter=Nudges(), settings=GatewaySettings(), secrets=SigningSecrets(fetch),
                     sources=[IadvizeSource()])
    server = GatewayServer(app).start()
    yield Iadvize(server, store, token)
    server.stop()


def test_a_signed_webhook_is_stored_once_and_its_correlation_id_makes_a_resend_a_duplicate(iadvize) -> None:
    correlation = str(uuid.uuid4())
    first = iadvize.post(CLOSED, **{"X-iAdvize-CorrelationId": correlation, "X-iAdvize-Delivery": str(uuid.uuid4())})
    assert first.status_code == 200 and first.json() == {"accepted": 1, "duplicates": 0}
    # iAdvize's retry: a new X-iAdvize-Delivery, the same correlation id (and, here, even another eventId)
    retry = iadvize.post({**CLOSED, "eventId": str(uuid.uuid4())},
                         **{"X-iAdvize-CorrelationId": correlation, "X-iAdvize-Delivery": str(uuid.uuid4())})
    assert retry.status_code == 200 and retry.json() == {"accepted": 0, "duplicates": 1}
    [row] = iadvize.rows()
    assert (row.link, row.event_id, row.event_type, row.entity_key) == (
        SITE, f"x-iadvize-correlationid:{correlation}", "v2.conversation.closed", f"conversation:{CONV}")
    assert row.payload == CLOSED  # the body as received


def test_without_a_correlation_header_the_event_id_dedupes(iadvize) -> None:
    pushed = {**CLOSED, "eventType": "v2.conversation.pushed", "operatorId": 15253}
    del pushed["operatorIds"]
    assert iadvize.post(pushed).json() == {"accepted": 1, "duplicates": 0}
    assert iadvize.post(pushed).json() == {"accepted": 0, "duplicates": 1}
    [row] = iadvize.rows()
    assert row.event_id == f"eventId:{CLOSED['eventId']}" and row.event_type == "v2.conversation.pushed"


@pytest.mark.parametrize("signature, reason", [
    (None, "missing X-iAdvize-Signature header"),
    ("sha256=" + "0" * 64, "does not match"),
    ("md5=abc", "must be 'sha256='"),
])
def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(iadvize, signature, reason) -> None:
    for path, document in (("", CLOSED), ("/escalations", ESCALATION)):
        answer = iadvize.post(document, path, signature=signature)
        assert answer.status_code == 401 and reason in answer.json()["detail"], answer.text
    wrong_secret = iadvize.post(CLOSED, signature=sign(json.dumps(CLOSED).encode(), "another-secret"))
    assert wrong_secret.status_code == 401
    assert iadvize.rows() == []


def test_a_signed_body_changed_on_the_way_is_refused(iadvize) -> None:
    body = json.dumps(CLOSED).encode()
    tampered = body.replace(b"15253", b"66666")
    assert iadvize.post(tampered, signature=sign(body)).status_code == 401
    assert iadvize.rows() == []


@pytest.mark.parametrize("change, field", [
    ({"conversationId": None}, "conversationId"),
    ({"conversationId": "42"}, "conversationId"),
    ({"eventType": None}, "eventType"),
    ({"projectId": "1549x"}, "projectId"),
    ({"eventId": None}, "eventId"),
])
def test_a_webhook_missing_a_required_field_is_422_naming_it(iadvize, change, field) -> None:
    document = {k: v for k, v in {**CLOSED, **change}.items() if v is not None}
    answer = iadvize.post(document)
    assert answer.status_code == 422 and answer.json()["field"] == field and field in answer.json()["detail"]
    assert iadvize.rows() == []


def test_other_iadvize_events_are_stored_too_keyed_on_themselves(iadvize) -> None:
    user = {"eventId": "d36cd3c4-2d16-4a77-97c2-620bde859b29", "eventType": "user.created", "platform": "sd",
            "clientId": 1, "userId": 1, "createdAt": "2017-04-22T11:01:00+02:00", "sentAt": "2017-04-22T11:01:00+02:00"}
    assert iadvize.post(user).json() == {"accepted": 1, "duplicates": 0}
    [row] = iadvize.rows()
    assert row.event_type == "user.created" and row.entity_key == f"event:eventId:{user['eventId']}"


def test_an_escalation_is_stored_once_per_conversation(iadvize) -> None:
    answer = iadvize.post(ESCALATION, "/escalations")
    assert answer.status_code == 200 and answer.json() == {"accepted": 1, "duplicates": 0}
    again = iadvize.post({**ESCALATION, "note": "autre chose", "conversationId": CONV.upper()}, "/escalations")
    assert again.json() == {"accepted": 0, "duplicates": 1}  # one escalation per conversation, whatever the case
    [row] = iadvize.rows()
    assert (row.link, row.event_id, row.event_type, row.entity_key) == (
        SITE, f"escalation:{CONV}", "escalation", f"conversation:{CONV}")
    assert row.payload == ESCALATION
    # the conversation's webhook shares the entity key: the drain applies both in order
    assert iadvize.post(CLOSED).json()["accepted"] == 1
    assert {r.entity_key for r in iadvize.rows()} == {f"conversation:{CONV}"}


@pytest.mark.parametrize("document, field", [
    ({k: v for k, v in ESCALATION.items() if k != "conversationId"}, "conversationId"),
    ({**ESCALATION, "conversationId": "not-a-uuid"}, "conversationId"),
    ({k: v for k, v in ESCALATION.items() if k != "agent"}, "agent"),
    ({**ESCALATION, "agent": {"firstName": "Ana"}}, "agent.id"),
    ({**ESCALATION, "agent": {"id": "12"}}, "agent.id"),
    ({k: v for k, v in ESCALATION.items() if k != "note"}, "note"),
    ({**ESCALATION, "fields": [{"id": 1, "value": "a"}, {"value": "b"}]}, "fields[1].id"),
    ({**ESCALATION, "visitorEmail": "jane"}, "visitorEmail"),
    ({**ESCALATION, "escalatedAt": "hier"}, "escalatedAt"),
    ([ESCALATION], "$"),
])
def test_an_escalation_missing_or_with_a_bad_field_is_422_naming_it(iadvize, document, field) -> None:
    answer = iadvize.post(document, "/escalations")
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and (field in answer.json()["detail"] or field == "$")
    assert iadvize.rows() == []


def test_an_escalation_with_an_empty_note_and_no_options_is_accepted(iadvize) -> None:
    minimal = {"conversationId": CONV, "agent": {"id": 12}, "note": ""}
    assert iadvize.post(minimal, "/escalations").json() == {"accepted": 1, "duplicates": 0}


def test_routes_and_openapi_document_both_receivers(iadvize) -> None:
    receivers = iadvize.server.app.receivers
    assert route(receivers, "POST", f"/hooks/iadvize/{SITE}")[:2] == (receivers["iadvize"], SITE)
    assert route(receivers, "POST", f"/hooks/iadvize/{SITE}/escalations/")[:2] == (
        receivers["iadvize/escalations"], SITE)
    assert route(receivers, "POST", f"/hooks/iadvize/{SITE}/other") is None
    assert route(receivers, "GET", f"/hooks/iadvize/{SITE}/escalations") is None  # iAdvize POSTs only
    spec = httpx.get(f"{iadvize.server.url}/openapi.json").json()
    paths = ("/hooks/iadvize/{link}", "/hooks/iadvize/{link}/escalations")
    hook, escalation = (spec["paths"][p]["post"] for p in paths)
    assert "X-iAdvize-Signature" in hook["description"] and "escalat" in escalation["description"]
    assert escalation["requestBody"]["content"]["application/json"]["example"]["conversationId"] == CONV
    assert "401" in escalation["responses"] and "422" in escalation["responses"]


# -- the iAdvize emulator's sender, end to end -----------------------------------------------------------------

SANDBOX_CONV = "4c8c7408-f73c-42cd-89e9-afbbee7d9024"
SANDBOX_STATE = {
    "account": {"clientId": 335, "platform": "ha"},
    "projects": [{"id": 4321, "name": "Boutique FR", "country": "FR"}],
    "operators": [{"id": 101, "firstName": "Léa", "lastName": "Roy"}],
    "visitors": [{"id": "2f1b6a4e-0000-4000-8000-000000000001", "email": "zoe@example.org", "externalId": "63429889"}],
    "conversations": [{"id": SANDBOX_CONV, "projectId": 4321, "visitorId": "2f1b6a4e-0000-4000-8000-000000000001",
                       "channel": "CHAT", "createdAt": "2026-03-02T14:00:00Z", "closedAt": "2026-03-02T14:30:00Z",
                       "messages": [{"createdAt": "2026-03-02T14:00:01Z", "author": "system", "pushedTo": 101},
                                    {"createdAt": "2026-03-02T14:01:00Z", "author": "operator", "operatorId": 101,
                                     "text": "Bonjour"}]}],
}


def send(sandbox, iadvize: Iadvize, event_type: str, **extra: Any) -> dict[str, Any]:
    answer = httpx.post(f"{sandbox.url}/_sandbox/iadvize/webhooks/send", timeout=60, json={
        "eventType": event_type, "conversationId": SANDBOX_CONV, "url": iadvize.url(), "secret": SECRET,
        "retryDelays": [0.05, 0.05], **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_sandbox_sender_delivers_signed_events_end_to_end(iadvize, sandbox_server) -> None:
    httpx.put(f"{sandbox_server.url}/_sandbox/iadvize/state", json=SANDBOX_STATE).raise_for_status()
    closed, pushed = send(sandbox_server, iadvize, "v2.conversation.closed"), send(sandbox_server, iadvize,
                                                                                   "v2.conversation.pushed")
    assert [a["status"] for a in closed["attempts"] + pushed["attempts"]] == [200, 200]
    rows = iadvize.rows()
    assert [(r.event_type, r.entity_key) for r in rows] == [("v2.conversation.closed", f"conversation:{SANDBOX_CONV}"),
                                                            ("v2.conversation.pushed", f"conversation:{SANDBOX_CONV}")]
    assert [r.event_id for r in rows] == [f"x-iadvize-correlationid:{o['correlationId']}" for o in (closed, pushed)]
    assert rows[0].payload == closed["payload"] and rows[0].payload["operatorIds"] == [101]
    wrong = httpx.post(f"{sandbox_server.url}/_sandbox/iadvize/webhooks/send", timeout=60, json={
        "eventType": "v2.conversation.closed", "conversationId": SANDBOX_CONV, "url": iadvize.url(),
        "secret": "not-the-secret", "retryDelays": [0, 0]}).json()
    assert [a["status"] for a in wrong["attempts"]] == [401, 401, 401] and len(iadvize.rows()) == 2


def test_the_senders_retry_after_a_lost_answer_is_a_duplicate_not_a_second_row(iadvize, sandbox_server) -> None:
    httpx.put(f"{sandbox_server.url}/_sandbox/iadvize/state", json=SANDBOX_STATE).raise_for_status()
    writer = iadvize.server.app.state.writer
    real, failed = writer._store, []

    def committed_then_failed(deliveries):  # stored, but the answer iAdvize gets is a 503: it retries
        flags = real(deliveries)
        if not failed:
            failed.append(1)
            raise OSError("the connection dropped after the commit")
        return flags

    writer._store = committed_then_failed
    outcome = send(sandbox_server, iadvize, "v2.conversation.closed")
    assert [a["status"] for a in outcome["attempts"]] == [503, 200] and outcome["delivered"]
    [row] = iadvize.rows()
    assert row.event_id == f"x-iadvize-correlationid:{outcome['correlationId']}"
