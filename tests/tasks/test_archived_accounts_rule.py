"""The archived-accounts rule as a pure transform, when one e-mail is behind a live and an archived person.

Seed (../shared/seeds/cyberimpact-amilia-sync.txt, "Mise à jour automatique"): « En cas de suppression d'une
personne ou d'un compte, nous modifierons la valeur du champ Amilia.IsArchived des contacts concernés à
"True". Les adresses courriel des personnes et du propriétaire du compte archivé seront retirées des groupes
d'activités et d'abonnements correspondants. Elles demeureront dans la liste générale de vos clients
Amilia … »
"""

from __future__ import annotations

from datetime import date

import pytest

from tasks.amilia_cyberimpact.diff import diff_contacts
from tasks.amilia_cyberimpact.events.fetch import AmiliaState
from tasks.amilia_cyberimpact.events.model import classify
from tasks.amilia_cyberimpact.events.plan import plan_batch
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP
from tasks.amilia_cyberimpact.transforms import (
    accounts_frame,
    enrolments_frame,
    persons_frame,
    plan_contacts,
    window_start,
)
from tests.support.amilia_org import BALLET, GYM, KARATE, Org, contact, groups_of
from tests.support.amilia_webhooks import envelope

TODAY = date(2026, 11, 23)
SHARED = "shared@example.org"
SWIM = "Aquatique \\ Bain libre"  # this organisation's free swim, not tests.support's SWIM


def plan(org: Org):
    return plan_contacts(persons_frame(org.persons), accounts_frame(org.api_accounts()),
                         enrolments_frame(org.registrations, org.active_holders(),
                                          since=window_start(org.today, 24), until=org.today))


@pytest.fixture
def org() -> Org:
    o = Org(today=TODAY)
    o.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    o.activity(2, "Arts martiaux", "Karaté", "Débutant", "Karaté lundi")
    o.activity(3, "Aquatique", None, None, "Bain libre")
    o.membership(12, GYM)
    return o


@pytest.mark.parametrize("archived_role", ["owner", "registered adult"])
def test_groups_of_an_archived_account_are_not_given_to_a_shared_live_email(org: Org, archived_role: str):
    """« Les adresses courriel des personnes et du propriétaire du compte archivé seront retirées des groupes
    d'activités et d'abonnements correspondants. Elles demeureront dans la liste générale de vos clients
    Amilia » — the same address is also a live account's person: that contact keeps the live person's
    groups, gets none of the groups only the archived account gives, and is not archived."""
    live = org.family(1, SHARED)                                           # live account, owner (person 10)
    org.register(1, live, 1, days_ago=40)                                  # ballet: the live reason
    if archived_role == "owner":
        archived = org.family(2, SHARED, archived=True)                    # archived account, its owner
    else:
        org.family(2, "archived.owner@example.org", archived=True)
        archived = org.person(21, 2, "Sam", SHARED)                        # an adult of the archived account
    org.register(2, archived, 2, days_ago=5)                               # karaté: archived account only
    org.register(3, archived, 1, days_ago=6)                               # ballet: both accounts
    org.hold(12, archived, purchased_days_ago=3)                           # gym: archived account only
    p = plan(org)

    c = contact(p, SHARED)
    assert c["Amilia.IsArchived"] == "False" and not c["archived"]
    assert c["Amilia.PersonId"] == live["Id"] and c["Amilia.AccountId"] == 1   # the live person's fields
    assert groups_of(p, SHARED) == {BALLET}
    if archived_role != "owner":  # the archived account's owner: archived, in no group at all
        assert contact(p, "archived.owner@example.org")["Amilia.IsArchived"] == "True"
        assert groups_of(p, "archived.owner@example.org") == set()
    # Through the diff, as the initial sync writes it: in "Clients Amilia" and ballet, not karaté nor gym.
    changes = diff_contacts(p.contacts, p.memberships, [], set(), {}, {})
    assert SHARED in changes.group_adds[CLIENTS_GROUP]
    assert {t for t, emails in changes.group_adds.items() if SHARED in emails} == {CLIENTS_GROUP, BALLET}
    created = next(m for m in changes.creates if m["email"] == SHARED)
    assert created["customFields"]["Amilia.IsArchived"] == "False"


