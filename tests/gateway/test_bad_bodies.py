"""Bodies that are not the vendor's envelope never get a 5xx (Amilia retries a 5xx for 72 hours): too deep,
ids that are not ids, wrong types, huge numbers, invalid UTF-8, nothing at all — over a real socket, on
SQLite and PostgreSQL, and for whatever hypothesis generates."""

from __future__ import annotations

import json
import logging
import os
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.gateway.app import create_app
from passerelle.gateway.server import GatewayServer
from passerelle.gateway.sources.amilia import ACTIONS, CONTEXTS
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link, delete_link
from tests.gateway.conftest import Nudges, body_of, envelope

POSTGRES_URL = os.environ.get("PASSERELLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


DEEP = "@deep@"  # where `deepen` splices a deep value in (the standard json recurses to encode one)


def deep_text(levels: int) -> bytes:
    """`levels` nested containers, objects and arrays alternating, as JSON text."""
    opening = b"".join(b'{"x":' if i % 2 == 0 else b"[" for i in range(levels))
    closing = b"".join(b"}" if i % 2 == 0 else b"]" for i in reversed(range(levels)))
    return opening + b"1" + closing


def deepen(body: bytes, levels: int) -> bytes:
    return body.replace(f'"{DEEP}"'.encode(), deep_text(levels))


@pytest.fixture(params=["sqlite", "postgres"])
def receiver(request, store):
    """(post(body) -> response, rows() -> stored events) on a gateway over SQLite, then PostgreSQL."""
    url, link = store, "default"
    if request.param == "postgres":
        from tests.support.store_backends import postgres_reachable

        problem = postgres_reachable()
        if problem:
            if os.environ.get("PASSERELLE_REQUIRE_POSTGRES"):
                pytest.fail(f"PostgreSQL is required here but {POSTGRES_URL} is not reachable: {problem}")
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})")
        url, link = POSTGRES_URL, f"bad-bodies-{uuid.uuid4().hex[:12]}"  # a link of its own in a shared database
    token = create_link("amilia", link, url=url)
    with GatewayServer(create_app(url=url, emitter=Nudges())) as server, httpx.Client(timeout=30) as client:
        hook = f"{server.url}/hooks/amilia/{link}"
        yield (lambda body: client.post(hook, params={"token": token}, content=body),
               lambda: list_events(source="amilia", link=link, limit=100, url=url))
    delete_link("amilia", link, url=url)


@pytest.fixture
def client():
    with httpx.Client(timeout=30) as c:  # one for all examples: a client per call loads the CA bundle each time
        yield c


CASES = [
    # (what, body, status, field)
    ("array of envelopes, one nested 300 levels", deepen(body_of([envelope(), envelope(payload={
        "Id": 1, "Deep": DEEP})]), 300), 422, "[1].Payload"),
    ("one envelope nested 1,000 levels", deepen(body_of(envelope(payload={"Id": 1, "Deep": DEEP})), 1000), 422,
     "Payload.Deep"),
    ("a context nested 600 levels", deepen(body_of(envelope(context=DEEP)), 600), 422, "Context.x"),
    ("JSON past orjson's own limit", deep_text(3000), 422, "$"),
    ("an array past orjson's own limit", b"[" * 3000 + b"]" * 3000, 422, "$"),
    ("id -1", body_of(envelope(payload={"Id": -1})), 422, "Payload.Id"),
    ("id 1e308", body_of(envelope(payload={"Id": 1e308})), 422, "Payload.Id"),
    ("id of 5,000 characters", body_of(envelope(payload={"Id": "7" * 5000})), 422, "Payload.Id"),
    ("id that is a path", body_of(envelope(payload={"Id": "../../accounts/2001"})), 422, "Payload.Id"),
    ("person id in brackets", body_of(envelope("Registration", payload={"Person": {"Id": "[/bogus]"}})), 422,
     "Payload.Person.Id"),
    ("organisation id beyond 64 bits", body_of(envelope(OrganizationId=2**70)), 422, "OrganizationId"),
    ("number beyond a double", b'{"OrganizationId": 1e400}', 400, None),
    ("invalid UTF-8", b'{"OrganizationId": "\xff\xfe"}', 400, None),
    ("lone surrogate", b'{"Name": "\\ud800"}', 400, None),
    ("empty body", b"", 400, None),
]


