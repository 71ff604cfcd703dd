"""amilia_initial_sync end to end: Prefect (test harness) → connectors → sandbox over a real socket.

Each test quotes the sentence of ../shared/seeds/cyberimpact-amilia-sync.txt it checks.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.amilia_sync import SYNC_KIND, amilia_initial_sync
from passerelle.store import get_watermark, latest_sync_run
from tasks.amilia_cyberimpact.diff import REASON_UNSUBSCRIBED
from tasks.amilia_cyberimpact.mapping import ARCHIVED_GROUP, CLIENTS_GROUP, CUSTOM_FIELDS
from tasks.amilia_cyberimpact.sync import PreflightError
from tasks.amilia_cyberimpact.transforms import REASON_CHILD
from tests.support.amilia_org import BALLET, GYM, KARATE
from tests.support.clubs import INITIAL_SYNC_CYBERIMPACT as CYBERIMPACT
from tests.support.clubs import INITIAL_SYNC_DAY as TODAY
from tests.support.clubs import initial_sync_club as club
from tests.support.cyberimpact_state import custom_fields_of_member as custom
from tests.support.cyberimpact_state import member


async def test_initial_sync_applies_the_seed_rules(link):
    org = club()
    link.load(org.state(), CYBERIMPACT)
    summary = await amilia_initial_sync(link=link.name, as_of=TODAY)
    state = link.cyberimpact()
    emails = {m["email"] for m in state["members"] if m["status"] == "active"}
    # owner + adult with own e-mail; the child's registration brings only the owner; archived kept;
    # active membership in; expired membership and > 24 months out; unsubscribed untouched.
    assert emails == {"marc.roy@example.org", "julie.roy@example.org", "gagnon@example.org", "gym@example.org"}
    assert member(state, "gone@example.org")["status"] == "unsubscribed"
    assert summary["skipped"][REASON_CHILD] == 1 and summary["skipped"][REASON_UNSUBSCRIBED] == 1
    assert summary["counts"]["contacts created"] == 4 and summary["counts"]["failures"] == 0

    # "Groupe Clients Amilia : groupe statique privé qui rassemble tous vos contacts en provenance d'Amilia"
    assert link.group_members(CLIENTS_GROUP) == emails
    # activity groups; the child's karate registration puts the owner in the karate group
    assert link.group_members(BALLET) == {"marc.roy@example.org", "julie.roy@example.org"}
    assert link.group_members(KARATE) == {"marc.roy@example.org"}
    assert link.group_members(GYM) == {"gym@example.org"}
    # dynamic groups: "le nom du groupe d'une activité contient un programme spécifique"
    assert link.group_members("Arts") == {"marc.roy@example.org", "julie.roy@example.org"}
    assert link.group_members("Arts \\ Danse \\ Ballet") == {"marc.roy@example.org", "julie.roy@example.org"}
    assert link.group_members("Arts martiaux") == {"marc.roy@example.org"}
    # "Les adresses des comptes et personnes archivés … dans le groupe nommé "Clients Amilia archivés""
    assert link.group_members(ARCHIVED_GROUP) == {"gagnon@example.org"}
    groups = {g["title"]: g for g in state["groups"]}
    assert not groups[BALLET]["isDynamic"] and groups["Arts \\ Danse"]["isDynamic"]
    assert groups["Arts \\ Danse"]["criteria"]["rules"] == [
        {"field": "groupTitle", "operator": "contains", "value": "Arts \\ Danse \\ "}]

    # fields and consent
    assert {f["name"]: f["type"] for f in state["customFields"]} == {c.name: c.type for c in CUSTOM_FIELDS}
    julie = member(state, "julie.roy@example.org")
    assert (julie["firstname"], julie["gender"], julie["country"], julie["postalCode"]) == (
        "Julie", "f", "CA", "H2X 1Y4")
    assert custom(state, julie)["Amilia.PersonId"] in (11, "11")
    assert custom(state, member(state, "gagnon@example.org"))["Amilia.IsArchived"] == "True"
    owner = member(state, "marc.roy@example.org")
    # "La date de consentement correspond … à la date de création de l'inscription"; proof = its number
    assert owner["relationType"] == "active-clients"
    assert (owner["consentDate"][:10], owner["consentProof"]) == (
        (TODAY - timedelta(days=20)).isoformat(), "SUB-101")
    gym = member(state, "gym@example.org")
    assert (gym["consentDate"][:10], gym["consentProof"]) == ((TODAY - timedelta(days=15)).isoformat(), GYM)
    assert custom(state, gym)["Amilia.Membership.Name"] == GYM

    run = latest_sync_run(SYNC_KIND, link.name)
    assert run.status == "completed" and run.summary["counts"] == summary["counts"]
    assert get_watermark("amilia", link.name) is not None
    key = f"amilia-sync-{link.name}"
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert len(artifacts) == 1 and artifacts[0].type == "table"
    assert {"item": "contacts created", "count": 4} in json.loads(artifacts[0].data)


async def test_second_run_changes_nothing(link):
    """A second run writes nothing to Cyberimpact."""
    link.load(club().state(), CYBERIMPACT)
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    before = link.cyberimpact()
    link.clear_requests()
    again = await amilia_initial_sync(link=link.name, as_of=TODAY)
    assert link.writes() == []
    assert again["counts"]["contacts created"] == again["counts"]["contacts updated"] == 0
    assert again["counts"]["contacts unchanged"] == 4 and again["counts"]["groups created"] == 0
    after = link.cyberimpact()
    assert [m for m in after["members"]] == [m for m in before["members"]]


async def test_dry_run_writes_nothing_and_reports_what_would_change(link):
    link.load(club().state(), CYBERIMPACT)
    summary = await amilia_initial_sync(link=link.name, as_of=TODAY, dry_run=True)
    assert link.writes() == []
    assert summary["dry_run"] is True
    assert summary["counts"]["contacts created"] == 4
    assert summary["counts"]["custom fields created"] == 14
    assert BALLET in summary["groups_created"] and ARCHIVED_GROUP in summary["groups_created"]
    assert [m["email"] for m in link.cyberimpact()["members"]] == ["gone@example.org"]


async def test_account_without_room_for_14_custom_fields_stops_before_writing(link):
    """"vous devez avoir un forfait Plus ou Pro de Cyberimpact, puisque vous aurez besoin d'au moins 14
    champs personnalisés": the flow stops before writing anything and says why."""
    doc = {"account": {"id": 1, "name": "Petit compte", "plan": "basic", "customFieldsLimit": 5},
           "tokens": ["sandbox-cyberimpact-token"]}
    link.load(club().state(), doc)
    with pytest.raises(PreflightError, match=r"can hold 5 custom fields.*Plus or Pro"):
        await amilia_initial_sync(link=link.name, as_of=TODAY)
    assert link.writes() == []
    run = latest_sync_run(SYNC_KIND, link.name)
    assert run.status == "failed" and "PreflightError" in run.error
