"""OKAST (../shared/seeds/okast-zapier.txt): the 13 triggers, the gateway's OKAST source over a real socket
(`POST /hooks/okast/{connection}`, the platform's API key checked against the connection's, unknown events 422,
duplicates stored once, one user's events in order), "Test trigger" (`okast_latest`), the OKAST emulator posting
to the gateway, and the payload contract shared by the triggers' samples and the emulator.

The key the gateway compares with comes from an in-memory store standing in for the Prefect Secret block
`hook-okast-<connection>` (the Prefect path itself is the signed sources' test_signed_sources.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors._http import AuthError
from connectors.okast import EVENT_NAMES, EVENTS, OkastCredentials, UnknownEvent
from connectors.okast.zap import okast_latest
from passerelle.gateway.app import create_app
from passerelle.gateway.secrets import SigningSecrets, secret_block_name
from passerelle.gateway.server import GatewayServer
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources.okast import OkastSource
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from passerelle.zaps.registry import get_trigger
from sandbox.okast.events import render
from tests.connectors.conftest import Control

CONN, OTHER = "my-platform", "other-platform"
KEYS = {CONN: "ok_live_4f9c2a7d81e3", OTHER: "ok_live_other_99b1c0"}
# What the seed names for each trigger ("User email", "prénom, nom", the offer, amounts, dates), beyond the user.
SEED_FIELDS = {
    "new_registration": {"registered_at"},
    "new_subscription": {"offer", "amount", "currency", "started_at", "renews_at"},
    "new_purchase": {"offer", "amount", "currency", "purchased_at"},
    "subscription_cancelled": {"offer", "cancelled_at"},
    "forgot_password": {"requested_at"},
    "new_gift": {"offer", "amount", "currency", "recipient", "purchased_at"},
    "gift_confirmation": {"offer", "giver", "activated_at"},
    "payment_confirmation": {"offer", "amount", "currency", "paid_at"},
    "payment_failed": {"offer", "amount", "currency", "failed_at"},
    "payment_incomplete": {"offer", "amount", "currency", "reason"},
    "new_free_copy": {"offer", "granted_at"},
    "password_created": {"created_at"},
    "comment_reported": {"comment", "reported_at"},
}


async def _nudge(source: str, link: str, accepted: int) -> None:
    return None


@dataclass
class Okast:
    server: GatewayServer
    store: str
    tokens: dict[str, str]

    def url(self, connection: str = CONN) -> str:
        return f"{self.server.url}/hooks/okast/{connection}?token={self.tokens[connection]}"

    def post(self, document: Any, connection: str = CONN, key: str | None = "auto", **headers: str) -> httpx.Response:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        sent = {"Content-Type": "application/json", **headers}
        if key is not None:
            sent["X-Api-Key"] = KEYS[connection] if key == "auto" else key
        return httpx.post(self.url(connection), content=body, headers=sent, timeout=30)

    def rows(self, connection: str = CONN) -> list:
        return sorted(list_events(source="okast", link=connection, limit=10000, url=self.store), key=lambda e: e.id)


@pytest.fixture(scope="module")
def okast(tmp_path_factory) -> Iterator[Okast]:
    store = f"sqlite:///{tmp_path_factory.mktemp('okast') / 'store.db'}"

    async def fetch(name: str) -> str | None:
        return next((key for conn, key in KEYS.items() if name == secret_block_name("okast", conn)), None)

    tokens = {conn: create_link("okast", conn, url=store) for conn in KEYS}
    app = create_app(url=store, emitter=_nudge, settings=GatewaySettings(), secrets=SigningSecrets(fetch),
                     sources=[OkastSource()])
    server = GatewayServer(app).start()
    yield Okast(server, store, tokens)
    server.stop()


def event(name: str, **fields: Any) -> dict[str, Any]:
    """The trigger's documented sample with a fresh event_id (and `fields` replaced)."""
    return {**json.loads(json.dumps(EVENTS[name].sample)), "event_id": f"evt_{uuid.uuid4().hex}", **fields}


