"""CyberimpactClient against respx: method, URL, query and body of each call. Every route must be called."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
import respx

from connectors._http import AuthError, RetryPolicy, ValidationError
from connectors.cyberimpact import CyberimpactClient, CyberimpactCredentials
from connectors.cyberimpact.batches import add_members_bodies

BASE = "https://api.cyberimpact.com"
TOKEN = "ci-SECRET-token"


def cyber(**kwargs) -> CyberimpactClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    return CyberimpactClient(api_token=TOKEN, **kwargs)


def body_of(route: respx.Route, index: int = -1) -> object:
    return json.loads(route.calls[index].request.content)


@respx.mock(assert_all_called=True)
async def test_list_members_pages_with_status_and_limit(respx_mock) -> None:
    def members(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        p, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        ids = range((p - 1) * limit + 1, min(p * limit, 5) + 1)
        return httpx.Response(200, json={"members": [{"id": i} for i in ids], "totalCount": 5, "page": p,
                                         "limit": limit, "sort": "id_asc"})

    route = respx_mock.get(f"{BASE}/members", params={"status": "all", "limit": "2"})
    route.mock(side_effect=members)
    async with cyber(limit=2) as client:
        rows = await client.list_members()
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert sorted(c.request.url.params["page"] for c in route.calls) == ["1", "2", "3"]


@respx.mock(assert_all_called=True)
async def test_default_limit_is_10000(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/members/unsubscribed", params__eq={"limit": "10000", "page": "1"}).mock(
        return_value=httpx.Response(200, json={"members": [], "totalCount": 0, "page": 1, "limit": 10000}))
    async with cyber() as client:
        assert await client.list_unsubscribed() == []
    assert route.call_count == 1


@respx.mock(assert_all_called=True)
async def test_member_keys_are_url_encoded(respx_mock) -> None:
    seen: list[bytes] = []

    def member(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        if b"nobody" in request.url.raw_path:
            return httpx.Response(404, json={"message": "Member not found.", "errors": {}})
        return httpx.Response(200, json={"email": "lea+1@example.org"})

    respx_mock.get(url__startswith=f"{BASE}/members/").mock(side_effect=member)
    async with cyber() as client:
        assert await client.get_member("lea+1@example.org") == {"email": "lea+1@example.org"}
        assert await client.get_member("nobody@example.org") is None
    assert seen == [b"/members/lea%2B1%40example.org", b"/members/nobody%40example.org"]


@respx.mock(assert_all_called=True)
async def test_member_writes(respx_mock) -> None:
    patch = respx_mock.patch(f"{BASE}/members/lea%40example.org").mock(
        return_value=httpx.Response(200, json={"email": "lea@example.org", "note": "VIP"}))
    consent = respx_mock.put(f"{BASE}/members/lea%40example.org/consent").mock(
        return_value=httpx.Response(200, json={"relationType": "active-clients"}))
    add = respx_mock.post(f"{BASE}/members/lea%40example.org/groups").mock(
        return_value=httpx.Response(200, json={"groups": [], "totalCount": 0}))
    remove = respx_mock.delete(f"{BASE}/members/lea%40example.org/groups/7").mock(
        return_value=httpx.Response(200, json={"groups": []}))
    async with cyber() as client:
        assert (await client.patch_member("lea@example.org", {"note": "VIP"}))["note"] == "VIP"
        await client.put_consent("lea@example.org", "active-clients", date(2025, 9, 1), "Amilia registration")
        await client.add_member_groups("lea@example.org", [3, 4])
        await client.remove_member_group("lea@example.org", 7)
    assert body_of(patch) == {"note": "VIP"}
    assert body_of(consent) == {"relationType": "active-clients", "consentDate": "2025-09-01",
                                "consentProof": "Amilia registration"}
    assert body_of(add) == {"groups": "3,4"}
    assert remove.call_count == 1


@respx.mock(assert_all_called=True)
async def test_groups_and_custom_fields(respx_mock) -> None:
    groups = respx_mock.post(f"{BASE}/groups").mock(side_effect=[
        httpx.Response(201, json={"id": 1, "title": "Arts \\ Danse"}),
        httpx.Response(201, json={"id": 2, "title": "Arts", "isDynamic": True}),
        httpx.Response(422, json={"message": "The given data was invalid.",
                                  "errors": {"title": ["The title has already been taken."]}}),
    ])
    field = respx_mock.post(f"{BASE}/customfields").mock(
        return_value=httpx.Response(201, json={"id": 12, "name": "Amilia.IsArchived", "type": "text"}))
    rule = {"field": "groupTitle", "operator": "contains", "value": "Arts \\ "}
    criteria = {"match": "all", "rules": [rule]}
    async with cyber() as client:
        assert (await client.create_static_group("Arts \\ Danse"))["id"] == 1
        assert (await client.create_dynamic_group("Arts", criteria))["id"] == 2
        with pytest.raises(ValidationError, match="title: The title has already been taken"):
            await client.create_static_group("Arts \\ Danse")
        assert (await client.create_custom_field("Amilia.IsArchived", "text"))["id"] == 12
    assert body_of(groups, 0) == {"title": "Arts \\ Danse", "isPublic": False}
    assert body_of(groups, 1) == {"title": "Arts", "isPublic": False, "isDynamic": True, "criteria": criteria}
    assert body_of(field) == {"name": "Amilia.IsArchived", "type": "text"}


def test_add_members_bodies_chunks_and_leaves_unset_defaults_out() -> None:
    members = [{"email": f"m{i}@example.org"} for i in range(5)]
    bodies = add_members_bodies(members, [3], "active-clients", None, None, chunk_size=2)
    assert [offset for offset, _ in bodies] == [0, 2, 4]
    assert bodies[2][1] == {"batchType": "addMembers", "relationType": "active-clients", "groups": [3],
                            "members": [{"email": "m4@example.org"}]}
    _, body = add_members_bodies(members, [], "active-clients", date(2025, 1, 2), "proof", 10)[0]
    assert body["defaultConsentDate"] == "2025-01-02" and body["defaultConsentProof"] == "proof"


@respx.mock(assert_all_called=True)
async def test_add_members_submits_chunks_waits_and_merges(respx_mock) -> None:
    submitted: list[dict] = []

    def post_batch(request: httpx.Request) -> httpx.Response:
        submitted.append(json.loads(request.content))
        return httpx.Response(201, json={"id": 100 + len(submitted), "batchType": "addMembers",
                                         "status": "queued", "createdOn": "2026-01-01 00:00:00"})

    polls: dict[str, int] = {}

    def get_batch(request: httpx.Request, batch_id: str) -> httpx.Response:
        assert request.url.params["showErrorDetails"] == "true"
        polls[batch_id] = polls.get(batch_id, 0) + 1
        if polls[batch_id] == 1:
            return httpx.Response(200, json={"id": int(batch_id), "status": "queued", "result": None})
        errors = [{"index": 1, "email": "m3@example.org", "message": "member is unsubscribed"}] \
            if batch_id == "102" else []
        return httpx.Response(200, json={"id": int(batch_id), "status": "completed", "result": {
            "successes": 2 - len(errors), "failures": len(errors), "errors": errors}})

    respx_mock.post(f"{BASE}/batches").mock(side_effect=post_batch)
    respx_mock.get(url__regex=rf"{BASE}/batches/(?P<batch_id>\d+)").mock(side_effect=get_batch)
    members = [{"email": f"m{i}@example.org", "firstname": f"F{i}"} for i in range(4)]
    async with cyber() as client:
        outcome = await client.add_members(members, groups=[5, 6], chunk_size=2,
                                           default_consent_date="2025-09-01")
    assert (outcome.successes, outcome.failures) == (3, 1)
    assert outcome.errors == [{"index": 3, "email": "m3@example.org", "message": "member is unsubscribed"}]
    assert sorted(outcome.batch_ids) == [101, 102] and outcome.failed_emails == ["m3@example.org"]
    assert sorted(m["email"] for b in submitted for m in b["members"]) == [m["email"] for m in members]
    assert all(b["groups"] == [5, 6] and b["defaultConsentDate"] == "2025-09-01" for b in submitted)
    assert polls == {"101": 2, "102": 2}


async def test_add_members_with_nothing_to_add_makes_no_call() -> None:
    async with cyber() as client:
        outcome = await client.add_members([], groups=[1])
    assert outcome.successes == 0 and outcome.batch_ids == [] and client.stats.calls == 0


@respx.mock(assert_all_called=True)
async def test_wait_batch_times_out(respx_mock) -> None:
    queued = httpx.Response(200, json={"id": 9, "status": "queued"})
    respx_mock.get(f"{BASE}/batches/9").mock(return_value=queued)
    async with cyber() as client:
        with pytest.raises(TimeoutError, match="batch 9 not completed"):
            await client.wait_batch(9, poll_interval=0.01, timeout=0.05)


@respx.mock(assert_all_called=True)
async def test_bad_token_message_names_the_block(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/members").mock(
        return_value=httpx.Response(401, json={"message": "Unauthenticated.", "errors": {}}))
    creds = CyberimpactCredentials(api_token=TOKEN)
    creds._block_document_name = "newsletter"
    async with creds.client() as client:
        with pytest.raises(AuthError) as info:
            await client.list_members()
    assert route.call_count == 1
    assert str(info.value) == ("Cyberimpact rejected the API token (401 on GET /members): Unauthenticated. "
                               "Check the token in the 'cyberimpact-credentials/newsletter' block.")
    assert TOKEN not in repr(info.value) and TOKEN not in repr(creds)


@respx.mock(assert_all_called=True)
async def test_ping_and_account(respx_mock) -> None:
    respx_mock.get(f"{BASE}/ping").mock(return_value=httpx.Response(200, json={"ping": "pong"}))
    respx_mock.get(f"{BASE}/account").mock(return_value=httpx.Response(200, json={
        "id": 1, "name": "Club", "plan": "pro", "customFieldsLimit": 50}))
    async with cyber() as client:
        assert await client.ping() == {"ping": "pong"}
        assert (await client.get_account())["customFieldsLimit"] == 50
