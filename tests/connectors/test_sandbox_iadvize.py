"""IadvizeClient against the iAdvize emulator over a real socket, and the emulator's signed webhook sender against a
small local receiver (docs/sandbox-iadvize.md, docs/connector-iadvize.md)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from connectors._http import AuthError, RetryPolicy, ValidationError
from connectors.iadvize import IadvizeClient
from connectors.iadvize.queries import GraphQLQuery
from passerelle.gateway.sources import Call, IadvizeSource
from passerelle.gateway.sources.signatures import IADVIZE

FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.05, max_total_wait=5)
VISITOR, SILENT = "2f1b6a4e-0000-4000-8000-000000000001", "2f1b6a4e-0000-4000-8000-000000000002"
CONV = "4c8c7408-f73c-42cd-89e9-afbbee7d9024"


def conv(n: int, closed: str | None, project: int = 4321, **extra: Any) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "projectId": project, "visitorId": SILENT,
            "createdAt": "2026-03-02T08:00:00Z", "closedAt": closed, **extra}


DOC: dict[str, Any] = {
    "account": {"clientId": 335, "platform": "ha"},
    "projects": [{"id": 4321, "name": "Boutique FR", "country": "FR"}, {"id": 99, "name": "Autre", "country": "CA"}],
    "operators": [{"id": 101, "firstName": "Léa", "lastName": "Roy"},
                  {"id": 102, "firstName": "Marc", "lastName": "Roy"},
                  {"id": 900, "type": "Bot", "lastName": "Wall-e"}],
    "visitors": [{"id": VISITOR, "email": "zoe@example.org", "externalId": "63429889"}, {"id": SILENT}],
    "conversations": [
        {"id": CONV, "projectId": 4321, "visitorId": VISITOR, "channel": "CHAT", "createdAt": "2026-03-02T14:00:00Z",
         "closedAt": "2026-03-02T14:30:00Z", "targetingRule": {"id": VISITOR, "name": "Panier > 100 €"},
         "messages": [{"createdAt": "2026-03-02T14:00:01Z", "author": "system", "pushedTo": 900},
                      {"createdAt": "2026-03-02T14:00:02Z", "author": "operator", "operatorId": 900, "text": "Bonjour"},
                      {"createdAt": "2026-03-02T14:01:00Z", "author": "system", "pushedTo": 101},
                      *[{"createdAt": f"2026-03-02T14:{2 + i // 60:02d}:{i % 60:02d}Z", "author": "visitor",
                         "text": f"question {i}"} for i in range(130)],
                      {"createdAt": "2026-03-02T14:20:00Z", "author": "system", "pushedTo": 102},
                      {"createdAt": "2026-03-02T14:21:00Z", "author": "operator", "operatorId": 102, "text": "Réglé"}]},
        *[conv(n, f"2026-03-0{3 + n % 2}T10:{n:02d}:00Z") for n in range(1, 6)],
        conv(6, None), conv(7, "2026-03-03T09:00:00Z", project=99), conv(8, "2026-02-27T09:00:00Z"),
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from sandbox.app import create_app
    from sandbox.iadvize.app import build_iadvize
    from sandbox.server import SandboxServer

    with SandboxServer(app=create_app([build_iadvize()])) as sb:
        yield sb


@pytest.fixture
def sb(server: Any) -> httpx.Client:
    control = httpx.Client(base_url=server.url, timeout=30)
    control.post("/_sandbox/reset").raise_for_status()
    assert control.put("/_sandbox/iadvize/state", json=DOC).status_code == 200
    yield control
    control.close()


def client(sb: httpx.Client, **kwargs: Any) -> IadvizeClient:
    kwargs.setdefault("password", "demo-password")
    base_url = str(sb.base_url).rstrip("/") + "/iadvize"
    return IadvizeClient(username="demo@passerelle.dev", base_url=base_url, retry=FAST, **kwargs)


def calls(sb: httpx.Client) -> list[tuple[str, str, int]]:
    return [(r["method"], r["path"], r["status"]) for r in sb.get("/_sandbox/iadvize/requests").json()["requests"]]


async def test_closed_conversations_of_the_interval_and_project_page_by_page(sb: httpx.Client) -> None:
    async with client(sb, page_size=2) as iadvize:
        seen = [c async for c in iadvize.closed_conversations(datetime(2026, 3, 2, tzinfo=UTC),
                                                              datetime(2026, 3, 5, tzinfo=UTC), [4321])]
    # closedAt in [from, to), project 4321 only, oldest first; 6 is open, 7 another project, 8 before the interval
    assert [c.id for c in seen] == [CONV, *[conv(n, None)["id"] for n in (2, 4, 1, 3, 5)]]
    assert calls(sb) == [("POST", "/iadvize/oauth2/token", 200)] + [("POST", "/iadvize/graphql", 200)] * 3


async def test_conversation_transcript_operator_email_and_campaign(sb: httpx.Client) -> None:
    async with client(sb) as iadvize:
        conversation = await iadvize.conversation(CONV)
        silent = await iadvize.conversation(conv(1, None)["id"])
        assert await iadvize.conversation("00000000-0000-4000-8000-999999999999") is None
    assert len(conversation.messages) == 135  # two pages of messages (100 per page)
    assert [m.author for m in conversation.messages[:4]] == ["system", "bot", "system", "visitor"]
    assert [(t.to_user.full_name, t.to_user.kind) for t in conversation.transfers] == [
        ("Wall-e", "bot"), ("Léa Roy", "professional"), ("Marc Roy", "professional")]
    assert conversation.operator.full_name == "Marc Roy"  # the last human the conversation was pushed to
    assert (conversation.visitor_email, conversation.project_country, conversation.campaign) == (
        "zoe@example.org", "FR", "Panier > 100 €")
    assert conversation.closed_at == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert (silent.visitor_email, silent.operator, silent.campaign, silent.messages) == (None, None, None, ())


async def test_wrong_password_fails_at_the_login_once(sb: httpx.Client) -> None:
    async with client(sb, password="nope") as iadvize:
        with pytest.raises(AuthError, match=r"400 on POST /oauth2/token\): Invalid username and password"):
            await iadvize.authenticated()
    assert calls(sb) == [("POST", "/iadvize/oauth2/token", 400)]


async def test_revoked_token_means_one_new_login_and_the_query_replayed(sb: httpx.Client) -> None:
    async with client(sb) as iadvize:
        assert await iadvize.authenticated()
        assert sb.delete("/_sandbox/iadvize/tokens").json() == {"revoked": 1}
        assert (await iadvize.conversation(CONV)).id == CONV
    assert calls(sb)[:5] == [("POST", "/iadvize/oauth2/token", 200), ("GET", "/iadvize/_authenticated", 200),
                             ("POST", "/iadvize/graphql", 401), ("POST", "/iadvize/oauth2/token", 200),
                             ("POST", "/iadvize/graphql", 200)]


def test_login_rate_limit_answers_429_with_retry_after(sb: httpx.Client) -> None:
    sb.put("/_sandbox/iadvize/state", json={**DOC, "loginLimits": {"perUser": 2}}).raise_for_status()
    form = {"username": "demo@passerelle.dev", "password": "demo-password", "grant_type": "password"}
    answers = [sb.post("/iadvize/oauth2/token", data=form) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) in range(1, 61) and answers[2].json()["error"] == "too_many_requests"
    assert answers[0].json()["expires_in"] == 86400 and answers[0].json()["token_type"] == "bearer"


async def test_an_invalid_query_is_a_validation_error_naming_it(sb: httpx.Client) -> None:
    broken = GraphQLQuery("NoInterval", "query NoInterval { closedConversations { edges { node { id } } } }")
    async with client(sb) as iadvize:
        with pytest.raises(ValidationError) as info:
            await iadvize.query(broken, {})
    assert "GraphQL query NoInterval failed: " in str(info.value)
    assert "argument 'interval' of type 'DateTimeIntervalInput!' is required" in str(info.value)


def test_state_document_round_trips_and_errors_name_the_field(sb: httpx.Client) -> None:
    dumped = sb.get("/_sandbox/iadvize/state").json()
    sb.put("/_sandbox/iadvize/state", json=dumped).raise_for_status()
    assert sb.get("/_sandbox/iadvize/state").json() == dumped
    bad = {**DOC, "conversations": [conv(1, None, project=5)]}
    answer = sb.put("/_sandbox/iadvize/state", json=bad)
    assert answer.status_code == 422 and "conversations[0].projectId: no project 5" in answer.json()["detail"]


class Receiver:
    """A local webhook endpoint answering `statuses` in turn (then 200), recording every call."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.calls = list(statuses), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((time.monotonic(), dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hooks/iadvize/shop"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def test_closed_event_is_signed_and_retried_twice_with_one_correlation_id(sb: httpx.Client) -> None:
    receiver = Receiver([500, 503])
    try:
        outcome = sb.post("/_sandbox/iadvize/webhooks/send", json={
            "eventType": "v2.conversation.closed", "conversationId": CONV, "url": receiver.url, "secret": "hook-secret",
            "retryDelays": [0.2, 0.4]}).json()
    finally:
        receiver.close()
    assert [a["status"] for a in outcome["attempts"]] == [500, 503, 200] and outcome["delivered"]
    assert len(receiver.calls) == 3
    times, headers, bodies = zip(*receiver.calls, strict=True)
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4
    assert len({h["X-iAdvize-CorrelationId"] for h in headers}) == 1
    assert len({h["X-iAdvize-Delivery"] for h in headers}) == 3
    for h, body in zip(headers, bodies, strict=True):  # as the gateway's iAdvize source checks and keys them
        call = Call("POST", "shop", Headers(h), b"", body, receiver.url)
        IADVIZE.verify(call, b"hook-secret")
        assert IadvizeSource().event_id(json.loads(body), call=call) == (
            f"x-iadvize-correlationid:{outcome['correlationId']}")
    payload = json.loads(bodies[0])
    assert set(bodies) == {bodies[0]} and payload == outcome["payload"]
    assert {k: payload[k] for k in ("eventType", "platform", "projectId", "clientId", "conversationId",
                                    "operatorIds", "visitorExternalId", "channel", "createdAt")} == {
        "eventType": "v2.conversation.closed", "platform": "ha", "projectId": 4321, "clientId": 335,
        "conversationId": CONV, "operatorIds": [900, 101, 102], "visitorExternalId": "63429889", "channel": "CHAT",
        "createdAt": "2026-03-02T14:30:00Z"}


def test_pushed_event_gives_up_after_the_second_retry(sb: httpx.Client) -> None:
    receiver = Receiver([500, 500, 500, 500])
    try:
        outcome = sb.post("/_sandbox/iadvize/webhooks/send", json={
            "eventType": "v2.conversation.pushed", "conversationId": CONV, "url": receiver.url, "secret": "s",
            "retryDelays": [0, 0]}).json()
    finally:
        receiver.close()
    assert [a["status"] for a in outcome["attempts"]] == [500, 500, 500] and not outcome["delivered"]
    assert outcome["payload"]["operatorId"] == 102 and "operatorIds" not in outcome["payload"]
    assert outcome["payload"]["createdAt"] == "2026-03-02T14:20:00Z"
