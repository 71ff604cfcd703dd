"""A signed source over a real socket, its signing secret in a Prefect Secret block on a real Prefect
server: signatures (401 and nothing stored), replays, handshakes, form bodies, rotation, Prefect down."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from passerelle.gateway.app import create_app
from passerelle.gateway.secrets import PrefectSecretStore, SigningSecrets, secret_block_name
from passerelle.gateway.server import GatewayServer, free_port
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import AmiliaSource, CatchSource
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from tests.gateway.conftest import Nudges, body_of, envelope
from tests.gateway.signed_source import SignedFormSource, form_body, signed_headers

SECRET = "whsec-test-0123456789"


@dataclass
class Signed:
    server: GatewayServer
    store: str
    link: str
    token: str
    amilia_token: str

    @property
    def hook(self) -> str:
        return f"{self.server.url}/hooks/testvendor/{self.link}"

    def post(self, body: bytes, headers: dict[str, str], token: str | None = "auto") -> httpx.Response:
        params = {"token": self.token if token == "auto" else token} if token else {}
        return httpx.post(self.hook, params=params, content=body, headers=headers, timeout=30)

    def get(self, query: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{self.hook}?token={self.token}&{query}", headers=headers, timeout=30)

    def rows(self, source: str = "testvendor"):
        return list_events(source=source, limit=1000, url=self.store)


@pytest.fixture
def prefect_api(prefect_server) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def save_secret(link: str, value: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value=value).save(secret_block_name("testvendor", link), overwrite=True)


def start(store: str, secrets: SigningSecrets, **settings) -> tuple[GatewayServer, str, str, str]:
    link = f"l-{uuid.uuid4().hex[:10]}"  # Secret blocks outlive a test: each test has links of its own
    token, amilia = create_link("testvendor", link, url=store), create_link("amilia", "default", url=store)
    app = create_app(url=store, emitter=Nudges(), settings=GatewaySettings(**settings), secrets=secrets,
                     sources=[AmiliaSource(), CatchSource(), SignedFormSource()])
    return GatewayServer(app).start(), link, token, amilia


@pytest.fixture
def signed(store, prefect_api) -> Iterator[Signed]:
    server, link, token, amilia = start(store, SigningSecrets(PrefectSecretStore(prefect_api)))
    save_secret(link, SECRET)
    yield Signed(server, store, link, token, amilia)
    server.stop()


TICKET = {"EventId": "ev-1", "Event": "ticket.created", "TicketId": "810", "Subject": "Colis abîmé"}


def test_a_signed_form_post_is_stored_as_its_envelope(signed):
    body = form_body(**TICKET)
    r = signed.post(body, signed_headers(SECRET.encode(), body))
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}
    [row] = signed.rows()
    assert (row.event_id, row.event_type, row.entity_key) == ("form.EventId:ev-1", "ticket.created", "ticket:810")
    assert row.payload == {"method": "POST", "query": {}, "form": TICKET}
    again = signed.post(body, signed_headers(SECRET.encode(), body))  # the vendor's retry, signed anew
    assert again.json() == {"accepted": 0, "duplicates": 1}


def test_bad_or_missing_signatures_get_401_and_nothing_is_stored(signed):
    body = form_body(**TICKET)
    good = signed_headers(SECRET.encode(), body)
    cases = {
        "another secret": signed_headers(b"not-the-secret", body),
        "body changed on the way": signed_headers(SECRET.encode(), body.replace(b"810", b"811")),
        "no signature": {k: v for k, v in good.items() if k != "X-Test-Signature"},
        "no timestamp": {k: v for k, v in good.items() if k != "X-Test-Timestamp"},
        "not hex": {**good, "X-Test-Signature": "sha256=zz"},
        "timestamp changed": {**good, "X-Test-Timestamp": str(int(good["X-Test-Timestamp"]) - 1)},
    }
    for case, headers in cases.items():
        r = signed.post(body, headers)
        assert r.status_code == 401, (case, r.text)
        assert SECRET not in r.text
    assert signed.post(body, good, token="wrong").status_code == 401  # the link token is still checked first
    assert signed.rows() == []
    assert signed.post(body, good).status_code == 200  # the same call, signed: accepted


def test_a_timestamp_outside_the_window_is_a_replay_401(signed):
    body = form_body(**TICKET)
    old = signed.post(body, signed_headers(SECRET.encode(), body, at=time.time() - 301))
    ahead = signed.post(body, signed_headers(SECRET.encode(), body, at=time.time() + 400))
    assert old.status_code == ahead.status_code == 401
    assert "s old" in old.json()["detail"] and "s ahead" in ahead.json()["detail"]
    assert signed.rows() == []
    assert signed.post(body, signed_headers(SECRET.encode(), body, at=time.time() - 250)).status_code == 200


def test_handshakes_are_answered_and_store_nothing(signed):
    query = f"token={signed.token}&challenge=3eZbrw1aBm2rZgRNFd".encode()
    r = signed.get("challenge=3eZbrw1aBm2rZgRNFd", signed_headers(SECRET.encode(), query=query, method="GET"))
    assert r.status_code == 200 and r.text == "3eZbrw1aBm2rZgRNFd"
    assert r.headers["content-type"].startswith("text/plain") and r.headers["x-content-type-options"] == "nosniff"
    unsigned = signed.get("challenge=abc", {})
    assert unsigned.status_code == 401 and "X-Test-Signature" in unsigned.json()["detail"]
    hostile = f"token={signed.token}&challenge=%3Cscript%3E%0A".encode()
    r = signed.get("challenge=%3Cscript%3E%0A", signed_headers(SECRET.encode(), query=hostile, method="GET"))
    assert r.status_code == 422 and r.json()["field"] == "challenge"
    body = body_of({"type": "url_verification", "challenge": "Ev3xyz", "token": "legacy"})
    headers = {**signed_headers(SECRET.encode(), body), "Content-Type": "application/json"}
    r = signed.post(body, headers)
    assert r.status_code == 200 and r.json() == {"challenge": "Ev3xyz"}
    forged = signed.post(body, {**headers, "X-Test-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    assert signed.rows() == []


def test_a_rotated_secret_is_used_at_once(signed):
    body = form_body(**TICKET)
    assert signed.post(body, signed_headers(SECRET.encode(), body)).status_code == 200
    save_secret(signed.link, "whsec-rotated")
    time.sleep(1.1)  # a mismatch re-reads the secret at most once a second
    second = form_body(**{**TICKET, "EventId": "ev-2"})
    assert signed.post(second, signed_headers(b"whsec-rotated", second)).status_code == 200
    third = form_body(**{**TICKET, "EventId": "ev-3"})
    assert signed.post(third, signed_headers(SECRET.encode(), third)).status_code == 401
    assert [r.event_id for r in signed.rows()] == ["form.EventId:ev-2", "form.EventId:ev-1"]


def test_no_secret_block_is_503_with_retry_after(store, prefect_api, caplog):
    server, link, token, _ = start(store, SigningSecrets(PrefectSecretStore(prefect_api)), retry_after_seconds=7)
    try:
        body = form_body(**TICKET)
        with caplog.at_level(logging.WARNING, logger="passerelle.gateway"):
            r = httpx.post(f"{server.url}/hooks/testvendor/{link}", params={"token": token}, content=body,
                           headers=signed_headers(SECRET.encode(), body), timeout=30)
        assert r.status_code == 503 and r.headers["retry-after"] == "7"
        assert secret_block_name("testvendor", link) in caplog.text and "hooks secret" in caplog.text
        assert list_events(source="testvendor", url=store) == []
    finally:
        server.stop()


def test_prefect_unreachable_with_a_cold_cache_is_503_and_one_warning(store, caplog):
    unreachable = PrefectSecretStore(f"http://127.0.0.1:{free_port()}/api")
    server, link, token, amilia = start(store, SigningSecrets(unreachable, timeout=5), retry_after_seconds=3)
    try:
        body = form_body(**TICKET)
        with caplog.at_level(logging.WARNING, logger="passerelle.gateway"):
            answers = [httpx.post(f"{server.url}/hooks/testvendor/{link}", params={"token": token}, content=body,
                                  headers=signed_headers(SECRET.encode(), body), timeout=30) for _ in range(5)]
        assert [r.status_code for r in answers] == [503] * 5 and answers[0].headers["retry-after"] == "3"
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "signing secret" in r.getMessage()]
        assert len(warnings) == 1
        assert list_events(source="testvendor", url=store) == []
        # a source that signs nothing does not need Prefect at all
        ok = httpx.post(f"{server.url}/hooks/amilia/default", params={"token": amilia},
                        content=body_of(envelope()), timeout=30)
        assert ok.status_code == 200
    finally:
        server.stop()


def test_the_amilia_source_is_untouched_by_signed_sources(signed):
    """Next to a signed source, Amilia answers as before: no secret read, POST only, a JSON envelope."""
    reads = signed.server.app.state.secrets.reads
    url = f"{signed.server.url}/hooks/amilia/default"
    body = body_of(envelope(payload={"Id": 77}))
    assert httpx.post(url, params={"token": signed.amilia_token}, content=body).json() == {"accepted": 1,
                                                                                           "duplicates": 0}
    assert httpx.get(url, params={"token": signed.amilia_token}).status_code == 405
    assert httpx.post(f"{url}/{signed.amilia_token}/", content=body).status_code == 404  # no path token
    form = httpx.post(url, params={"token": signed.amilia_token}, content=b"Id=77",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400
    assert signed.server.app.state.secrets.reads == reads
    [row] = signed.rows("amilia")
    assert row.payload == envelope(payload={"Id": 77}) and row.entity_key == "person:77"
