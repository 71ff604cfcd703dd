"""The Mailchimp connector and zap actions against the Mailchimp emulator over a real socket (API-NOTES §8,
docs/connector-mailchimp.md): the upsert by subscriber hash, compliance states, merge fields, tags, errors in
Mailchimp's problem shape, the rate-limit switch, and the Block's test call."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from pydantic import ValidationError as InputError

from connectors._http import AuthError, NotFoundError, ValidationError
from connectors.mailchimp import MailchimpCredentials
from tests.connectors.conftest import FAST_RETRY, Control
from tests.connectors.mailchimp_support import KEY, LIST, TAGS, UPSERT, creds, members, tag, upsert


def audience(*rows: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"lists": [{"id": LIST, "members": list(rows), **extra}]}


async def test_the_blocks_test_call_accepts_the_key_and_refuses_another(sb: Control) -> None:
    assert await creds(sb).test() == "Mailchimp accepted the API key (data center us21, GET /ping)"
    with pytest.raises(AuthError) as info:
        await creds(sb, "wrong-key-us21").test()
    text = str(info.value)
    assert "Mailchimp rejected the API key (401 on GET /ping): API Key Invalid" in text
    assert "'mailchimp-credentials/newsletter'" in text and "wrong-key" not in text
    assert [r["status"] for r in sb.requests("mailchimp")] == [200, 401]


def test_a_key_without_its_data_center_is_refused_naming_the_field_not_the_key() -> None:
    with pytest.raises(InputError) as info:
        MailchimpCredentials(api_key="fedcba9876543210fedcba9876543210")
    assert "api_key: a Mailchimp API key ends with its data center" in str(info.value)
    assert "fedcba98" not in str(info.value)
    with pytest.raises(InputError, match="must be a Mailchimp data center such as us21"):
        MailchimpCredentials(api_key="0123456789abcdef-notadc")
    assert "SECRET" not in repr(MailchimpCredentials(api_key="SECRET-us21"))


async def test_upsert_creates_then_updates_the_same_member_by_its_hash(sb: Control) -> None:
    first = await upsert(sb, email=" Lea@Example.org ", first_name="Léa", last_name="Roy")
    again = await upsert(sb, email="lea@example.org", first_name="Léa", last_name="Roy-Tremblay",
                         merge_fields={"PHONE": "+15145550100", "UNKNOWN": "ignored"})
    expected = hashlib.md5(b"lea@example.org").hexdigest()
    assert first.id == again.id == expected and first.status == "subscribed"
    assert again.merge_fields == {"FNAME": "Léa", "LNAME": "Roy-Tremblay", "PHONE": "+15145550100"}
    stored = members(sb)
    assert list(stored) == ["Lea@Example.org"] and stored["Lea@Example.org"]["merge_fields"]["LNAME"] == "Roy-Tremblay"
    puts = [r for r in sb.requests("mailchimp") if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == [f"/mailchimp/lists/{LIST}/members/{expected}"] * 2


async def test_status_if_new_leaves_an_existing_members_status_alone(sb: Control) -> None:
    sb.load("mailchimp", audience({"email_address": "gone@example.org", "status": "unsubscribed"}))
    kept = await upsert(sb, email="gone@example.org", status_if_new="subscribed", first_name="Gus")
    assert kept.status == "unsubscribed" and kept.merge_fields["FNAME"] == "Gus"
    new = await upsert(sb, email="new@example.org", status_if_new="pending")
    assert new.status == "pending"


async def test_an_unsubscribed_member_cannot_be_subscribed_again_only_asked_to_confirm(sb: Control) -> None:
    sb.load("mailchimp", audience({"email_address": "gone@example.org", "status": "unsubscribed"},
                                  {"email_address": "bounced@example.org", "status": "cleaned"}))
    with pytest.raises(ValidationError) as info:
        await upsert(sb, email="gone@example.org", status="subscribed")
    assert ("Mailchimp rejected the request as invalid (400 on PUT /lists/8e3b1f0c2a/members/"
            in str(info.value)) and "Member In Compliance State: gone@example.org is in a compliance state" in str(
                info.value)
    assert (await upsert(sb, email="gone@example.org", status="pending")).status == "pending"
    with pytest.raises(ValidationError, match="Member In Compliance State"):
        await upsert(sb, email="bounced@example.org", status="pending")
    assert members(sb)["bounced@example.org"]["status"] == "cleaned"


async def test_a_permanently_deleted_address_cannot_be_added_back(sb: Control) -> None:
    sb.load("mailchimp", audience(forgotten=["erased@example.org"]))
    with pytest.raises(ValidationError, match="Forgotten Email Not Subscribed: Erased@example.org was permanently"):
        await upsert(sb, email="Erased@example.org")
    assert members(sb) == {}


async def test_a_required_merge_field_is_enforced_unless_validation_is_skipped(sb: Control) -> None:
    fields = [{"tag": "FNAME", "name": "First Name"}, {"tag": "CLUB", "name": "Club", "required": True}]
    sb.load("mailchimp", audience(merge_fields=fields))
    with pytest.raises(ValidationError) as info:
        await upsert(sb, email="lea@example.org", first_name="Léa")
    assert "Invalid Resource: Your merge fields were invalid" in str(info.value)
    assert info.value.errors == {"CLUB": "Please enter a value"}
    done = await upsert(sb, email="lea@example.org", first_name="Léa", skip_merge_validation=True)
    assert done.merge_fields == {"FNAME": "Léa", "CLUB": ""}
    assert sb.requests("mailchimp")[-1]["query"] == "skip_merge_validation=true"


async def test_an_unknown_audience_is_a_404_in_mailchimps_problem_shape(sb: Control) -> None:
    with pytest.raises(NotFoundError) as info:
        await UPSERT.run(UPSERT.input_model(list_id="0000000000", email="lea@example.org"), creds(sb))
    assert "Resource Not Found: The requested resource could not be found." in str(info.value)
    raw = httpx.get(f"{sb.server.url}/mailchimp/lists/0000000000", auth=("x", KEY))
    assert raw.headers["content-type"].startswith("application/problem+json")
    assert {k: v for k, v in raw.json().items() if k != "instance"} == {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": "Resource Not Found",
        "status": 404, "detail": "The requested resource could not be found."}


async def test_a_bad_address_is_refused_before_sending_and_by_the_emulator(sb: Control) -> None:
    with pytest.raises(InputError, match="email must be an e-mail address"):
        UPSERT.input_model(list_id=LIST, email="lea-at-example.org")
    assert sb.requests("mailchimp") == []
    raw = httpx.put(f"{sb.server.url}/mailchimp/lists/{LIST}/members/x", auth=("x", KEY),
                    json={"email_address": "lea-at-example.org", "status_if_new": "subscribed"})
    assert raw.status_code == 400 and raw.json()["title"] == "Invalid Resource"
    assert raw.json()["errors"] == [{"field": "email_address", "message": "Please provide a valid email address."}]
    missing = httpx.put(f"{sb.server.url}/mailchimp/lists/{LIST}/members/x", auth=("x", KEY), json={})
    assert missing.json()["errors"] == [{"field": "", "message": "Required fields were not provided: "
                                                                 "email_address, status_if_new"}]


async def test_tags_are_added_removed_and_the_same_call_twice_changes_nothing(sb: Control) -> None:
    await upsert(sb, email="lea@example.org")
    out = await tag(sb, email="lea@example.org", tags=["okast", "free copy", "trial"])
    assert (out.added, out.removed) == (["okast", "free copy", "trial"], [])
    for _ in range(2):
        await tag(sb, email="lea@example.org", tags=["renewed"], remove_tags=["trial"])
    assert members(sb)["lea@example.org"]["tags"] == ["okast", "free copy", "renewed"]
    async with creds(sb).client() as mailchimp:
        listed = await mailchimp.member_tags(LIST, "lea@example.org")
    assert [t["name"] for t in listed] == ["okast", "free copy", "renewed"]
    assert [r["status"] for r in sb.requests("mailchimp") if r["method"] == "POST"] == [204, 204, 204]


async def test_tags_on_someone_who_is_not_a_member_is_a_404(sb: Control) -> None:
    with pytest.raises(NotFoundError, match=r"404 on POST /lists/8e3b1f0c2a/members/[0-9a-f]{32}/tags"):
        await tag(sb, email="nobody@example.org", tags=["okast"])


def test_the_tags_inputs_need_a_tag_and_no_contradiction() -> None:
    with pytest.raises(InputError, match="give at least one tag in tags"):
        TAGS.input_model(list_id=LIST, email="lea@example.org")
    with pytest.raises(InputError, match="tags and remove_tags both name okast"):
        TAGS.input_model(list_id=LIST, email="lea@example.org", tags=["okast"], remove_tags=["OKAST"])
    with pytest.raises(InputError, match="give first_name or merge_fields.FNAME, not both"):
        UPSERT.input_model(list_id=LIST, email="lea@example.org", first_name="Léa", merge_fields={"FNAME": "L"})


async def test_a_spent_budget_answers_429_with_retry_after_and_the_client_waits(sb: Control) -> None:
    r = sb.http.put("/_sandbox/mailchimp/rate-limit", json={"per_minute": 1, "window_seconds": 0.4})
    assert r.json()["per_minute"] == 1
    async with creds(sb).client(retry=FAST_RETRY) as mailchimp:
        await mailchimp.ping()
        member = await mailchimp.upsert_member(LIST, "lea@example.org")
    assert member["status"] == "subscribed"
    assert [r["status"] for r in sb.requests("mailchimp")][:3] == [200, 429, 200]
    raw = httpx.get(f"{sb.server.url}/mailchimp/ping", auth=("x", KEY))
    assert raw.status_code == 429 and float(raw.headers["Retry-After"]) > 0
    assert raw.json()["title"] == "Too Many Requests"


def test_the_state_document_round_trips_and_refuses_typos(sb: Control) -> None:
    sb.load("mailchimp", audience({"email_address": "lea@example.org", "merge_fields": {"FNAME": "Léa"},
                                   "tags": ["okast"]}, forgotten=["x@example.org"]))
    dumped = sb.state("mailchimp")
    sb.load("mailchimp", dumped)
    assert sb.state("mailchimp") == dumped
    bad = sb.http.put("/_sandbox/mailchimp/state", json={"lists": [{"id": LIST, "membres": []}]})
    assert bad.status_code == 422 and "unknown list keys ['membres']" in bad.text
