"""A field or group another writer created between our read and our create (a webhook drain running beside
the initial sync, as the every-minute schedule makes it) is used, not a failure of the sync."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from connectors._http import RetryPolicy, ValidationError
from connectors.cyberimpact import CyberimpactClient
from tasks.amilia_mapping import CUSTOM_FIELDS
from tasks.amilia_sync import CyberimpactSnapshot, ensure_custom_fields, ensure_groups
from tasks.amilia_transforms import ContactPlan

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
