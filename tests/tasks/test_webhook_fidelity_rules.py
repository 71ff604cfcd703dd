"""Pure parts of the issue-15 webhook rules: the organisation check, a registration Delete carrying only its Id,
the keep rule across accounts, and one person's fields in the diff. (End to end:
tests/flows/test_amilia_webhooks_fidelity.py.)"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from tasks.amilia_cyberimpact.diff import EMPTY
from tasks.amilia_cyberimpact.events.fetch import AmiliaState
from tasks.amilia_cyberimpact.events.model import (
    REGISTRATION_CANCEL,
    SKIP,
    SKIP_NO_ACTIVITY,
    SKIP_THIN_REGISTRATION,
    SKIP_UNKNOWN_REGISTRATION,
    LinkOrganisation,
    OtherOrganisation,
    classify,
    registration_fact,
    resolve_thin,
)
from tasks.amilia_cyberimpact.events.plan import plan_batch
from tasks.amilia_cyberimpact.events.write import CyberimpactAccount
from tests.support.amilia_org import BALLET, Org
from tests.support.amilia_webhooks import envelope, registration_event
from tests.support.cyberimpact_diff import GROUPS, NAMES_BY_ID, as_member, diff, planned

TODAY = date(2026, 11, 23)
SINCE = TODAY - timedelta(days=730)
SHARED = "sam@example.org"


def read(row_id: int, env: dict, organisation: LinkOrganisation | None = None):
    return classify(row_id, f"{env['Context']}.{env['Action']}", env, window_start=SINCE, today=TODAY,
                    organisation=organisation)


# --- the organisation check -------------------------------------------------------------------------
def test_an_envelope_of_another_organisation_is_refused_with_the_reason():
    own = LinkOrganisation("8008", 8008)
    assert read(1, envelope("Person", "Create", {"Id": 1}), own).person_id == 1
    assert read(2, {**envelope("Person", "Create", {"Id": 1}), "OrganizationId": "8008"}, own).person_id == 1
    with pytest.raises(OtherOrganisation, match="organisation 9999, not of this link's organisation 8008"):
        read(3, {**envelope("Person", "Delete", {"Id": "1"}), "OrganizationId": 9999}, own)
    with pytest.raises(OtherOrganisation, match="cannot check the organisation.*'club-x'"):
        read(4, envelope("Person", "Delete", {"Id": "1"}), LinkOrganisation("club-x", None))


def test_the_link_organisation_comes_from_its_credentials_or_amilias_answers():
    side = CyberimpactAccount(client=None)  # type: ignore[arg-type]
    assert side.organisation("8008") == LinkOrganisation("8008", 8008)
    assert side.organisation("club-x").number is None  # a slug, and no membership row said its number
    side.organization_ids = {8008}
    assert side.organisation("club-x") == LinkOrganisation("club-x", 8008)


# --- a registration Delete with only its Id -----------------------------------------------------------
def family() -> Org:
    org = Org(today=TODAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    marc = org.family(1, "marc@example.org")
    julie = org.person(11, 1, "Julie", "julie@example.org")
    org.register(100, julie, 1, days_ago=30)
    org.register(101, marc, 1, days_ago=20)
    return org


def test_a_delete_with_only_an_id_is_resolved_from_the_fact_kept():
    """The fact of the registration, as the sync or an earlier event kept it, makes the thin Delete the same
    cancellation as the full one; an Id never seen stays skipped as "unknown registration"."""
    org = family()
    full = org.registrations[0]
    thin = read(1, envelope("Registration", "Delete", {"Id": "100"}))
    assert (thin.kind, thin.reason, thin.registration_id) == (SKIP, SKIP_UNKNOWN_REGISTRATION, "100")
    resolve_thin(thin, registration_fact(full), SINCE)
    whole = read(2, registration_event({**full, "IsCancelled": True}, "Delete"))
    assert (thin.kind, thin.person_id, thin.account_id, thin.owner_id, thin.activity_id, thin.title) == (
        REGISTRATION_CANCEL, 11, 1, 10, 1, BALLET)
    assert (whole.kind, whole.title, whole.person_id) == (thin.kind, thin.title, thin.person_id)
    unknown = read(3, envelope("Registration", "Delete", {"Id": "777"}))
    resolve_thin(unknown, None, SINCE)
    assert (unknown.kind, unknown.reason) == (SKIP, SKIP_UNKNOWN_REGISTRATION)
    created = read(4, envelope("Registration", "Create", {"Id": "778"}))  # nothing to resolve a Create from
    assert (created.kind, created.reason, created.registration_id) == (SKIP, SKIP_THIN_REGISTRATION, None)


@pytest.mark.parametrize("action", ["Create", "Update", "Delete"])
def test_a_registration_without_an_activity_is_skipped_saying_so(action):
    """Hardening issue: a registration with its Person and AccountOwner but no activity was not skipped with a
    reason of its own (it was dead-lettered as a bad payload); it has its own reason now. One without its
    Person stays "without Person/AccountOwner", activity or not."""
    reg = {k: v for k, v in family().registrations[0].items() if k not in ("Program", "Category", "SubCategory",
                                                                            "Activity")}
    assert reg["Person"] and reg["AccountOwner"]
    event = read(1, registration_event(reg, action))
    assert (event.kind, event.reason) == (SKIP, SKIP_NO_ACTIVITY)
    thin = read(3, envelope("Registration", "Create", {"Id": "5", "Activity": {"Id": 1, "Name": "Ballet"}}))
    assert thin.reason == SKIP_THIN_REGISTRATION


# --- unregistration across accounts ---------------------------------------------------------------
def shared_address(days_ago: int) -> Org:
    """Sam's address is also Julie's (account 1), registered to ballet `days_ago` days ago."""
    org = Org(today=TODAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    org.family(1, "marc@example.org")
    org.register(100, org.person(11, 1, "Julie", SHARED), 1, days_ago=days_ago)
    org.register(200, org.family(2, SHARED), 1, days_ago=10, cancelled=True)
    return org


@pytest.mark.parametrize(("julie_days_ago", "removed"), [(30, False), (800, True)])
def test_unregistration_keeps_an_address_a_live_registration_of_another_account_still_gives(julie_days_ago, removed):
    """« En cas de désinscription, nous retirerons l'adresse … des groupes d'activité »: Sam's ballet is
    cancelled; the address stays while Julie's live registration of the 24-month window gives the group (the
    reconciliation's notion of an enrolment), and leaves when hers is older."""
    org = shared_address(julie_days_ago)
    event = read(1, registration_event(org.registrations[1], "Delete"))
    accounts = {a["Id"]: a for a in org.api_accounts()}
    registrations = {a: [r for r in org.registrations if r["AccountOwner"]["AccountId"] == a] for a in accounts}
    state = AmiliaState(persons={p["Id"]: p for p in org.persons}, accounts=accounts, registrations=registrations,
                        everyone=list(org.persons))
    first = plan_batch([event], state, SINCE, TODAY)
    assert first.sharer_lookups == {SHARED}  # two persons have the address: looked up in the organisation
    state.sharers = {SHARED: [11, 20]}
    plan = plan_batch([event], state, SINCE, TODAY)
    assert ((SHARED, BALLET) in plan.removals) is removed


