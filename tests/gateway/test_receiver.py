"""The Amilia receiver over a real socket: answers, durability, dedupe, limits, OpenAPI."""

from __future__ import annotations

import threading
import time

import httpx

from passerelle.store.inbox import list_events
from passerelle.store.links import create_link, delete_link
from tests.gateway.conftest import body_of, envelope, sha


def test_200_only_once_the_delivery_is_committed(gateway):
    """Every 200 is answered after the commit: the row is in the store when the answer arrives."""
    errors: list[str] = []

    def send(start: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(start, start + 25):
                body = body_of(envelope(payload={"Id": i}))
                r = client.post(gateway.hook, params={"token": gateway.token}, content=body)
                if r.status_code != 200 or r.json() != {"accepted": 1, "duplicates": 0}:
                    errors.append(f"{i}: {r.status_code} {r.text}")
                elif not any(e.event_id == sha(body) for e in list_events(source="amilia", limit=1000,
                                                                             url=gateway.store)):
                    errors.append(f"{i}: answered 200 before its row was committed")

    threads = [threading.Thread(target=send, args=(k * 100,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = gateway.rows()
    assert len(rows) == 200
    assert gateway.server.app.state.writer.commits < 200  # concurrent calls shared commits


def test_row_holds_the_envelope_type_and_entity_key(gateway):
    env = envelope("Registration", "Create", {"Id": 9001, "Person": {"Id": 502}, "IsCancelled": False})
    body = body_of(env)
    assert gateway.post(body).json() == {"accepted": 1, "duplicates": 0}
    [row] = gateway.rows()
    assert (row.source, row.link, row.event_id, row.event_type, row.entity_key, row.status) == (
        "amilia", "default", sha(body), "Registration.Create", "person:502", "pending")
    assert row.payload == env


def test_redelivery_is_acknowledged_and_not_stored_twice(gateway):
    body = body_of(envelope())
    assert gateway.post(body).json() == {"accepted": 1, "duplicates": 0}
    assert gateway.post(body).json() == {"accepted": 0, "duplicates": 1}
    batch = [envelope(payload={"Id": 1}), envelope(payload={"Id": 2}), envelope(payload={"Id": 1})]
    assert gateway.post(batch).json() == {"accepted": 2, "duplicates": 1}
    assert gateway.post(batch).json() == {"accepted": 0, "duplicates": 3}
    assert len(gateway.rows()) == 3


def test_token_in_header_is_accepted(gateway):
    r = httpx.post(gateway.hook, content=body_of(envelope()), headers={"X-Passerelle-Token": gateway.token})
    assert r.status_code == 200


def test_errors_store_nothing(gateway):
    good = body_of(envelope())
    cases = [
        (gateway.post(good, token="wrong"), 401, None),
        (gateway.post(good, token=None), 401, None),
        (httpx.post(f"{gateway.url}/hooks/amilia/other", params={"token": gateway.token}, content=good), 404,
         None),
        (gateway.post(b"{not json"), 400, None),
        (gateway.post(b"\xff\xfe"), 400, None),
        (gateway.post({k: v for k, v in envelope().items() if k != "Context"}), 422, "Context"),
        (gateway.post(envelope(action="Archive")), 422, "Action"),
        (gateway.post(envelope(payload={"FirstName": "Léa"})), 422, "Payload.Id"),
        (gateway.post(envelope(payload=[1])), 422, "Payload"),
        (gateway.post(envelope(OrganizationId="centre")), 422, "OrganizationId"),
        (gateway.post([envelope(), envelope(context="Nope")]), 422, "[1].Context"),
        (gateway.post([]), 422, "$"),
        (gateway.post("just a string"), 422, "$"),
    ]
    for response, status, field in cases:
        assert response.status_code == status, (status, response.text)
        if field:
            assert response.json()["field"] == field
            assert field == "$" or f"'{field}'" in response.json()["detail"]
    assert gateway.rows() == []


def test_body_over_the_limit_is_413_without_reading_it_whole(start_gateway):
    gw = start_gateway(max_body_bytes=2000)
    big = body_of(envelope(payload={"Id": 1, "Note": "x" * 3000}))
    assert gw.post(big).status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while reading the stream
        yield big[:1000]
        yield big[1000:]

    r = httpx.post(gw.hook, params={"token": gw.token}, content=chunks())
    assert r.status_code == 413 and "2000" in r.json()["detail"]
    assert gw.post(body_of(envelope())).status_code == 200
    assert len(gw.rows()) == 1


def test_rotated_token_works_at_once_and_old_one_stops(gateway):
    new = create_link("amilia", "default", url=gateway.store)
    time.sleep(1.1)  # the gateway re-reads links at most once a second on a miss
    assert gateway.post(body_of(envelope(payload={"Id": 7})), token=new).status_code == 200
    assert gateway.post(body_of(envelope(payload={"Id": 8}))).status_code == 401


def test_new_and_removed_links(start_gateway):
    gw = start_gateway(link_cache_seconds=0.2)
    token = create_link("amilia", "club-2", url=gw.store)
    time.sleep(1.1)
    url = f"{gw.url}/hooks/amilia/club-2"
    assert httpx.post(url, params={"token": token}, content=body_of(envelope())).status_code == 200
    delete_link("amilia", "club-2", url=gw.store)
    time.sleep(0.3)
    assert httpx.post(url, params={"token": token}, content=body_of(envelope())).status_code == 404


def test_openapi_lists_every_receiver(gateway):
    spec = httpx.get(f"{gateway.url}/openapi.json").json()
    post = spec["paths"]["/hooks/amilia/{link}"]["post"]
    assert "Amilia" in post["description"] and "durably" in post["description"]
    assert {p["name"] for p in post["parameters"]} == {"link", "token"}
    assert {"200", "401", "404", "400", "413", "422"} <= set(post["responses"])
    assert set(spec["paths"]["/hooks/amilia/{link}"]) == {"post"}  # Amilia only POSTs
    catch = spec["paths"]["/hooks/catch/{link}/{token}"]
    assert set(catch) == {"get", "post"} and "415" in catch["post"]["responses"]
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok",
                                                       "sources": ["amilia", "catch", "iadvize", "okast"]}


def test_store_failure_answers_503_and_acknowledges_nothing(gateway, monkeypatch):
    import passerelle.gateway.writer as writer

    def broken(deliveries, url=None):
        raise OSError("disk full")

    monkeypatch.setattr(gateway.server.app.state.writer, "_store", broken)
    r = gateway.post(body_of(envelope()))
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    assert gateway.rows() == []
    assert writer.StoreUnavailable  # the public exception the receiver maps to 503


async def test_fastapi_route_and_fast_path_answer_alike(store):
    """Receiver calls skip FastAPI's machinery; the documented FastAPI route does the same thing."""
    from fastapi import FastAPI

    from passerelle.gateway.app import create_app
    from tests.gateway.conftest import Nudges

    token = create_link("amilia", "default", url=store)
    app = create_app(url=store, emitter=Nudges())

    async def call(asgi, body: bytes) -> tuple[int, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/hooks/amilia/default", "raw_path": b"/hooks/amilia/default",
                 "root_path": "", "query_string": f"token={token}".encode(), "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 2), "headers": [(b"content-length", str(len(body)).encode())]}
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await asgi(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]

    async with app.router.lifespan_context(app):
        fast = await call(app, body_of(envelope(payload={"Id": 1})))
        routed = await call(lambda s, r, se: FastAPI.__call__(app, s, r, se), body_of(envelope(payload={"Id": 2})))
        bad = await call(lambda s, r, se: FastAPI.__call__(app, s, r, se), b"{")
    assert fast == routed == (200, b'{"accepted":1,"duplicates":0}')
    assert bad[0] == 400
    assert len(list_events(source="amilia", url=store)) == 2


def test_access_log_masks_tokens():
    import logging

    from passerelle.gateway.server import RedactTokens

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "POST", "/hooks/amilia/default?token=s3cret&x=1", "1.1", 200), None)
    RedactTokens().filter(record)
    assert "s3cret" not in record.getMessage() and "token=***&x=1" in record.getMessage()
