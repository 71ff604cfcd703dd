"""Hostile or broken clients, over real sockets: the caller is checked before its body is read, bodies and
idle connections have time limits, and the bytes and connections held at once are capped (503 +
Retry-After past the caps). bench/gateway_flood.py measures the same under a 2,000-connection flood."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from typing import Any, ClassVar

import httpx
import pytest

from passerelle.gateway.app import create_app
from passerelle.gateway.server import GatewayServer
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import AmiliaSource, KnownLink, Unauthorized
from passerelle.store.links import create_link
from tests.gateway.conftest import Nudges, body_of, envelope


def open_request(gw, path: str, length: int, first: bytes = b"", token: str | None = None) -> socket.socket:
    """A raw connection that sends a request head announcing `length` body bytes, then `first` of them."""
    query = f"?token={token}" if token else ""
    head = (f"POST {path}{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    sock = socket.create_connection((gw.server.host, gw.server.port), timeout=5)
    sock.sendall(head + first)
    return sock


def read_answer(sock: socket.socket, timeout: float, wait_for_close: bool = True
                ) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed): the answer read within `timeout`, and whether the server then closed
    (within `timeout` more)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    try:
        closed = wait_for_close and sock.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        closed = False
    return int(lines[0].split()[1]), headers, body, closed


def trickle_until_closed(sock: socket.socket, limit: float) -> float:
    """Send 1 KB every 50 ms until the other side closes; the seconds that took (fails after `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            sock.sendall(b" " * 1024)
            time.sleep(0.05)
            if sock.recv(1, socket.MSG_DONTWAIT) == b"":
                return time.monotonic() - started
        except BlockingIOError:
            continue  # nothing to read: still open
        except OSError:  # reset, broken pipe: closed
            return time.monotonic() - started
    raise AssertionError(f"still open after {limit} s")


def test_a_caller_without_the_token_is_refused_before_its_body_is_read(start_gateway):
    """Headers announcing 1 MB, a few bytes of it, no token: 401 at once. (The old gateway read the whole body
    first: this caller, trickling, held ~1 MB of its memory per connection.) What the caller goes on sending
    is discarded as it arrives, and the connection is closed at the idle limit."""
    gw = start_gateway(idle_timeout_seconds=1.0)
    for path, token, status in (("/hooks/amilia/default", None, 401), ("/hooks/amilia/default", "wrong", 401),
                                ("/hooks/amilia/nobody", None, 404)):
        sock = open_request(gw, path, 1_000_000, b'{"OrganizationId": 8008, ', token)
        with sock:
            started = time.monotonic()
            code, _, body, _ = read_answer(sock, timeout=2, wait_for_close=False)
            assert code == status, body
            assert time.monotonic() - started < 0.5
            assert 0.7 < trickle_until_closed(sock, limit=5) < 3  # the gateway hangs up at the idle limit
    assert gw.post(body_of(envelope())).status_code == 200  # the real caller is served as before
    assert len(gw.rows()) == 1


def test_a_body_that_trickles_is_cut_off_at_the_time_limit(start_gateway):
    gw = start_gateway(body_timeout_seconds=0.5)
    body = body_of(envelope())
    started = time.monotonic()
    with open_request(gw, "/hooks/amilia/default", len(body), body[:10], token=gw.token) as sock:
        code, headers, answer, closed = read_answer(sock, timeout=3)
    assert code == 408 and "0.5 s" in answer.decode() and closed
    assert 0.4 < time.monotonic() - started < 2.5
    assert gw.rows() == []


def test_bodies_past_the_byte_cap_get_503_with_retry_after(start_gateway):
    gw = start_gateway(max_buffered_bytes=10_000, max_body_bytes=8_000, retry_after_seconds=7)
    slow = body_of(envelope(payload={"Id": 1, "Note": "x" * 7_000}))
    quick = body_of(envelope(payload={"Id": 2, "Note": "y" * 3_000}))
    with open_request(gw, "/hooks/amilia/default", len(slow), slow[:100], token=gw.token) as holder:
        time.sleep(0.3)  # the first call holds its 7 KB of the 10 KB budget while its body trickles
        refused = gw.post(quick)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "7"
        assert "retry" in refused.json()["detail"]
        holder.sendall(slow[100:])
        code, _, _, _ = read_answer(holder, timeout=5)
        assert code == 200
    assert gw.post(quick).status_code == 200  # the budget was given back
    assert len(gw.rows()) == 2


def test_a_connection_that_never_finishes_its_head_is_closed(start_gateway):
    gw = start_gateway(idle_timeout_seconds=0.5)
    with socket.create_connection((gw.server.host, gw.server.port), timeout=5) as sock:
        sock.sendall(b"POST /hooks/amilia/default HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        started = time.monotonic()
        sock.settimeout(3)
        assert sock.recv(100) == b""
    assert 0.3 < time.monotonic() - started < 2.5
    with httpx.Client(timeout=5) as client:  # a kept-alive connection is closed after its idle time too
        assert client.post(gw.hook, params={"token": gw.token}, content=body_of(envelope())).status_code == 200
        time.sleep(1.0)
        assert client.post(gw.hook, params={"token": gw.token},
                           content=body_of(envelope(payload={"Id": 2}))).status_code == 200  # a new connection


def test_connections_past_the_cap_get_503_with_retry_after(start_gateway):
    gw = start_gateway(max_connections=4, retry_after_seconds=3)
    idle = [socket.create_connection((gw.server.host, gw.server.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        refused = gw.post(body_of(envelope()))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert gw.post(body_of(envelope())).status_code == 200
    assert len(gw.rows()) == 1


class SignedSource(AmiliaSource):
    """A vendor that signs its bodies (HMAC-SHA256 of the body, header X-Signature), no URL token."""

    name: ClassVar[str] = "signed"
    signed: ClassVar[bool] = True
    secret = b"s3cret"

    def authenticate(self, request: Any, link: KnownLink) -> None:
        return None  # nothing to check before the body

    def verify(self, request: Any, link: KnownLink, body: bytes) -> None:
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-signature", ""), expected):
            raise Unauthorized("missing or wrong signature")


@pytest.fixture
def signed_gateway(store):
    create_link("signed", "default", url=store)
    token = create_link("amilia", "default", url=store)
    settings = GatewaySettings(pre_auth_max_body_bytes=2_000, max_body_bytes=100_000)
    app = create_app(url=store, emitter=Nudges(), settings=settings, sources=[AmiliaSource(), SignedSource()])
    with GatewayServer(app) as server:
        yield server, token


def test_a_signed_source_reads_at_most_the_pre_auth_limit_before_the_signature(signed_gateway):
    server, token = signed_gateway
    url = f"{server.url}/hooks/signed/default"

    def post(body: bytes, signature: str | None = None) -> httpx.Response:
        sig = signature or hmac.new(SignedSource.secret, body, hashlib.sha256).hexdigest()
        return httpx.post(url, content=body, headers={"X-Signature": sig}, timeout=10)

    small = body_of(envelope())
    big = body_of(envelope(payload={"Id": 1, "Note": "x" * 5_000}))  # under max_body_bytes, over pre-auth
    assert post(small).status_code == 200
    assert post(small.replace(b"501", b"502"), signature="0" * 64).status_code == 401
    r = post(big)
    assert r.status_code == 413 and "2000" in r.json()["detail"]
    # the URL-token source of the same gateway keeps the full limit: its caller is known before the body
    r = httpx.post(f"{server.url}/hooks/amilia/default", params={"token": token}, content=big, timeout=10)
    assert r.status_code == 200
