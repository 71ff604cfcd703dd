"""amilia_reconcile repairs drift planted in the Cyberimpact sandbox, reports it, and then finds none."""

from __future__ import annotations

import httpx

from flows.amilia_reconcile import amilia_reconcile
from flows.amilia_sync import amilia_initial_sync
from tests.support.amilia_org import BALLET, KARATE
from tests.support.clubs import INITIAL_SYNC_CYBERIMPACT as CYBERIMPACT
from tests.support.clubs import INITIAL_SYNC_DAY as TODAY
from tests.support.clubs import initial_sync_club as club
from tests.support.cyberimpact_state import CYBERIMPACT_TOKEN, member
from tests.support.cyberimpact_state import custom_fields_of_member as custom

HEADERS = {"Authorization": f"Bearer {CYBERIMPACT_TOKEN}"}


def group_id(state: dict, title: str) -> int:
    return next(g["id"] for g in state["groups"] if g["title"] == title)


async def test_reconcile_repairs_planted_drift_then_finds_nothing(link):
    org = club()
    link.load(org.state(), CYBERIMPACT)
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    state = link.cyberimpact()
    api = link.sandbox.cyberimpact_url
    # Drift 1: a contact deleted in Cyberimpact.
    httpx.delete(f"{api}/members/gym@example.org", headers=HEADERS).raise_for_status()
    # Drift 2: a group membership removed.
    httpx.delete(f"{api}/members/julie.roy@example.org/groups/{group_id(state, BALLET)}",
                 headers=HEADERS).raise_for_status()
    # Drift 3: a field changed.
    httpx.patch(f"{api}/members/marc.roy@example.org", json={"lastname": "Tremblay"},
                headers=HEADERS).raise_for_status()
    # Drift 4: a cancellation whose webhook was lost — the owner's karate registration (made for his child).
    amilia = httpx.get(f"{link.sandbox.url}/_sandbox/amilia/state").json()
    next(r for r in amilia["registrations"] if r["Id"] == 101)["IsCancelled"] = True
    httpx.put(f"{link.sandbox.url}/_sandbox/amilia/state", json=amilia).raise_for_status()
    assert "marc.roy@example.org" in link.group_members(KARATE)

    report = await amilia_reconcile(link=link.name, as_of=TODAY)

    assert report["counts"]["contacts missing"] == 1
    assert report["counts"]["contacts with changed fields"] == 1
    assert report["counts"]["group memberships missing"] == 1
    assert ("julie.roy@example.org", BALLET) in {(d["contact"], d["detail"]) for d in report["drift"]}
    after = link.cyberimpact()
    gym = member(after, "gym@example.org")
    assert custom(after, gym)["Amilia.Membership.Name"] == "Abonnement gym annuel"
    assert member(after, "marc.roy@example.org")["lastname"] == "Roy"
    assert link.group_members(BALLET) == {"marc.roy@example.org", "julie.roy@example.org"}
    # The lost cancellation: karate still has a live registration (gone@example.org's), so its group is
    # kept, and the owner leaves it while staying in "Clients Amilia".
    assert report["counts"]["group memberships no longer valid"] == 1
    assert link.group_members(KARATE) == set()
    assert {"gym@example.org", "marc.roy@example.org"} <= link.group_members("Clients Amilia")

    link.clear_requests()
    again = await amilia_reconcile(link=link.name, as_of=TODAY)
    assert sum(again["counts"].values()) == 0 and link.writes() == []


async def test_partly_cancelled_activity_loses_only_the_cancelled_contact(link):
    """"En cas de désinscription, nous retirerons l'adresse du propriétaire du compte et celle de la personne
    des groupes d'activité …, mais elles resteront dans le groupe de vos Clients Amilia"."""
    org = club()
    link.load(org.state(), CYBERIMPACT)
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    amilia = httpx.get(f"{link.sandbox.url}/_sandbox/amilia/state").json()
    next(r for r in amilia["registrations"] if r["Id"] == 100)["IsCancelled"] = True  # Julie's ballet
    httpx.put(f"{link.sandbox.url}/_sandbox/amilia/state", json=amilia).raise_for_status()

    report = await amilia_reconcile(link=link.name, as_of=TODAY)

    # Gagnon's (archived) ballet registration is still live, so the ballet group stays managed; Julie and
    # Marc (whose only ballet link was Julie's registration) leave it and stay in "Clients Amilia".
    assert report["counts"]["group memberships no longer valid"] == 2, report["drift"]
    assert link.group_members(BALLET) == set()
    assert {"julie.roy@example.org", "marc.roy@example.org"} <= link.group_members("Clients Amilia")


async def test_fully_cancelled_activity_keeps_its_group_intact(link):
    """"Si une activité est complètement annulée pour tous les participants, nous conserverons le groupe de
    l'activité avec sa liste de contacts intacte"."""
    org = club()
    link.load(org.state(), CYBERIMPACT)
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    before = link.group_members(KARATE)
    amilia = httpx.get(f"{link.sandbox.url}/_sandbox/amilia/state").json()
    for r in amilia["registrations"]:
        if r["ActivityId"] == 2:
            r["IsCancelled"] = True
    httpx.put(f"{link.sandbox.url}/_sandbox/amilia/state", json=amilia).raise_for_status()

    report = await amilia_reconcile(link=link.name, as_of=TODAY)

    assert report["counts"]["group memberships no longer valid"] == 0
    assert link.group_members(KARATE) == before == {"marc.roy@example.org"}
