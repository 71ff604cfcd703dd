"""process_amilia_events end to end, one seed rule per test: inbox rows (as the gateway stores them) →
Prefect (test harness) → Amilia and Cyberimpact sandboxes over a real socket.

Each test quotes the sentence of ../shared/seeds/cyberimpact-amilia-sync.txt ("Mise à jour automatique",
"Segmentation des contacts") it checks. The initial sync runs first, so the webhooks start from its state.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.amilia_webhooks import artifact_key, process_amilia_events
from passerelle.store.effects import effect_details
from tasks.amilia_cyberimpact.events.model import SKIP_ALL_CANCELLED
from tasks.amilia_cyberimpact.mapping import ARCHIVED_GROUP, CLIENTS_GROUP
from tests.support.amilia_org import BALLET, GYM, KARATE, SOCCER, SWIM, person
from tests.support.amilia_webhooks import (
    account_event,
    deliver,
    envelope,
    events,
    membership_event,
    person_event,
    registration_event,
)
from tests.support.clubs import GAGNON, JULIE, MARC, TODAY, reload_amilia, synced
from tests.support.clubs import webhook_club as club
from tests.support.cyberimpact_state import custom_fields as custom
from tests.support.cyberimpact_state import member


@pytest.fixture(autouse=True)
def no_linger(monkeypatch):
    monkeypatch.setattr("flows.amilia_webhooks.LINGER_SECONDS", 0.0)


async def test_person_created_or_updated(link):
    """"Lorsqu'une nouvelle personne est créée, nous ajouterons son adresse ainsi que celle du propriétaire du
    compte Amilia à l'origine de l'inscription. Toutefois, si cette personne est un enfant ou partage la même
    adresse que le propriétaire du compte, seule l'adresse du propriétaire sera ajoutée. Si le contact existe
    déjà dans votre compte Cyberimpact, il sera mis à jour.\""""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org", TelephoneMobile=None)
    emma = org.person(14, 1, "Emma", "emma.roy@example.org", child=True)
    paul = org.person(15, 1, "Paul", MARC)                                  # shares the owner's e-mail
    owner3 = org.family(3, "nouveau@example.org")                           # a new account's owner
    person(org, 11)["Telephone"] = "514-555-9999"
    reload_amilia(link, org)
    deliver(link.name, *(person_event(p) for p in (zoe, emma, paul, owner3)),
            person_event(person(org, 11), "Update"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 5 and summary["failed"] == summary["dead"] == 0
    async with get_client() as client:  # the run's counts, as a table artifact
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(link.name)])))
    assert artifacts and {"item": "applied", "count": 5} in json.loads(artifacts[0].data)
    state = link.cyberimpact()
    emails = {m["email"] for m in state["members"]}
    assert emails == {MARC, JULIE, GAGNON, "zoe.roy@example.org", "nouveau@example.org"}  # no child, no Paul
    assert link.group_members(CLIENTS_GROUP) == emails
    z = member(state, "zoe.roy@example.org")
    assert (z["firstname"], z["lastname"], z["gender"], z["birthdate"], z["country"], z["postalCode"]) == (
        "Zoé", "Roy", "f", "1986-04-02", "CA", "H2X 1Y4")
    assert custom(state, "zoe.roy@example.org") == {
        "Amilia.Address.City": "Montréal", "Amilia.Address.StateProvince": "QC", "Amilia.AccountId": 1,
        "Amilia.PersonId": 13, "Amilia.IsArchived": "False", "Amilia.Skills": "Natation 2, Premiers soins",
        "Amilia.JoinDate": "2021-03-04", "Amilia.ExternalId": "EXT-13", "Amilia.Telephone": "514-555-0101"}
    assert z["consentDate"] is None  # consent comes with a registration or a purchase, not with a person
    assert custom(state, JULIE)["Amilia.Telephone"] == "514-555-9999"
    assert member(state, MARC)["firstname"] == "Marc"  # the owner, not Paul who shares the address
    assert link.group_members(BALLET) == {MARC, JULIE, GAGNON}  # person events touch no activity group


async def test_registration_or_membership_adds_to_groups_and_refreshes_consent(link):
    """"Lorsqu'une nouvelle inscription à une activité ou à un abonnement est effectuée, nous mettrons à jour
    les informations des contacts concernés et les ajouterons aux groupes correspondants." — drop-ins and
    passes too, new groups with their program/category/subcategory groups, and "Le consentement est mis à
    jour chaque fois qu'une personne s'inscrit à une nouvelle activité ou lors de l'achat d'un nouvel
    abonnement.\""""
    org = club()
    await synced(link, org)
    julie, gagnon = person(org, 11), person(org, 20)
    drop_in = org.register(104, julie, 2, days_ago=1, drop_in=True)
    soccer = org.register(105, gagnon, 4, days_ago=2)
    pass_ = org.register(106, julie, 3, days_ago=3)
    pass_["RegistrationId"] = "PL-106"
    gym = org.hold(12, gagnon, purchased_days_ago=0)
    old = next(r for r in org.registrations if r["Id"] == 100)
    reload_amilia(link, org)
    deliver(link.name, registration_event(drop_in), registration_event(soccer), registration_event(pass_),
            membership_event(gym), registration_event(old, "Update"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 5, summary
    state = link.cyberimpact()
    assert link.group_members(KARATE) == {MARC, JULIE, GAGNON}             # the drop-in added Julie
    assert link.group_members(SOCCER) == {GAGNON}                          # group created when missing
    assert link.group_members(GYM) == {GAGNON}
    groups = {g["title"]: g for g in state["groups"]}
    for prefix in ("Sports", "Sports \\ Soccer", "Sports \\ Soccer \\ U10"):
        assert groups[prefix]["isDynamic"] and groups[prefix]["criteria"]["rules"] == [
            {"field": "groupTitle", "operator": "contains", "value": prefix + " \\ "}]
        assert link.group_members(prefix) == {GAGNON}
    day = (TODAY - timedelta(days=1)).isoformat()
    for email in (JULIE, MARC):  # the owner's consent moves with the family's latest registration
        assert (member(state, email)["consentDate"], member(state, email)["consentProof"]) == (day, "DI-104")
    g = member(state, GAGNON)
    assert (g["consentDate"], g["consentProof"], g["relationType"]) == (TODAY.isoformat(), GYM, "active-clients")
    assert custom(state, GAGNON)["Amilia.Membership.Name"] == GYM
    assert custom(state, GAGNON)["Amilia.Membership.PurchasedDate"] == TODAY.isoformat()


async def test_cancellation_removes_from_the_activity_group_only(link):
    """"En cas de désinscription, nous retirerons l'adresse du propriétaire du compte et celle de la personne
    des groupes d'activité ou d'abonnement, mais elles resteront dans le groupe de vos Clients Amilia." —
    unless they still have another registration in that activity."""
    org = club()
    await synced(link, org)
    ballet, karate = (next(r for r in org.registrations if r["Id"] == i) for i in (100, 102))
    ballet["IsCancelled"] = karate["IsCancelled"] = True
    reload_amilia(link, org)
    deliver(link.name, registration_event(ballet, "Delete"), registration_event(karate, "Update"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 2 and summary["removals"] == 2, json.dumps(summary)
    assert link.group_members(BALLET) == {MARC, GAGNON}  # Julie out; Marc kept: Léo is still in ballet
    assert link.group_members(KARATE) == {GAGNON}        # Léo's only karate registration: Marc out
    assert MARC not in link.group_members("Arts martiaux") and MARC in link.group_members("Arts")
    assert {MARC, JULIE} <= link.group_members(CLIENTS_GROUP)


async def test_activity_cancelled_for_all_participants_keeps_its_group(link):
    """"Si une activité est complètement annulée pour tous les participants, nous conserverons le groupe de
    l'activité avec sa liste de contacts intacte pour vous permettre de communiquer avec les inscrits\""""
    org = club()
    await synced(link, org)
    swim = [r for r in org.registrations if r["Activity"]["Id"] == 3]
    for r in swim:
        r["IsCancelled"] = True
    reload_amilia(link, org)
    deliver(link.name, *(registration_event(r, "Delete") for r in swim))
    summary = await process_amilia_events(link=link.name)

    assert summary["skipped"] == {SKIP_ALL_CANCELLED: 2} and summary["removals"] == 0, summary
    assert link.group_members(SWIM) == {MARC, JULIE, GAGNON}


