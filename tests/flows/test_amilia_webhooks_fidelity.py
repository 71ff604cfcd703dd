"""The webhook rules issue 15 found broken, end to end: Amilia's emulator sends each event to a webhook
gateway on a real socket, `process_amilia_events` (Prefect test harness) drains it into the Cyberimpact
emulator. Seed: ../shared/seeds/cyberimpact-amilia-sync.txt.

1. An event of another organisation is never applied (the organisation check).
2. A registration Delete carrying only its Id is resolved from the registration facts the store kept.
3. An unregistration keeps an address still registered in the activity through another account.
4. A contact takes every field of the one person who fills it (the identity rule): nothing of another.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
from sqlmodel import delete

from connectors.amilia.credentials import AmiliaCredentials
from flows.amilia_reconcile import amilia_reconcile
from flows.amilia_sync import amilia_initial_sync
from flows.amilia_webhooks import process_amilia_events
from passerelle.gateway.app import create_app
from passerelle.gateway.server import GatewayServer
from passerelle.settings import get_settings
from passerelle.store import session_scope
from passerelle.store.effects import effect_details
from passerelle.store.links import create_link
from passerelle.store.models import AmiliaRegistration
from tasks.amilia_cyberimpact.events.model import SKIP_KEPT, SKIP_UNKNOWN_REGISTRATION
from tasks.amilia_cyberimpact.mapping import ARCHIVED_GROUP, CLIENTS_GROUP
from tests.support.amilia_org import BALLET, KARATE, SOCCER, Org, account, person
from tests.support.amilia_webhooks import ORG_ID, envelope, events
from tests.support.clubs import GAGNON, JULIE, MARC, TODAY, shared_address_club, webhook_club
from tests.support.clubs import SHARED as SAM
from tests.support.cyberimpact_state import custom_fields


async def _no_nudge(source: str, link: str, accepted: int) -> None:
    """The test drains by calling the flow; Prefect's trigger is not needed."""


@contextlib.contextmanager
def gateway(link) -> Iterator[str]:
    """The webhook gateway on a real socket, storing into this test's store: yields the URL of the link's
    receiver (with its token), the one pasted into Amilia's webhook subscription."""
    token = create_link("amilia", link.name)
    with GatewayServer(create_app(url=get_settings().store_url, emitter=_no_nudge)) as server:
        yield f"{server.url}/hooks/amilia/{link.name}?token={token}"


def fire(link, url: str, *events: dict) -> None:
    """Amilia's emulator sends the events (rendered from its state, or given whole) to the gateway."""
    answer = httpx.post(f"{link.sandbox.url}/_sandbox/amilia/webhooks/fire",
                        json={"url": url, "events": list(events), "max_attempts": 1}, timeout=60)
    answer.raise_for_status()
    assert answer.json()["failed"] == 0, answer.json()


def thin_registration_delete(registration_id: int) -> dict:
    return {"envelope": envelope("Registration", "Delete", {"Id": str(registration_id)})}


def skipped_reason(link, row_id: int) -> str | None:
    detail = effect_details(f"inbox-{row_id}:").get(f"inbox-{row_id}:skipped")
    return json.loads(detail)["reason"] if detail else None


async def synced(link, org: Org) -> None:
    link.load(org.state())
    await amilia_initial_sync(link=link.name, as_of=TODAY)


def amilia_changed(link, org: Org) -> None:
    link.load(org.state(), link.cyberimpact())  # Amilia changed; Cyberimpact keeps its state


# --- 1. the organisation check -----------------------------------------------------------------------
async def test_an_event_of_another_organisation_is_dead_and_never_applied(link):
    """A link connects one Amilia organisation to one Cyberimpact account (seed: « envoyez un courriel … avec
    le nom d'organisation et votre numéro de compte Cyberimpact »): a Person Delete whose envelope names
    another OrganizationId is set aside with the reason, and archives nobody."""
    org = webhook_club()
    await synced(link, org)
    foreign = {**envelope("Person", "Delete", {"Id": "11"}), "OrganizationId": 9999}
    with gateway(link) as url:
        fire(link, url, {"envelope": foreign}, {"Context": "Person", "Action": "Update", "Id": 20})
    summary = await process_amilia_events(link=link.name)

    assert summary["dead"] == 1 and summary["applied"] == 1, summary
    dead, applied = events(link.name)
    assert (dead.status, applied.status) == ("dead", "done")
    assert dead.last_error == f"event of Amilia organisation 9999, not of this link's organisation {ORG_ID}: " \
                              "never applied"
    state = link.cyberimpact()
    assert custom_fields(state, JULIE)["Amilia.IsArchived"] == "False"
    assert JULIE in link.group_members(BALLET) and JULIE not in link.group_members(ARCHIVED_GROUP)


