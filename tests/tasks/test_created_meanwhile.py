"""A field or group another writer created between our read and our create (a webhook drain running beside
the initial sync, as the every-minute schedule makes it) is used, not a failure of the sync."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from connectors._http import RetryPolicy, ValidationError
from connectors.cyberimpact import CyberimpactClient
from tasks.amilia_cyberimpact.mapping import CUSTOM_FIELDS
from tasks.amilia_cyberimpact.sync import CyberimpactSnapshot, create_once, ensure_custom_fields, ensure_groups
from tasks.amilia_cyberimpact.transforms import ContactPlan

TOKEN = "sandbox-cyberimpact-token"
FAST = RetryPolicy(max_attempts=3, max_total_wait=2.0, initial_wait=0.01, max_wait=0.05)


def _load(sandbox, **state) -> None:
    httpx.put(f"{sandbox.url}/_sandbox/cyberimpact/state", json={"tokens": [TOKEN], **state},
              timeout=30).raise_for_status()


def _empty_snapshot() -> CyberimpactSnapshot:
    return CyberimpactSnapshot({}, [], [], [], set())


async def test_a_custom_field_created_meanwhile_is_used(sandbox):
    taken = CUSTOM_FIELDS[0]
    _load(sandbox, customFields=[{"id": 77, "name": taken.name, "type": taken.type}])
    async with CyberimpactClient(base_url=sandbox.cyberimpact_url, api_token=TOKEN, retry=FAST) as client:
        ids = await ensure_custom_fields.fn(client, _empty_snapshot(), [cf.name for cf in CUSTOM_FIELDS])
        listed = {f["name"]: str(f["id"]) for f in await client.list_custom_fields()}
    assert ids[taken.name] == "77"
    assert ids == {cf.name: listed[cf.name] for cf in CUSTOM_FIELDS}
    assert len(listed) == len(CUSTOM_FIELDS), "a field was created twice"


async def test_a_group_created_meanwhile_is_used(sandbox):
    _load(sandbox, groups=[{"id": 12, "title": "Clients Amilia"}])
    plan = ContactPlan(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ["Tennis - Junior"], [], [])
    async with CyberimpactClient(base_url=sandbox.cyberimpact_url, api_token=TOKEN, retry=FAST) as client:
        field_ids = await ensure_custom_fields.fn(client, _empty_snapshot(), [cf.name for cf in CUSTOM_FIELDS])
        ids, _ = await ensure_groups.fn(client, _empty_snapshot(), plan, field_ids)
        groups = await client.list_groups()
    assert ids["Clients Amilia"] == "12"
    assert [g["title"] for g in groups].count("Clients Amilia") == 1
    assert "Tennis - Junior" in ids


async def test_a_refusal_that_is_not_a_race_still_fails(sandbox):
    _load(sandbox, account={"id": 1, "name": "Sandbox", "plan": "pro", "customFieldsLimit": 0})
    async with CyberimpactClient(base_url=sandbox.cyberimpact_url, api_token=TOKEN, retry=FAST) as client:
        with pytest.raises(ValidationError):
            await ensure_custom_fields.fn(client, _empty_snapshot(), [CUSTOM_FIELDS[0].name])


def _lose_answers(sandbox, rate: float = 1.0) -> None:
    """Cyberimpact applies every write but its answer is lost (a proxy answers 504 after the work is done)."""
    httpx.put(f"{sandbox.url}/_sandbox/faults", json={"cyberimpact": {"lost_answer_rate": rate,
                                                                      "lost_answer_methods": ["POST"]}},
              timeout=10).raise_for_status()


def _posts(sandbox, path: str) -> int:
    calls = httpx.get(f"{sandbox.url}/_sandbox/cyberimpact/requests", timeout=10).json()["requests"]
    return sum(1 for c in calls if c["method"] == "POST" and c["path"].endswith(path))


async def test_a_group_whose_answer_was_lost_is_found_not_created_twice(sandbox):
    """Issue 9: the POST is not re-sent by the connector (it may have landed); the group is looked up and
    used. Before, the retry got 422 "title already taken" and the sync failed, or made a duplicate."""
    _load(sandbox, groups=[])
    _lose_answers(sandbox)
    plan = ContactPlan(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ["Tennis - Junior"], [], [])
    async with CyberimpactClient(base_url=sandbox.cyberimpact_url, api_token=TOKEN, retry=FAST) as client:
        field_ids = await ensure_custom_fields.fn(client, _empty_snapshot(), [cf.name for cf in CUSTOM_FIELDS])
        ids, created = await ensure_groups.fn(client, _empty_snapshot(), plan, field_ids)
        groups = await client.list_groups()
        fields = await client.list_custom_fields()
    titles = [g["title"] for g in groups]
    assert sorted(titles) == sorted(set(titles)), "a group was created twice"
    assert {"Clients Amilia", "Tennis - Junior"} <= set(ids)
    assert ids["Tennis - Junior"] in {str(g["id"]) for g in groups}
    assert len(fields) == len(CUSTOM_FIELDS) and field_ids == {f["name"]: str(f["id"]) for f in fields}
    assert _posts(sandbox, "/groups") == len(created)  # one POST per group: found after the lost answer


async def test_a_create_lost_before_it_landed_is_sent_once_more(sandbox):
    """The answer lost *before* the vendor applied it (the sandbox's timeout fault, which applies nothing): the
    lookup does not find it, so it is sent once more, and exists once."""
    _load(sandbox, groups=[])
    httpx.put(f"{sandbox.url}/_sandbox/faults", json={"cyberimpact": {"timeout_rate": 1.0, "timeout_s": 0.0}},
              timeout=10).raise_for_status()
    async with CyberimpactClient(base_url=sandbox.cyberimpact_url, api_token=TOKEN, retry=FAST) as client:

        async def list_once_the_fault_is_gone():
            httpx.put(f"{sandbox.url}/_sandbox/faults", json={"cyberimpact": {}}, timeout=10).raise_for_status()
            return await client.list_groups()

        group = await create_once(lambda: client.create_static_group("Tennis - Junior"),
                                  list_once_the_fault_is_gone, "title", "Tennis - Junior")
        groups = await client.list_groups()
    assert [g["title"] for g in groups] == ["Tennis - Junior"] and str(group["id"]) == str(groups[0]["id"])
    assert _posts(sandbox, "/groups") == 2  # the lost one (never applied) and the one that made it
