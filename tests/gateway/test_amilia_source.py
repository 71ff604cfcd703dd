"""The Amilia source plug-in as a pure unit: envelope checks, entity keys, event ids."""

from __future__ import annotations

import pytest

from passerelle.gateway.sources import AmiliaSource, InvalidEnvelope, NotJson
from passerelle.gateway.sources.base import canonical_sha256
from tests.gateway.conftest import body_of, envelope, sha

SOURCE = AmiliaSource()


def parse_one(env):
    [delivery] = SOURCE.parse(body_of(env), "club")
    return delivery


@pytest.mark.parametrize(("context", "action", "payload", "key"), [
    ("Person", "Create", {"Id": 501, "FirstName": "Léa"}, "person:501"),
    ("Person", "Delete", {"Id": "501"}, "person:501"),            # thin Delete: the id as a string
    ("Account", "Delete", {"Id": " 77 "}, "account:77"),
    ("Account", "Update", {"Id": 77, "Owners": []}, "account:77"),
    ("Registration", "Create", {"Id": 9001, "Person": {"Id": 502, "FirstName": "Émile"}}, "person:502"),
    ("Registration", "Delete", {"Id": 9001, "Person": {"Id": 502}, "IsCancelled": True}, "person:502"),
    ("Registration", "Update", {"Id": "9001"}, "registration:9001"),  # thin: no Person
    ("MembershipPurchased", "Create", {"PersonId": 501, "MembershipId": 12}, "person:501"),
    ("Program", "Delete", {"Id": "4"}, "program:4"),
    ("WaitListRegistration", "Create", {"Id": 33}, "waitlistregistration:33"),
    ("Activity", "Update", {"Id": "0004"}, "activity:4"),              # the drain reads ids as integers
])
def test_entity_keys(context, action, payload, key):
    d = parse_one(envelope(context, action, payload))
    assert (d.source, d.link, d.event_type, d.entity_key) == ("amilia", "club", f"{context}.{action}", key)


def test_event_id_is_the_body_hash_and_payload_the_envelope():
    env = envelope(BillingLabel="Été 2026")  # extra top-level fields (Activity events) are kept
    body = body_of(env)
    [d] = SOURCE.parse(body, "club")
    assert d.event_id == sha(body) and d.payload == env
    spaced = body.replace(b", ", b",  ")
    assert SOURCE.parse(spaced, "club")[0].event_id != d.event_id  # raw bytes, as Amilia re-sends them


def test_array_elements_get_canonical_ids():
    a, b = envelope(payload={"Id": 1}), envelope(payload={"Id": 2})
    deliveries = SOURCE.parse(body_of([a, b]), "club")
    assert [d.event_id for d in deliveries] == [canonical_sha256(a), canonical_sha256(b)]
    reordered = dict(reversed(list(a.items())))
    assert SOURCE.parse(body_of([reordered]), "club")[0].event_id == canonical_sha256(a)


@pytest.mark.parametrize(("body", "field"), [
    ({"Context": "Person"}, "OrganizationId"),
    (envelope(OrganizationId=True), "OrganizationId"),
    (envelope(context="person"), "Context"),
    (envelope(action=None), "Action"),
    (envelope(Name=3), "Name"),
    (envelope(EventTime=20260315), "EventTime"),
    ({k: v for k, v in envelope().items() if k != "Payload"}, "Payload"),
    (envelope(payload={"Id": None}), "Payload.Id"),
    (envelope(payload={"Id": True}), "Payload.Id"),
    (envelope(payload={"Id": "  "}), "Payload.Id"),
    (envelope(payload={"Id": 4.0}), "Payload.Id"),                     # ids are whole numbers, not floats
    (envelope(payload={"Id": -1}), "Payload.Id"),
    (envelope(payload={"Id": 1e308}), "Payload.Id"),
    (envelope(payload={"Id": 2**63}), "Payload.Id"),
    (envelope(payload={"Id": "9" * 5000}), "Payload.Id"),
    (envelope(payload={"Id": "../../accounts/2001"}), "Payload.Id"),
    (envelope(payload={"Id": "\u0663"}), "Payload.Id"),                 # a digit, but not an ASCII one
    (envelope(OrganizationId=-8008), "OrganizationId"),
    (envelope(OrganizationId=10**30), "OrganizationId"),
    (envelope("Registration", payload={"Person": {"Id": None}}), "Payload.Id"),
    (envelope("Registration", payload={"Id": 1, "Person": {"Id": [1]}}), "Payload.Person.Id"),
    (envelope("MembershipPurchased", payload={"Id": 1}), "Payload.PersonId"),
    ([envelope(), 3], "[1]"),
    ([envelope(), envelope(payload={})], "[1].Payload.Id"),
    ([envelope()] * 1001, "$"),
    (42, "$"),
])
def test_invalid_envelopes_name_the_field(body, field):
    with pytest.raises(InvalidEnvelope) as err:
        SOURCE.parse(body_of(body), "club")
    assert err.value.field == field and err.value.status == 422


def test_not_json():
    for body in (b"", b"{", b"\xff", b"Infinity"):
        with pytest.raises(NotJson):
            SOURCE.parse(body, "club")