def keys_of(value: Any, prefix: str = "") -> set[str]:
    """Every field path of a payload (`user.email`, `offer.period`…)."""
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, child in value.items():
        found |= {f"{prefix}{key}"} | keys_of(child, f"{prefix}{key}.")
    return found


# -- the triggers -------------------------------------------------------------------------------------------

def test_the_seed_has_13_triggers_in_its_order() -> None:
    assert len(EVENT_NAMES) == 13 and list(EVENTS) == list(EVENT_NAMES)
    assert EVENT_NAMES == ("new_registration", "new_subscription", "new_purchase", "subscription_cancelled",
                           "forgot_password", "new_gift", "gift_confirmation", "payment_confirmation",
                           "payment_failed", "payment_incomplete", "new_free_copy", "password_created",
                           "comment_reported")
    assert all(e in OkastSource.description for e in EVENT_NAMES)  # the gateway's OpenAPI page lists them


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_each_trigger_is_a_webhook_of_the_okast_source_with_the_seeds_fields(name: str) -> None:
    spec = get_trigger(f"okast.{name}")
    assert (spec.kind, spec.source, spec.event_type, spec.connection, spec.dedupe_key) == (
        "webhook", "okast", name, "okast", "event_id")
    sample = spec.sample
    assert sample["event"] == name and sample["event_id"]
    assert {"email", "first_name", "last_name"} <= set(sample["user"]) and "@" in sample["user"]["email"]
    assert SEED_FIELDS[name] <= set(sample), f"{name}: missing {SEED_FIELDS[name] - set(sample)}"
    if "amount" in sample:
        assert isinstance(sample["amount"], float) and len(sample["currency"]) == 3
    if "offer" in sample:
        assert {"id", "name", "kind"} <= set(sample["offer"])


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_the_emulator_renders_each_event_with_the_fields_of_the_trigger_sample(name: str) -> None:
    from datetime import UTC, datetime

    user = {"id": "7", "email": "x@example.org", "first_name": "X", "last_name": "Y"}
    assert keys_of(render(name, user, datetime.now(UTC), 3)) == keys_of(EVENTS[name].sample)


# -- the gateway's OKAST source ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EVENT_NAMES)
def test_the_gateway_stores_each_event_keyed_by_the_platforms_api_key(okast: Okast, name: str) -> None:
    sent = event(name)
    answer = okast.post(sent)
    assert answer.status_code == 200 and answer.json() == {"accepted": 1, "duplicates": 0}, answer.text
    [row] = [r for r in okast.rows() if r.payload.get("event_id") == sent["event_id"]]
    assert (row.event_type, row.event_id, row.entity_key) == (name, f"event_id:{sent['event_id']}",
                                                              "user:lea.roy@example.org")
    assert row.payload == sent


def test_the_key_may_come_as_a_bearer_token(okast: Okast) -> None:
    sent = event("new_gift")
    answer = okast.post(sent, key=None, Authorization=f"Bearer {KEYS[CONN]}")
    assert answer.status_code == 200 and answer.json()["accepted"] == 1


@pytest.mark.parametrize("key, reason", [
    (None, "missing X-Api-Key header"),
    ("ok_live_wrong_key_000", "is not the API key of OKAST connection 'my-platform'"),
    (KEYS[OTHER], "is not the API key of OKAST connection 'my-platform'"),  # another connection's key
])
def test_a_missing_or_wrong_key_is_401_naming_the_fix_and_nothing_is_stored(okast: Okast, key, reason) -> None:
    before = len(okast.rows())
    answer = okast.post(event("payment_failed"), key=key)
    assert answer.status_code == 401, answer.text
    detail = answer.json()["detail"]
    assert reason in detail and "Plateforme > Configuration" in detail
    assert "passerelle hooks secret okast --link my-platform --secret-env OKAST_API_KEY" in detail
    assert KEYS[CONN] not in answer.text
    assert len(okast.rows()) == before