@pytest.mark.parametrize(("what", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_bodies_get_a_4xx_naming_the_field_and_store_nothing(receiver, caplog, what, body, status, field):
    post, rows = receiver
    with caplog.at_level(logging.INFO, logger="passerelle.gateway"):
        r = post(body)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["field"] == field and (field == "$" or f"'{field}'" in r.json()["detail"])
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]  # no traceback per call
    assert rows() == []


def test_a_shallow_envelope_is_still_stored_as_sent(receiver):
    post, rows = receiver
    env = envelope(payload={"Id": "501", "Address": {"Lines": [["12 rue Saint-Denis"]]}})
    assert post(body_of(env)).json() == {"accepted": 1, "duplicates": 0}
    assert [r.payload for r in rows()] == [env]


# ---- generated bodies ---------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(["", " ", "\x00", "\ud800", "[/bogus]", "\x1b[2J", "../../x", "٣", "1e308", "-1",
                            "9" * 40, "501"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | ODD_TEXT)
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                       max_size=4), max_leaves=25)
IDS = SCALARS | st.integers(min_value=0, max_value=2**63 + 5)
VALID_IDS = st.integers(min_value=0, max_value=2**63 - 1) | st.integers(0, 10**6).map(str)
FIELDS = ("OrganizationId", "Context", "Action", "Name", "EventTime", "Payload", "Payload.Id", "Payload.PersonId",
          "Payload.Person", "Payload.Person.Id")
MISSING = object()


def mutated(org: object, context: str, action: str, ids: list, deep: bool, extra: object, which: str | None,
            junk: object) -> dict:
    """A valid envelope (with a part to make deep, maybe), then at most one field made junk or removed: one bad
    part at a time gets past the other checks."""
    payload = {"Id": ids[0], "PersonId": ids[1], "Person": {"Id": ids[2]}, "Extra": extra}
    env = {"OrganizationId": org, "Context": context, "Action": action, "Name": "Passerelle",
           "EventTime": "2026-03-15T14:03:22Z", "Payload": {**payload, "Deep": DEEP} if deep else payload}
    if which is not None:
        *path, last = which.split(".")
        parent = env
        for key in path:
            parent = parent[key]
        if junk is MISSING:
            del parent[last]
        else:
            parent[last] = junk
    return env


ENVELOPES = st.builds(mutated, VALID_IDS, st.sampled_from(CONTEXTS), st.sampled_from(ACTIONS),
                      st.lists(VALID_IDS, min_size=3, max_size=3), st.booleans(), JSON,
                      st.none() | st.sampled_from(FIELDS), JSON | IDS | st.just(MISSING))


def encode(value: object, ascii_only: bool, levels: int = 1) -> bytes:
    return deepen(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"), levels)


LEVELS = st.integers(1, 40) | st.integers(200, 1200)  # shallow, or past the encoders' limits
BODIES = st.one_of(
    st.binary(max_size=300),                                                       # anything, invalid UTF-8
    st.builds(encode, JSON, st.booleans()),                                       # any JSON, wrong types
    st.builds(encode, ENVELOPES, st.booleans(), LEVELS),                          # near-envelopes, deep parts
    st.builds(encode, st.lists(ENVELOPES, min_size=1, max_size=3), st.booleans(), LEVELS),  # arrays of them
    st.integers(1, 3000).map(deep_text),                                          # deep nesting
    st.builds(lambda n, s: b'{"OrganizationId": 8008, "Payload": {"Id": ' + n.encode() + s, st.sampled_from(
        ["1e400", "-0", "18446744073709551616", "1" * 400, "NaN", "0x10"]), st.sampled_from([b"}}", b"}", b""])),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=BODIES)
def test_no_generated_body_gets_a_5xx(gateway, client, body):
    r = client.post(gateway.hook, params={"token": gateway.token}, content=body)
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text, body[:200])
    if r.status_code == 422:
        assert r.json()["field"]
