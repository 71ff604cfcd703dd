"""CyberimpactClient against the Cyberimpact emulator over a real socket (docs/contracts.md)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors._http import AuthError, RetryPolicy, ValidationError
from connectors.cyberimpact import CyberimpactClient, CyberimpactCredentials
from tests.connectors.conftest import CYBER_TOKEN, FAST_RETRY, Control

PATIENT_RETRY = RetryPolicy(max_attempts=10, max_total_wait=10, initial_wait=0.01, max_wait=0.05)


def client(sb: Control, **kwargs: Any) -> CyberimpactClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("api_token", CYBER_TOKEN)
    return CyberimpactClient(base_url=sb.server.cyberimpact_url, **kwargs)


def members_state(n: int, **extra: Any) -> dict[str, Any]:
    return {"members": [{"email": f"m{i:04d}@example.org", "firstname": f"M{i}"} for i in range(n)], **extra}


async def test_bad_token_fails_at_once_with_one_request(sb: Control) -> None:
    creds = CyberimpactCredentials(api_token="not-the-token", base_url=sb.server.cyberimpact_url)
    creds._block_document_name = "newsletter"
    async with creds.client(retry=FAST_RETRY) as cyber:
        with pytest.raises(AuthError) as info:
            await cyber.list_members()
    assert str(info.value) == ("Cyberimpact rejected the API token (401 on GET /members): Unauthenticated. "
                               "Check the token in the 'cyberimpact-credentials/newsletter' block.")
    assert "not-the-token" not in repr(info.value)
    log = sb.requests("cyberimpact")
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", "/cyberimpact/members", 401)]


async def test_pagination_to_the_last_page(sb: Control) -> None:
    sb.load("cyberimpact", members_state(450))
    async with client(sb, limit=100) as cyber:
        members = await cyber.list_members()
    assert [m["email"] for m in members] == [f"m{i:04d}@example.org" for i in range(450)]
    queries = sorted(r["query"] for r in sb.requests("cyberimpact"))
    assert queries == [f"limit=100&status=all&page={n}" for n in range(1, 6)]


async def test_batch_round_trip(sb: Control) -> None:
    sb.load("cyberimpact", {"members": [
        {"email": "gone@example.org", "status": "unsubscribed"},
        {"email": "fan@example.org", "relationType": "express-consent", "consentDate": "2024-05-02"},
    ]})
    members = [{"email": f"new{i}@example.org", "firstname": f"N{i}"} for i in range(23)]
    members[5] = {"email": "gone@example.org", "firstname": "Back"}
    members[17] = {"email": "not-an-email"}
    members.append({"email": "fan@example.org", "lastname": "Fan"})
    async with client(sb) as cyber:
        group = await cyber.create_static_group("Arts \\ Danse \\ Ballet")
        dynamic = await cyber.create_dynamic_group("Arts \\ Danse", {"match": "all", "rules": [
            {"field": "groupTitle", "operator": "contains", "value": "Arts \\ Danse \\ "}]})
        outcome = await cyber.add_members(members, [group["id"]], default_consent_date="2025-09-01",
                                          default_consent_proof="Amilia", chunk_size=10)
        in_group = await cyber.list_group_members(group["id"])
        in_dynamic = await cyber.list_group_members(dynamic["id"], status="active")
        fan = await cyber.get_consent("fan@example.org")
        new0 = await cyber.get_consent("new0@example.org")
        unsubscribed = await cyber.list_unsubscribed()
    assert len(outcome.batch_ids) == 3
    assert (outcome.successes, outcome.failures) == (22, 2)
    by_index = {e["index"]: e for e in outcome.errors}
    assert by_index[5] == {"index": 5, "email": "gone@example.org", "message": "member is unsubscribed"}
    assert by_index[17]["email"] == "not-an-email" and by_index[17]["message"].startswith("email:")
    expected = {m["email"] for i, m in enumerate(members) if i not in (5, 17)}
    assert {m["email"] for m in in_group} == expected
    assert {m["email"] for m in in_dynamic} == expected
    assert fan["consentType"] == "express"  # an implied relation never overrides express consent
    assert new0 == {"consentType": "implied", "relationType": "active-clients", "consentDate": "2025-09-01",
                    "consentExpiration": "2027-09-01", "consentProof": "Amilia"}
    assert [m["email"] for m in unsubscribed] == ["gone@example.org"]
    polls = [r for r in sb.requests("cyberimpact") if r["path"].startswith("/cyberimpact/batches/")]
    assert all(r["query"] == "showErrorDetails=true" for r in polls) and len(polls) == 6


async def test_member_calls(sb: Control) -> None:
    sb.load("cyberimpact", {"groups": [{"id": 3, "title": "A"}, {"id": 4, "title": "B"}],
                            "members": [{"email": "lea+1@example.org", "firstname": "Léa"}]})
    async with client(sb) as cyber:
        assert (await cyber.get_member("lea+1@example.org"))["firstname"] == "Léa"
        assert await cyber.get_member("nobody@example.org") is None
        assert (await cyber.patch_member("lea+1@example.org", {"note": "VIP"}))["note"] == "VIP"
        await cyber.add_member_groups("lea+1@example.org", [3, 4])
        await cyber.remove_member_group("lea+1@example.org", 3)
        consent = await cyber.put_consent("lea+1@example.org", "active-clients", "2025-01-15", "form")
        member = await cyber.get_member("lea+1@example.org")
        groups = await cyber.list_groups()
    assert member["groups"] == [4] and member["note"] == "VIP"
    assert consent["consentExpiration"] == "2027-01-15"
    assert [g["title"] for g in groups] == ["A", "B"]
    paths = {r["path"] for r in sb.requests("cyberimpact")}
    assert "/cyberimpact/members/lea+1@example.org/groups/3" in paths  # log paths are percent-decoded


async def test_custom_fields_and_account_limit(sb: Control) -> None:
    sb.load("cyberimpact", {"account": {"customFieldsLimit": 1}})
    async with client(sb) as cyber:
        assert (await cyber.get_account())["customFieldsLimit"] == 1
        field = await cyber.create_custom_field("Amilia.PersonId", "integer")
        with pytest.raises(ValidationError, match="customFieldsLimit"):
            await cyber.create_custom_field("Amilia.IsArchived", "text")
        assert await cyber.list_custom_fields() == [field]
        assert await cyber.ping() == {"ping": "pong"}


async def test_429_with_retry_after_is_retried_then_succeeds(sb: Control) -> None:
    sb.load("cyberimpact", members_state(50))
    sb.faults("cyberimpact", rate_429=0.5, retry_after=0.1, seed=11)
    async with client(sb, limit=10, max_concurrency=1, retry=PATIENT_RETRY) as cyber:
        members = await cyber.list_members()
        retries = cyber.stats.retries
    assert len(members) == 50
    log = sb.requests("cyberimpact")
    throttled = [i for i, r in enumerate(log) if r["status"] == 429]
    assert throttled and retries == len(throttled)
    for i in throttled:
        retry = next(r for r in log[i + 1:] if r["query"] == log[i]["query"])
        assert retry["at"] - log[i]["at"] >= 0.095


async def test_5xx_and_timeouts_are_retried(sb: Control) -> None:
    sb.load("cyberimpact", members_state(30))
    sb.faults("cyberimpact", error_rate=0.3, timeout_rate=0.2, timeout_s=0.6, seed=5)
    async with client(sb, limit=5, max_concurrency=1, retry=PATIENT_RETRY, timeout=0.3) as cyber:
        members = await cyber.list_members()
        stats = cyber.stats
    assert len(members) == 30
    assert stats.retries >= 1 and stats.retries == stats.transport_errors + sum(
        n for status, n in stats.by_status.items() if status >= 500)