async def test_a_link_saved_with_the_store_slug_checks_the_number_amilia_answers(link):
    """The link's credentials may name the organisation by its store slug; envelopes carry its number,
    which Amilia's own answers give (memberships carry OrganizationId): the organisation's events apply, the
    others are set aside."""
    org = webhook_club()
    await synced(link, org)
    await AmiliaCredentials(username="demo@passerelle.dev", password="demo-password", organization="club-test",
                            base_url=link.sandbox.amilia_url).asave(link.name, overwrite=True)
    person(org, 11)["IsArchived"] = True
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, {"envelope": {**envelope("Person", "Delete", {"Id": "11"}), "OrganizationId": 7}},
             {"Context": "Person", "Action": "Delete", "Id": 11})
    summary = await process_amilia_events(link=link.name)

    assert summary["dead"] == 1 and summary["applied"] == 1, summary
    assert "organisation 7, not of this link's organisation 8008" in events(link.name)[0].last_error
    assert custom_fields(link.cyberimpact(), JULIE)["Amilia.IsArchived"] == "True"  # by the 8008 event


# --- 2. a registration Delete that carries only its Id --------------------------------------------------
async def test_a_registration_delete_with_only_its_id_unregisters_from_what_the_sync_saw(link):
    """« En cas de désinscription, nous retirerons l'adresse du propriétaire du compte et celle de la personne
    des groupes d'activité ou d'abonnement, mais elles resteront dans le groupe de vos Clients Amilia » — the
    Delete says only {"Id": "100"}; the initial sync saw registration 100 (Julie's ballet)."""
    org = webhook_club()
    await synced(link, org)
    next(r for r in org.registrations if r["Id"] == 100)["IsCancelled"] = True
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, thin_registration_delete(100))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["removals"] == 1, summary
    assert link.group_members(BALLET) == {MARC, GAGNON}  # Marc stays: Léo is still in ballet
    assert JULIE in link.group_members(CLIENTS_GROUP)


async def test_a_registration_delete_with_only_its_id_uses_what_an_earlier_webhook_carried(link):
    """A registration the sync never saw, announced whole by its Create webhook, then deleted with only its
    Id: « nous … les ajouterons aux groupes correspondants », then « nous retirerons … des groupes »."""
    org = webhook_club()
    await synced(link, org)
    soccer = org.register(105, person(org, 20), 4, days_ago=1)
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, {"Context": "Registration", "Action": "Create", "Id": 105})
        assert (await process_amilia_events(link=link.name))["applied"] == 1
        assert link.group_members(SOCCER) == {GAGNON}
        org.register(106, person(org, 10), 4, days_ago=1)  # soccer stays live: not cancelled for all
        soccer["IsCancelled"] = True
        amilia_changed(link, org)
        fire(link, url, thin_registration_delete(105))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["removals"] == 1, summary
    assert link.group_members(SOCCER) == set() and GAGNON in link.group_members(CLIENTS_GROUP)


async def test_an_unknown_registration_id_is_done_and_left_to_the_reconciliation(link):
    """A Delete with only an Id the store never saw (here: a store older than the registration facts) changes
    nothing and is done with the reason "unknown registration"; the nightly reconciliation then takes Julie
    out of ballet (« En cas de désinscription, nous retirerons … des groupes d'activité »)."""
    org = webhook_club()
    await synced(link, org)
    with session_scope() as s:
        s.execute(delete(AmiliaRegistration))
    next(r for r in org.registrations if r["Id"] == 100)["IsCancelled"] = True
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, thin_registration_delete(100))
    summary = await process_amilia_events(link=link.name)

    assert summary["skipped"] == {SKIP_UNKNOWN_REGISTRATION: 1} and summary["removals"] == 0, summary
    [row] = events(link.name)
    assert row.status == "done" and skipped_reason(link, row.id) == "unknown registration"
    assert JULIE in link.group_members(BALLET)
    report = await amilia_reconcile(link=link.name, as_of=TODAY)
    assert ("group membership no longer valid", JULIE, BALLET) in {
        (d["drift"], d["contact"], d["detail"]) for d in report["drift"]}
    assert JULIE not in link.group_members(BALLET) and JULIE in link.group_members(CLIENTS_GROUP)


