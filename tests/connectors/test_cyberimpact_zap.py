"""Cyberimpact zap actions (`upsert_contact`, `add_to_groups`, `remove_from_groups`) through the registry against
the Cyberimpact emulator over a real socket (docs/zap-actions-vendors.md; API-NOTES §2: the member key is the
e-mail, POST /members refuses an existing one, PATCH edits some fields, POST/DELETE /members/{key}/groups)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError as InputError

from connectors._http import ApiError, NotFoundError
from connectors.cyberimpact import CyberimpactCredentials
from passerelle.zaps.registry import get_action
from tests.connectors.conftest import CYBER_TOKEN, Control

STATE = {"customFields": [{"id": 1, "name": "Amilia.IsArchived", "type": "text"},
                          {"id": 2, "name": "Visits", "type": "integer"}],
         "groups": [{"id": 10, "title": "Clients Amilia"}, {"id": 11, "title": "Arts \\ Danse"},
                    {"id": 12, "title": "Yoga"},
                    {"id": 13, "title": "Dynamic", "isDynamic": True,
                     "criteria": {"match": "all", "rules": [{"field": "groupTitle", "operator": "contains",
                                                             "value": "Arts \\ "}]}}],
         "members": [{"email": "known@example.org", "firstname": "Ana", "lastname": "Silva", "company": "Acme",
                      "groups": [10], "customFields": {"2": 3}, "relationType": "express-consent",
                      "consentDate": "2025-01-02", "consentType": "express"}]}


@pytest.fixture(scope="module")
def cyber_sandbox() -> Iterator[Control]:
    from sandbox.app import create_app
    from sandbox.cyberimpact.app import build_cyberimpact
    from sandbox.server import SandboxServer

    with SandboxServer(app=create_app([build_cyberimpact()])) as server:
        control = Control(server)
        yield control
        control.http.close()


@pytest.fixture
def sb(cyber_sandbox: Control) -> Control:
    cyber_sandbox.reset()
    cyber_sandbox.load("cyberimpact", STATE)
    return cyber_sandbox


def block(sb: Control | None = None) -> CyberimpactCredentials:
    url = f"{sb.server.url}/cyberimpact" if sb else "https://api.cyberimpact.com"
    return CyberimpactCredentials(api_token=CYBER_TOKEN, base_url=url)


async def run(ref: str, connection: Any, **values: Any):
    spec = get_action(f"cyberimpact.{ref}")
    return await spec.run(spec.input_model.model_validate(values), connection)


def member(sb: Control, email: str) -> dict[str, Any]:
    return next(m for m in sb.state("cyberimpact")["members"] if m["email"] == email)


async def test_a_new_contact_is_created_with_its_fields_groups_and_consent(sb: Control) -> None:
    out = await run("upsert_contact", block(sb), email=" Lea@Example.org ", firstname="Léa", lastname="Roy",
                    language="fr", country="ca", birthdate="2010-05-04", postal_code="H2X 1Y4", groups="11, 12",
                    custom_fields={"1": "False", 2: 7}, relation_type="active-clients", consent_date="2026-03-01",
                    consent_proof="Amilia registration")
    lea = member(sb, "lea@example.org")
    assert out.created is True and out.id == lea["id"] and out.groups == [11, 12] == lea["groups"]
    assert (lea["firstname"], lea["lastname"], lea["language"], lea["country"]) == ("Léa", "Roy", "fr_ca", "CA")
    assert (lea["birthdate"], lea["postalCode"]) == ("2010-05-04", "H2X 1Y4")
    assert lea["customFields"] == {"1": "False", "2": 7}
    assert (lea["relationType"], lea["consentDate"], lea["consentProof"]) == \
        ("active-clients", "2026-03-01", "Amilia registration")


async def test_an_existing_contact_gets_only_the_fields_given_and_keeps_its_consent(sb: Control) -> None:
    out = await run("upsert_contact", block(sb), email="KNOWN@example.org", firstname="Ana María", company="",
                    custom_fields={"1": "True", "2": ""}, groups=[11], relation_type="active-clients")
    known = member(sb, "known@example.org")
    assert out.created is False and out.groups == [10, 11] == known["groups"]  # added, kept in group 10
    assert (known["firstname"], known["lastname"], known["company"]) == ("Ana María", "Silva", "Acme")
    assert known["customFields"] == {"1": "True", "2": 3}  # an empty value keeps the field
    assert (known["relationType"], known["consentDate"]) == ("express-consent", "2025-01-02")
    assert [r["method"] for r in sb.requests("cyberimpact")] == ["GET", "PATCH", "POST"]


async def test_upserting_twice_leaves_the_contact_as_once(sb: Control) -> None:
    values = {"email": "new@example.org", "firstname": "Zoé", "groups": [12], "custom_fields": {"2": 1}}
    first = await run("upsert_contact", block(sb), **values)
    before = sb.state("cyberimpact")["members"]
    second = await run("upsert_contact", block(sb), **values)
    after = sb.state("cyberimpact")["members"]
    assert (first.created, second.created, second.id) == (True, False, first.id)
    assert [{k: v for k, v in m.items() if k != "updatedOn"} for m in after] == \
        [{k: v for k, v in m.items() if k != "updatedOn"} for m in before]
    assert get_action("cyberimpact.upsert_contact").idempotent is True


async def test_a_create_whose_answer_was_lost_is_settled_by_reading_the_contact(sb: Control) -> None:
    sb.faults("cyberimpact", lost_answer_rate=1.0, lost_answer_methods=["POST"])
    out = await run("upsert_contact", block(sb), email="lost@example.org", firstname="Lou", groups=[11])
    assert out.created is True and out.groups == [11]
    assert member(sb, "lost@example.org")["firstname"] == "Lou"
    calls = [(r["method"], r["status"]) for r in sb.requests("cyberimpact")]
    assert calls == [("GET", 404), ("POST", 504), ("GET", 200), ("PATCH", 200)]  # one POST: never sent twice


@respx.mock(assert_all_called=True)
async def test_a_contact_created_meanwhile_by_someone_else_is_patched_not_refused(respx_mock) -> None:
    api = "https://api.cyberimpact.com/members"
    key = f"{api}/race%40example.org"
    gets = respx_mock.get(key).mock(side_effect=[
        httpx.Response(404, json={"message": "Member not found."}),
        httpx.Response(200, json={"id": 5, "email": "race@example.org", "groups": [], "status": "active"}),
        httpx.Response(200, json={"id": 5, "email": "race@example.org", "groups": [], "status": "active"})])
    post = respx_mock.post(api).mock(return_value=httpx.Response(
        422, json={"message": "The given data was invalid.",
                   "errors": {"email": ["The email has already been taken."]}}))
    patch = respx_mock.patch(key).mock(return_value=httpx.Response(
        200, json={"id": 5, "email": "race@example.org", "firstname": "Rae", "groups": [], "status": "active"}))
    out = await run("upsert_contact", block(), email="race@example.org", firstname="Rae")
    assert json.loads(post.calls.last.request.content) == {"email": "race@example.org", "firstname": "Rae"}
    assert json.loads(patch.calls.last.request.content) == {"firstname": "Rae"}
    assert post.calls.last.request.headers["Authorization"] == f"Bearer {CYBER_TOKEN}"
    assert (out.id, out.created, gets.call_count) == (5, False, 3)


async def test_add_to_groups_is_a_union_and_remove_from_groups_leaves_the_others(sb: Control) -> None:
    added = await run("add_to_groups", block(sb), email="known@example.org", groups=[12, 10, 11])
    assert added.groups == [10, 11, 12] == member(sb, "known@example.org")["groups"]
    again = await run("add_to_groups", block(sb), email="known@example.org", groups=[12])
    assert again.groups == [10, 11, 12]
    removed = await run("remove_from_groups", block(sb), email="known@example.org", groups="11, 12, 13")
    assert removed.groups == [10] == member(sb, "known@example.org")["groups"]
    sb.clear_requests("cyberimpact")
    assert (await run("remove_from_groups", block(sb), email="known@example.org", groups=[11])).groups == [10]
    assert [r["method"] for r in sb.requests("cyberimpact")] == ["GET"]  # nothing left to remove: no DELETE
    spec = get_action("cyberimpact.add_to_groups")
    assert (spec.idempotent, get_action("cyberimpact.remove_from_groups").idempotent) == (True, True)


async def test_groups_of_an_unknown_contact_or_a_dynamic_group_are_refused_by_name(sb: Control) -> None:
    for ref in ("add_to_groups", "remove_from_groups"):
        with pytest.raises(NotFoundError) as info:
            await run(ref, block(sb), email="nobody@example.org", groups=[10])
        assert "no contact has the e-mail nobody@example.org" in str(info.value)
    with pytest.raises(ApiError) as info:
        await run("add_to_groups", block(sb), email="known@example.org", groups=[13])
    assert info.value.status == 422 and "dynamic" in str(info.value).lower()
    with pytest.raises(ApiError, match="needs a Cyberimpact connection"):
        await run("upsert_contact", None, email="a@example.org")


@pytest.mark.parametrize(("ref", "values", "field", "words"), [
    ("upsert_contact", {"email": "lea@"}, "email", "is not an e-mail address"),
    ("upsert_contact", {"email": "a@example.org", "language": "de"}, "language", "give fr_ca or en_ca"),
    ("upsert_contact", {"email": "a@example.org", "country": "CAN"}, "country", "alpha-2"),
    ("upsert_contact", {"email": "a@example.org", "birthdate": "04/05/2010"}, "birthdate", "date"),
    ("upsert_contact", {"email": "a@example.org", "groups": "3, x"}, "groups", "valid integer"),
    ("upsert_contact", {"email": "a@example.org", "groups": [0]}, "groups", "positive numbers"),
    ("upsert_contact", {"email": "a@example.org", "relation_type": "friends"}, "relation_type", "express-consent"),
    ("upsert_contact", {"email": "a@example.org", "phone": "1"}, "phone", "Extra inputs"),
    ("add_to_groups", {"email": "a@example.org", "groups": []}, "groups", "at least 1"),
])
def test_bad_inputs_are_refused_naming_the_field(ref: str, values: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        get_action(f"cyberimpact.{ref}").input_model.model_validate(values)
    error = info.value.errors()[0]
    assert field in (".".join(map(str, error["loc"])) + " " + error["msg"]) and words in error["msg"]