async def test_person_or_account_deleted_is_archived(link):
    """"En cas de suppression d'une personne ou d'un compte, nous modifierons la valeur du champ
    Amilia.IsArchived des contacts concernés à "True". Les adresses courriel des personnes et du propriétaire
    du compte archivé seront retirées des groupes d'activités et d'abonnements correspondants. Elles
    demeureront dans la liste générale de vos clients Amilia et seront ajoutées à un groupe dynamique où vous
    pourrez consulter les contacts archivés." — thin payloads resolved through Amilia, or through
    Cyberimpact's Amilia.PersonId / Amilia.AccountId when Amilia answers 404."""
    org = club()
    ghost = org.family(4, "ghost@example.org")
    org.register(400, ghost, 1, days_ago=5)
    gone = org.family(5, "gone@example.org")
    org.register(500, gone, 2, days_ago=5)
    await synced(link, org)
    doc = link.cyberimpact()  # a user's own static group, which the integration must leave alone
    doc["groups"].append({"id": 999, "title": "Infolettre", "isPublic": True, "isDynamic": False,
                          "criteria": None, "createdOn": "2025-01-01 00:00:00"})
    member(doc, JULIE)["groups"].append(999)
    person(org, 11)["IsArchived"] = True
    org.accounts[1]["IsArchived"] = person(org, 20)["IsArchived"] = True
    for account_id in (4, 5):  # gone from Amilia altogether: the API answers 404
        org.persons = [p for p in org.persons if p["AccountId"] != account_id]
        org.accounts = [a for a in org.accounts if a["Id"] != account_id]
        org.registrations = [r for r in org.registrations if r["AccountOwner"]["AccountId"] != account_id]
    link.load(org.state(), doc)
    deliver(link.name, person_event({"Id": 11}, "Delete"), account_event(org, 2, "Delete"),
            person_event({"Id": 40}, "Delete"), account_event(org, 5, "Delete"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 4 and summary["failed"] == 0, summary
    state = link.cyberimpact()
    archived = {JULIE, GAGNON, "ghost@example.org", "gone@example.org"}
    assert {e for e in archived if custom(state, e)["Amilia.IsArchived"] == "True"} == archived
    assert custom(state, MARC)["Amilia.IsArchived"] == "False"
    assert link.group_members(ARCHIVED_GROUP) == archived
    assert archived <= link.group_members(CLIENTS_GROUP)
    assert link.group_members(BALLET) == {MARC} and link.group_members(KARATE) == {MARC}
    assert link.group_members(SWIM) == {MARC}
    assert link.group_members("Infolettre") == {JULIE}


async def test_other_contexts_are_acknowledged_without_effect(link):
    """Only "Une personne a été créée ou supprimée", "Un compte a été supprimé (archivé)" and "Une inscription
    à une activité ou à un abonnement a été créée, modifiée ou supprimée" are triggers; the others are marked
    done, and the store says why."""
    org = club()
    await synced(link, org)
    link.clear_requests()
    deliver(link.name, envelope("Program", "Update", {"Id": 1, "Name": "Arts"}),
            envelope("Activity", "Create", {"Id": 9, "Name": "Nouveau"}),
            envelope("Registration", "Create", {"Id": 777}))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 0 and sum(summary["skipped"].values()) == 3, summary
    assert link.writes() == []
    assert not [r for r in link.requests("amilia") if "/persons" in r["path"] or "/accounts" in r["path"]]
    rows = events(link.name)
    assert {e.status for e in rows} == {"done"}
    details = effect_details(f"inbox-{rows[0].id}:")
    assert json.loads(details[f"inbox-{rows[0].id}:skipped"])["reason"] == "Program events are not sync triggers"