def test_archived_person_of_a_live_account_gives_no_group_to_a_shared_email(org: Org):
    """« Les adresses courriel des personnes … seront retirées des groupes » — a deleted (archived) person of
    a live account shares its address with a person of another live account."""
    org.family(1, "famille1@example.org")
    gone = org.person(11, 1, "Léa", SHARED, archived=True)
    org.register(1, gone, 2, days_ago=5)
    org.family(2, "famille2@example.org")
    kept = org.person(21, 2, "Lou", SHARED)
    org.register(2, kept, 3, days_ago=50)
    p = plan(org)
    assert contact(p, SHARED)["Amilia.IsArchived"] == "False"
    assert contact(p, SHARED)["Amilia.PersonId"] == 21
    assert groups_of(p, SHARED) == {SWIM}
    assert groups_of(p, "famille1@example.org") == {KARATE}  # the live owner keeps what his account gives


def test_live_person_without_enrolment_keeps_a_shared_contact_live_and_out_of_archived_groups(org: Org):
    """The contact is "archivé" only when every person behind the address is: a live person sharing it,
    even without a registration of their own, keeps Amilia.IsArchived = False — and the groups of the
    archived account are still « retirées »."""
    org.family(1, SHARED)                                                  # live, no registration
    archived = org.family(2, SHARED, archived=True)
    org.register(1, archived, 2, days_ago=5)
    p = plan(org)
    c = contact(p, SHARED)
    assert c["Amilia.IsArchived"] == "False" and c["Amilia.PersonId"] == 10
    assert groups_of(p, SHARED) == set()


def test_every_person_archived_archives_the_shared_contact(org: Org):
    """« nous modifierons la valeur du champ Amilia.IsArchived des contacts concernés à "True" » — when
    every person behind the address is archived (an archived person, an archived account)."""
    org.family(1, "famille1@example.org")
    gone = org.person(11, 1, "Léa", SHARED, archived=True)
    org.register(1, gone, 2, days_ago=5)
    archived = org.family(2, SHARED, archived=True)
    org.register(2, archived, 3, days_ago=5)
    org.hold(12, archived)
    p = plan(org)
    assert contact(p, SHARED)["Amilia.IsArchived"] == "True"
    assert groups_of(p, SHARED) == set()
    assert KARATE in p.activity_titles and SWIM in p.activity_titles and GYM in p.membership_titles


def test_webhook_plan_looks_the_archived_address_up_and_keeps_only_the_live_persons_groups(org: Org):
    """« Un compte a été supprimé (archivé) » — the drain's plan: the batch knows only the archived account,
    so it asks for the persons sharing its addresses; once they are known (a live person of another
    account), the address is planned live and keeps only the groups that person gives."""
    live = org.family(1, SHARED)
    org.register(1, live, 1, days_ago=40)
    archived = org.family(2, SHARED, archived=True)
    org.register(2, archived, 2, days_ago=5)
    org.hold(12, archived)
    accounts = {a["Id"]: a for a in org.api_accounts()}
    since = window_start(TODAY, 24)
    event = classify(1, "Account.Delete", envelope("Account", "Delete", {"Id": "2"}), window_start=since,
                     today=TODAY)
    state = AmiliaState(persons={20: org.persons[1]}, accounts={2: accounts[2]})

    first = plan_batch([event], state, since, TODAY)
    assert first.sharer_lookups == {SHARED}
    assert bool(first.contacts.set_index("email").loc[SHARED, "archived"])  # what the batch alone would do

    state.sharers = {SHARED: [10, 20]}
    state.persons[10], state.accounts[1] = org.persons[0], accounts[1]
    state.registrations[1] = [r for r in org.registrations if r["AccountOwner"]["AccountId"] == 1]
    state.sharer_holders = [h for h in org.active_holders() if h["AccountId"] == 1]
    plan = plan_batch([event], state, since, TODAY)
    c = plan.contacts.set_index("email").loc[SHARED]
    assert not c["archived"] and c["Amilia.IsArchived"] == "False" and c["Amilia.PersonId"] == 10
    assert plan.archive_keeps == {SHARED: {BALLET}}
    assert plan.by_email[SHARED] == {1}