# --- 3. unregistration while still registered through another account -----------------------------------
async def test_unregistration_keeps_an_address_still_registered_through_another_account(link):
    """« En cas de désinscription, nous retirerons l'adresse du propriétaire du compte et celle de la personne
    des groupes d'activité » — Sam (account 2) leaves ballet and karaté; the address is also Julie's, still in
    ballet through account 1: it stays in ballet, leaves karaté. The reconciliation agrees."""
    org = shared_address_club()
    await synced(link, org)
    for registration in (200, 201):  # Sam's karaté and ballet
        next(r for r in org.registrations if r["Id"] == registration)["IsCancelled"] = True
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, {"Context": "Registration", "Action": "Delete", "Id": 201}, thin_registration_delete(200))
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["skipped"] == {SKIP_KEPT: 1}, summary  # karaté left; ballet kept
    assert SAM in link.group_members(BALLET) and SAM not in link.group_members(KARATE)
    report = await amilia_reconcile(link=link.name, as_of=TODAY)
    assert sum(report["counts"].values()) == 0, report  # the reconciliation keeps the same pairs


# --- 4. one person's fields ---------------------------------------------------------------------------
def _julie_without_phone(org: Org) -> None:
    julie = person(org, 11)
    julie.update(Telephone=None, TelephoneMobile=None, ExternalId=None, Skills=[], DateOfBirth=None,
                 LastName="Tremblay")


def assert_julies_fields_only(link) -> None:
    """The address is Julie's now: her name, and none of Sam's phone, mobile, external id, skills or birth
    date, which she has not."""
    state = link.cyberimpact()
    m = next(m for m in state["members"] if m["email"] == SAM)
    assert (m["firstname"], m["lastname"], m["birthdate"]) == ("Julie", "Tremblay", "")
    fields = custom_fields(state, SAM)
    assert (fields["Amilia.PersonId"], fields["Amilia.AccountId"], fields["Amilia.IsArchived"]) == (11, 1, "False")
    for name in ("Amilia.Telephone", "Amilia.TelephoneMobile", "Amilia.ExternalId", "Amilia.Skills"):
        assert name not in fields, (name, fields)


async def test_the_contact_takes_every_field_of_the_person_who_now_fills_it(link):
    """« Un compte a été supprimé (archivé) »: Sam's account; the address stays live as Julie's
    (docs/amilia-sync.md, "Shared e-mails") — and then every field is hers, an empty one cleared."""
    org = shared_address_club()
    _julie_without_phone(org)
    await synced(link, org)
    before = custom_fields(link.cyberimpact(), SAM)
    assert before["Amilia.PersonId"] == 20 and before["Amilia.Telephone"] == "514-555-0101"
    account(org, 2)["IsArchived"] = True
    amilia_changed(link, org)
    with gateway(link) as url:
        fire(link, url, {"Context": "Account", "Action": "Delete", "Id": 2})
    summary = await process_amilia_events(link=link.name)

    assert summary["applied"] == 1 and summary["failed"] == 0, summary
    assert_julies_fields_only(link)


async def test_the_initial_sync_and_the_reconciliation_apply_the_same_identity_rule(link):
    """The archive webhook was lost: the reconciliation makes the address Julie's, every field from her; an
    initial sync run again over a contact Sam filled does the same."""
    org = shared_address_club()
    _julie_without_phone(org)
    await synced(link, org)
    filled_by_sam = link.cyberimpact()
    account(org, 2)["IsArchived"] = True
    amilia_changed(link, org)

    report = await amilia_reconcile(link=link.name, as_of=TODAY)
    changed = next(d["detail"] for d in report["drift"] if d["contact"] == SAM and d["drift"].startswith("fields"))
    assert "Amilia.Telephone" in changed and "Amilia.PersonId" in changed
    assert_julies_fields_only(link)

    link.load(org.state(), filled_by_sam)
    await amilia_initial_sync(link=link.name, as_of=TODAY)
    assert_julies_fields_only(link)
