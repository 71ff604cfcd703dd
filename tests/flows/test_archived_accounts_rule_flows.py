"""The archived-accounts rule when one e-mail is behind a live and an archived person: webhook drain and
reconciliation, end to end (Prefect test harness → connectors → sandbox over a real socket).

Seed (../shared/seeds/cyberimpact-amilia-sync.txt): « En cas de suppression d'une personne ou d'un compte,
nous modifierons la valeur du champ Amilia.IsArchived des contacts concernés à "True". Les adresses courriel
des personnes et du propriétaire du compte archivé seront retirées des groupes d'activités et d'abonnements
correspondants. Elles demeureront dans la liste générale de vos clients Amilia et seront ajoutées à un groupe
dynamique où vous pourrez consulter les contacts archivés. »

An address a live person shares is not "archivé": it stays in "Clients Amilia", keeps the groups of the live
person, leaves those only the archived account gave, and keeps Amilia.IsArchived = "False".
"""

from __future__ import annotations

import pytest

from flows.amilia_reconcile import amilia_reconcile
from flows.amilia_sync import amilia_initial_sync
from flows.amilia_webhooks import process_amilia_events
from tasks.amilia_cyberimpact.mapping import ARCHIVED_GROUP, CLIENTS_GROUP
from tests.support.amilia_org import BALLET, GYM, KARATE, SWIM, Org, account, person
from tests.support.amilia_webhooks import account_event, deliver, person_event, registration_event
from tests.support.clubs import LIVE_OWNER as MARC
from tests.support.clubs import OTHER, SHARED, TODAY
from tests.support.clubs import shared_address_club as club
from tests.support.cyberimpact_state import custom_fields as custom

LOU = "lou.owner@example.org"


@pytest.fixture(autouse=True)
def no_linger(monkeypatch):
    monkeypatch.setattr("flows.amilia_webhooks.LINGER_SECONDS", 0.0)


async def synced(link, org: Org) -> None:
    link.load(org.state())
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    assert {t for t in (BALLET, KARATE, GYM) if SHARED in link.group_members(t)} == {BALLET, KARATE, GYM}


def archive_account_2_and_3(link, org: Org) -> None:
    account(org, 2)["IsArchived"] = account(org, 3)["IsArchived"] = True
    link.load(org.state(), link.cyberimpact())  # Amilia changed; Cyberimpact keeps its state


def assert_shared_address_stays_live(link) -> None:
    """In "Clients Amilia", Julie's ballet kept, the archived account's karaté and gym left, not archived."""
    state = link.cyberimpact()
    assert custom(state, SHARED)["Amilia.IsArchived"] == "False"
    assert custom(state, SHARED)["Amilia.PersonId"] == 11
    assert SHARED in link.group_members(CLIENTS_GROUP)
    assert SHARED not in link.group_members(ARCHIVED_GROUP)
    assert SHARED in link.group_members(BALLET)
    assert SHARED not in link.group_members(KARATE)
    assert SHARED not in link.group_members(GYM)