def test_the_key_of_each_connection_opens_that_connection_only(okast: Okast) -> None:
    sent = event("new_registration")
    assert okast.post(sent, connection=OTHER).json() == {"accepted": 1, "duplicates": 0}
    assert okast.post(sent, connection=OTHER, key=KEYS[CONN]).status_code == 401
    assert [r.payload["event_id"] for r in okast.rows(OTHER)] == [sent["event_id"]]


def test_without_the_url_token_the_call_is_refused_before_the_key(okast: Okast) -> None:
    answer = httpx.post(f"{okast.server.url}/hooks/okast/{CONN}", json=event("new_gift"),
                        headers={"X-Api-Key": KEYS[CONN]}, timeout=30)
    assert answer.status_code == 401 and "token" in answer.json()["detail"]


def test_an_unknown_event_is_422_naming_the_13_known_ones(okast: Okast) -> None:
    before = len(okast.rows())
    answer = okast.post(event("new_registration", event="new_sign_up"))
    assert answer.status_code == 422 and answer.json()["field"] == "event"
    detail = answer.json()["detail"]
    assert "'new_sign_up'" in detail and all(name in detail for name in EVENT_NAMES)
    assert len(okast.rows()) == before


@pytest.mark.parametrize("change, field", [
    ({"event_id": None}, "event_id"),
    ({"event_id": ""}, "event_id"),
    ({"user": None}, "user"),
    ({"user": "lea.roy@example.org"}, "user"),
    ({"user": {"first_name": "Léa"}}, "user.email"),
    ({"user": {"email": "not an address"}}, "user.email"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
])
def test_a_body_that_is_not_an_okast_event_is_422_naming_the_field(okast: Okast, change, field) -> None:
    body = {k: v for k, v in {**event("new_subscription"), **change}.items() if v is not None}
    answer = okast.post(body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_the_same_event_sent_twice_is_stored_once(okast: Okast) -> None:
    sent = event("payment_confirmation")
    assert okast.post(sent).json() == {"accepted": 1, "duplicates": 0}
    assert okast.post(sent).json() == {"accepted": 0, "duplicates": 1}
    assert len([r for r in okast.rows() if r.payload["event_id"] == sent["event_id"]]) == 1


def test_one_users_events_share_an_entity_key_whatever_the_case_of_the_email(okast: Okast) -> None:
    first = event("new_registration", user={"email": "Samir.Haddad@Example.org", "first_name": "Samir"})
    then = event("new_subscription", user={"email": "samir.haddad@example.org", "first_name": "Samir"})
    other = event("new_registration", user={"email": "chloe@example.org"})
    for body in (first, then, other):
        assert okast.post(body).status_code == 200
    keys = {r.payload["event_id"]: r.entity_key for r in okast.rows()}
    assert keys[first["event_id"]] == keys[then["event_id"]] == "user:samir.haddad@example.org"
    assert keys[other["event_id"]] == "user:chloe@example.org"


# -- "Test trigger" ------------------------------------------------------------------------------------------

def test_test_trigger_gives_the_latest_real_events_of_that_connection_and_event(okast: Okast) -> None:
    sent = [event("new_free_copy", user={"email": f"fc{i}@example.org"}) for i in range(5)]
    for body in sent:
        assert okast.post(body).status_code == 200
    assert okast.post(event("new_free_copy"), connection=OTHER).status_code == 200  # another connection
    assert okast.post(event("new_gift")).status_code == 200  # another event
    latest = okast_latest(CONN, "new_free_copy", url=okast.store)
    assert latest == [sent[4], sent[3], sent[2]]  # Zapier's three, newest first, as received
    assert okast_latest(CONN, "new_free_copy", limit=1, url=okast.store) == [sent[4]]


def test_test_trigger_falls_back_to_the_documented_sample(okast: Okast) -> None:
    assert okast_latest("never-called", "password_created", url=okast.store) == [EVENTS["password_created"].sample]


@pytest.mark.parametrize("args, fragment", [
    (("my-platform", "new_signup"), "event: 'new_signup' is not an OKAST event; use one of new_registration"),
    (("My Platform", "new_gift"), "connection: 'My Platform' is not a valid"),
    (("my-platform", "new_gift", 0), "limit: a whole number from 1 to 100"),
])
def test_test_trigger_refuses_bad_arguments_naming_them(okast: Okast, args, fragment) -> None:
    with pytest.raises(ValueError) as caught:
        okast_latest(*args, url=okast.store)
    assert fragment in str(caught.value)
    if "new_signup" in args:
        assert isinstance(caught.value, UnknownEvent)


# -- the emulator posting to the gateway ------------------------------------------------------------------------

def test_the_emulator_sends_an_event_and_a_burst_that_the_gateway_stores(okast: Okast, sb: Control) -> None:
    sb.load("okast", {"platform": {"api_key": KEYS[CONN]}, "webhook": {"url": okast.url()}})
    one = sb.http.post("/_sandbox/okast/events/send", json={"event": "new_subscription", "user": "lea.roy@example.org"})
    assert one.status_code == 200 and one.json()["delivered"] == 1, one.text
    payload = one.json()["payload"]
    [row] = [r for r in okast.rows() if r.payload["event_id"] == payload["event_id"]]
    assert row.event_type == "new_subscription" and row.payload == payload

    burst = sb.http.post("/_sandbox/okast/events/send", json={"event": "payment_failed", "count": 40},
                         timeout=60).json()
    assert burst["sent"] == 40 and burst["delivered"] == 40 and burst["statuses"] == {"200": 40}
    ids = {e["event_id"] for e in sb.state("okast")["sent"] if e["event"] == "payment_failed"}
    assert len(ids) == 40 and ids <= {r.payload["event_id"] for r in okast.rows()}

    again = sb.http.post(f"/_sandbox/okast/events/{payload['event_id']}/resend").json()
    assert again["delivered"] is True
    assert len([r for r in okast.rows() if r.payload["event_id"] == payload["event_id"]]) == 1  # a duplicate


def test_the_emulator_keeps_what_the_gateway_refused(okast: Okast, sb: Control) -> None:
    sb.load("okast", {"platform": {"api_key": "ok_live_not_the_right_one"}, "webhook": {"url": okast.url()}})
    answer = sb.http.post("/_sandbox/okast/events/send", json={"event": "new_gift"}).json()
    assert answer["delivered"] == 0 and answer["attempts"] == [{"status": 401}]
    [sent] = sb.state("okast")["sent"]
    assert sent["delivered"] is False and sent["event"] == "new_gift"
    refused = sb.http.post("/_sandbox/okast/events/send", json={"event": "new_sign_up"})
    assert refused.status_code == 422 and "new_registration" in refused.text


# -- the credentials ------------------------------------------------------------------------------------------

async def test_the_credentials_hold_the_key_secret_and_check_its_form() -> None:
    creds = OkastCredentials(api_key=KEYS[CONN])
    verdict = await creds.test()
    assert "expected form" in verdict and "no public API" in verdict and KEYS[CONN] not in verdict
    assert KEYS[CONN] not in repr(creds) and KEYS[CONN] not in repr(creds.client())
    async with creds.client() as platform:
        assert platform.key_matches(KEYS[CONN]) and not platform.key_matches(KEYS[OTHER])
        assert not platform.key_matches(None)


@pytest.mark.parametrize("key, fragment", [
    ("", "the API key is empty"),
    (" ok_live_4f9c2a7d81e3", "starts or ends with spaces"),
    ("short", "not of the expected form (5 characters)"),
    ("ok live key with spaces", "not of the expected form"),
])
def test_a_key_of_the_wrong_form_is_refused_without_echoing_it(key: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OkastCredentials(api_key=key)
    assert fragment in str(caught.value) and (not key.strip() or key.strip() not in str(caught.value))


async def test_a_saved_key_of_the_wrong_form_fails_the_test_naming_the_block() -> None:
    creds = OkastCredentials.model_construct(api_key=SecretStr("bad key"), base_url=None)
    with pytest.raises(AuthError) as caught:
        await creds.test()
    assert "OKAST rejected the API key" in str(caught.value) and "okast-credentials" in str(caught.value)