# --- one person's fields -----------------------------------------------------------------------------
def test_another_person_filling_the_contact_clears_what_that_person_leaves_empty():
    """The identity rule: Amilia.PersonId changes, so every field the new person leaves empty is cleared
    (Cyberimpact's "__EMPTY__"), and none of the previous person's values stays."""
    held = as_member(planned("sam@example.org", **{"Amilia.Telephone": "514-555-0101", "Amilia.ExternalId": "EXT-20",
                                                  "Amilia.PersonId": 20}))
    julie = planned("sam@example.org", firstname="Julie", birthdate=None, **{"Amilia.PersonId": 11})
    [update] = diff([julie], [held]).updates
    assert update["firstname"] == "Julie" and update["birthdate"] == EMPTY
    assert update["customFields"]["Amilia.PersonId"] == "11"
    assert update["customFields"]["Amilia.Telephone"] == update["customFields"]["Amilia.ExternalId"] == EMPTY


def test_the_same_person_or_a_contact_amilia_never_filled_keeps_its_values():
    """An empty Amilia value keeps what Cyberimpact holds when the person is the same (docs/amilia-sync.md),
    and for a contact whose Amilia.PersonId was never set (a user's own values)."""
    held = as_member(planned("lea@example.org", **{"Amilia.Telephone": "514-555-0101"}))
    assert diff([planned("lea@example.org")], [held]).updates == []
    users = as_member(planned("lea@example.org", **{"Amilia.Telephone": "514-555-0101", "Amilia.PersonId": None}))
    [update] = diff([planned("lea@example.org")], [users]).updates
    assert update["customFields"] == {"Amilia.PersonId": "501"}


def test_webhooks_never_move_the_membership_fields_back_to_an_older_purchase():
    """« Amilia.Membership.Name: Nom du dernier abonnement acheté » — a purchase event arriving after a later
    one does not replace it, whatever the order the events are drained in."""
    from tasks.amilia_cyberimpact.diff import diff_contacts

    def membership(name: str, day: str) -> dict:
        return {"Amilia.Membership.Name": name, "Amilia.Membership.PurchasedDate": day}

    held = as_member(planned("lea@example.org", **membership("Yoga", "2026-10-01")))
    older = pd.DataFrame([planned("lea@example.org", **membership("Gym", "2026-09-01"))])
    newer = pd.DataFrame([planned("lea@example.org", **membership("Gym", "2026-10-02"))])
    no_groups = pd.DataFrame(columns=["email", "group_title", "kind"])
    for frame, written in ((older, False), (newer, True)):
        changes = diff_contacts(frame, no_groups, [held], set(), NAMES_BY_ID, GROUPS, membership_forward_only=True)
        assert bool(changes.updates) is written
    reconciled = diff_contacts(older, no_groups, [held], set(), NAMES_BY_ID, GROUPS)  # the sync's full view
    assert reconciled.updates[0]["customFields"]["Amilia.Membership.Name"] == "Gym"