async def test_account_delete_leaves_a_shared_address_live_with_the_live_persons_groups(link):
    """« Un compte a été supprimé (archivé) »: the archived account's own address (other@) is archived and
    leaves its groups; Sam's address, also Julie's in a live account, keeps Julie's ballet only."""
    org = club()
    await synced(link, org)
    archive_account_2_and_3(link, org)
    deliver(link.name, account_event(org, 2, "Delete"), account_event(org, 3, "Delete"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 2 and summary["failed"] == 0, summary
    assert_shared_address_stays_live(link)
    state = link.cyberimpact()
    assert custom(state, OTHER)["Amilia.IsArchived"] == "True"
    assert link.group_members(ARCHIVED_GROUP) == {OTHER}
    assert OTHER in link.group_members(CLIENTS_GROUP) and OTHER not in link.group_members(KARATE)
    assert link.group_members(BALLET) == {MARC, SHARED}


async def test_registration_update_of_an_archived_account_does_not_archive_a_shared_address(link):
    """« Une inscription … a été … modifiée » for the archived account's registration (its archive event
    lost): the shared address is not archived, keeps Julie's ballet, leaves karaté and gym."""
    org = club()
    await synced(link, org)
    archive_account_2_and_3(link, org)
    karate = next(r for r in org.registrations if r["Id"] == 200)
    deliver(link.name, registration_event(karate, "Update"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["failed"] == 0, summary
    assert_shared_address_stays_live(link)


async def test_live_and_archived_registrations_of_a_shared_address_in_one_batch(link):
    """« nous mettrons à jour les informations des contacts concernés et les ajouterons aux groupes
    correspondants » for Julie's new registration — but not to the archived account's groups, updated in
    the same batch."""
    org = club()
    await synced(link, org)
    swim = org.register(101, person(org, 11), 3, days_ago=1)
    archive_account_2_and_3(link, org)
    karate = next(r for r in org.registrations if r["Id"] == 200)
    deliver(link.name, registration_event(karate, "Update"), registration_event(swim))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 2 and summary["failed"] == 0, summary
    assert_shared_address_stays_live(link)
    assert SHARED in link.group_members(SWIM)


async def test_person_delete_of_a_shared_address_keeps_the_live_persons_groups(link):
    """« Une personne a été … supprimée »: Lou (account 4, live) shares Sam's address; Lou is deleted. Her
    address is also Julie's: it stays live in Julie's ballet, and leaves Lou's swimming group."""
    org = club()
    org.family(4, LOU)
    lou = org.person(41, 4, "Lou", SHARED)
    org.register(400, lou, 3, days_ago=4)
    await synced(link, org)
    assert SHARED in link.group_members(SWIM)
    person(org, 41)["IsArchived"] = True
    account(org, 2)["IsArchived"] = True  # Sam's account too: only Julie is live behind the address
    link.load(org.state(), link.cyberimpact())
    deliver(link.name, person_event({"Id": 41}, "Delete"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["failed"] == 0, summary
    assert_shared_address_stays_live(link)
    assert SHARED not in link.group_members(SWIM)
    assert LOU in link.group_members(SWIM)  # the owner of a live account keeps his account's registrations


async def test_account_gone_from_amilia_does_not_archive_an_address_a_live_person_shares(link):
    """A thin « Un compte a été supprimé » Amilia answers 404 for, resolved through Cyberimpact's
    Amilia.AccountId: the address the gone account's owner shared with Julie is not archived."""
    org = club()
    await synced(link, org)
    assert custom(link.cyberimpact(), SHARED)["Amilia.AccountId"] == 2  # Sam, an owner, represents it
    org.persons = [p for p in org.persons if p["AccountId"] != 2]
    org.accounts = [a for a in org.accounts if a["Id"] != 2]
    org.registrations = [r for r in org.registrations if r["AccountOwner"]["AccountId"] != 2]
    org.holders = [h for h in org.holders if h["AccountId"] != 2]
    link.load(org.state(), link.cyberimpact())
    deliver(link.name, account_event(org, 2, "Delete"))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["failed"] == 0, summary
    state = link.cyberimpact()
    assert custom(state, SHARED)["Amilia.IsArchived"] == "False"
    assert SHARED in link.group_members(CLIENTS_GROUP) and SHARED not in link.group_members(ARCHIVED_GROUP)
    assert SHARED in link.group_members(BALLET)
    assert SHARED not in link.group_members(KARATE) and SHARED not in link.group_members(GYM)


async def test_reconcile_applies_the_rule_to_a_shared_address(link):
    """The archive webhooks were lost: reconciliation finds the shared address in the archived account's
    karaté and gym groups and removes it, keeps it in Julie's ballet and in "Clients Amilia", not archived;
    the archived account's own address is archived and out of its groups."""
    org = club()
    await synced(link, org)
    archive_account_2_and_3(link, org)

    report = await amilia_reconcile(link=link.name, as_of=TODAY)

    drift = {(d["drift"], d["contact"], d["detail"]) for d in report["drift"]}
    assert ("group membership no longer valid", SHARED, KARATE) in drift
    assert ("group membership no longer valid", SHARED, GYM) in drift
    assert ("group membership no longer valid", SHARED, BALLET) not in drift
    assert_shared_address_stays_live(link)
    state = link.cyberimpact()
    assert custom(state, OTHER)["Amilia.IsArchived"] == "True"
    assert OTHER in link.group_members(ARCHIVED_GROUP) and OTHER not in link.group_members(KARATE)
    again = await amilia_reconcile(link=link.name, as_of=TODAY)
    assert sum(again["counts"].values()) == 0, again


async def test_initial_sync_of_an_already_archived_account_sharing_an_address(link):
    """The initial sync applies the same rule: the archived account's groups are not given to an address a
    live person shares, which is not archived."""
    org = club()
    account(org, 2)["IsArchived"] = account(org, 3)["IsArchived"] = True
    link.load(org.state())
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    assert_shared_address_stays_live(link)
    assert link.group_members(ARCHIVED_GROUP) == {OTHER}
    assert link.group_members(KARATE) == set()  # created (live registrations) though only archived ones
