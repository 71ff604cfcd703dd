"""Pure parts of webhook processing: reading envelopes, planning a batch, reading Amilia once per batch.

Each test quotes the sentence of ../shared/seeds/cyberimpact-amilia-sync.txt it pins, where there is one.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from connectors.amilia.client import AmiliaClient
from tasks.amilia_cyberimpact.events.fetch import AmiliaReader, AmiliaState, RegistrationsSnapshot
from tasks.amilia_cyberimpact.events.model import (
    ACCOUNT_ARCHIVE,
    MEMBERSHIP,
    PERSON,
    PERSON_ARCHIVE,
    REGISTRATION,
    REGISTRATION_CANCEL,
    SKIP,
    SKIP_OLD_REGISTRATION,
    BadPayload,
    classify,
)
from tasks.amilia_cyberimpact.events.plan import plan_batch
from tests.support.amilia_org import BALLET, Org
from tests.support.amilia_webhooks import envelope, membership_event, person_event, registration_event

TODAY = date(2026, 11, 23)
SINCE = TODAY - timedelta(days=730)


def family() -> Org:
    org = Org(today=TODAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    org.membership(12, "Gym")
    marc = org.family(1, "marc@example.org")
    julie = org.person(11, 1, "Julie", "julie@example.org")
    org.person(12, 1, "Léo", None, child=True)
    org.person(13, 1, "Paul", "MARC@example.org")  # the owner's e-mail, other case
    org.register(100, julie, 1, days_ago=30)
    org.register(101, marc, 1, days_ago=20)
    return org


def read(row_id: int, env: dict):
    return classify(row_id, f"{env['Context']}.{env['Action']}", env, window_start=SINCE, today=TODAY)


def state_of(org: Org) -> AmiliaState:
    accounts = {a["Id"]: a for a in org.api_accounts()}
    regs: dict[int, list] = {}
    for r in org.registrations:
        regs.setdefault(r["AccountOwner"]["AccountId"], []).append(r)
    return AmiliaState(persons={p["Id"]: p for p in org.persons}, accounts=accounts, registrations=regs)


def test_envelopes_are_read_into_kinds():
    org = family()
    julie = org.persons[1]
    reg = org.registrations[0]
    assert read(1, person_event(julie)).kind == PERSON
    assert read(2, person_event(julie, "Delete")).kind == PERSON_ARCHIVE
    assert read(3, envelope("Account", "Delete", {"Id": "1"})).account_id == 1
    assert read(3, envelope("Account", "Delete", {"Id": "1"})).kind == ACCOUNT_ARCHIVE
    ev = read(4, registration_event(reg))
    assert (ev.kind, ev.person_id, ev.account_id, ev.title) == (REGISTRATION, 11, 1, BALLET)
    assert read(5, registration_event(reg, "Delete")).kind == REGISTRATION_CANCEL
    assert read(6, registration_event({**reg, "IsCancelled": True}, "Update")).kind == REGISTRATION_CANCEL
    assert read(7, membership_event(org.hold(12, julie))).kind == MEMBERSHIP
    old = read(8, registration_event({**reg, "DateCreated": "2020-01-01T10:00:00"}))
    assert (old.kind, old.reason) == (SKIP, SKIP_OLD_REGISTRATION)
    other = read(9, envelope("WaitListRegistration", "Create", {"Id": 1}))
    assert other.kind == SKIP and "not sync triggers" in other.reason
    with pytest.raises(BadPayload):
        read(10, envelope("Person", "Create", {"Id": "x"}))


def test_plan_applies_the_initial_sync_rules_to_a_person_event():
    """"si cette personne est un enfant ou partage la même adresse que le propriétaire du compte, seule
    l'adresse du propriétaire sera ajoutée\""""
    org = family()
    events = [read(i, person_event(p)) for i, p in enumerate(org.persons[1:], start=1)]  # Julie, Léo, Paul
    plan = plan_batch(events, state_of(org), SINCE, TODAY)
    assert sorted(plan.contacts["email"]) == ["julie@example.org", "marc@example.org"]
    assert plan.adds.empty  # a person event adds no activity group
    assert plan.by_email["marc@example.org"] == {1, 2, 3}  # every event concerns the owner


def test_cancellation_keeps_whoever_is_still_registered():
    """"En cas de désinscription, nous retirerons l'adresse du propriétaire du compte et celle de la personne
    des groupes d'activité" — the owner stays: he is registered to ballet himself."""
    org = family()
    julie_ballet = org.registrations[0]
    julie_ballet["IsCancelled"] = True
    plan = plan_batch([read(1, registration_event(julie_ballet, "Delete"))], state_of(org), SINCE, TODAY)
    assert plan.removals == {("julie@example.org", BALLET): {1}}
    assert plan.cancel_activities == {BALLET: 1} and plan.cancelled_registrations == {1: {100}}


def test_later_event_wins_when_a_pair_is_added_and_removed_in_one_batch():
    org = family()
    reg = org.register(102, org.persons[1], 1, days_ago=0)
    state = state_of(org)
    cancel_then_add = [read(1, registration_event(dict(org.registrations[0], IsCancelled=True), "Delete")),
                       read(2, registration_event(reg))]
    org.registrations[0]["IsCancelled"] = True
    plan = plan_batch(cancel_then_add, state_of(org), SINCE, TODAY)
    assert not plan.removals and "julie@example.org" in set(plan.adds["email"])
    add_then_cancel = [read(1, registration_event(reg)), read(2, registration_event({**reg, "IsCancelled": True},
                                                                                    "Delete"))]
    state.registrations[1] = [r for r in state.registrations[1] if r["Id"] != 102]
    plan = plan_batch(add_then_cancel, state, SINCE, TODAY)
    assert ("julie@example.org", BALLET) in plan.removals
    assert "julie@example.org" not in set(plan.adds.get("email", []))


def test_a_failing_resource_fails_only_its_events_and_a_bug_only_its_account():
    org = family()
    other = org.family(2, "other@example.org")
    state = state_of(org)
    state.errors[("person", 11)] = "ServerError: Amilia kept failing"
    events = [read(1, person_event(org.persons[1])), read(2, person_event(other))]
    plan = plan_batch(events, state, SINCE, TODAY)
    assert plan.failed == {1: "ServerError: Amilia kept failing"} and 2 in plan.planned

    state = state_of(org)
    state.persons[20] = {**state.persons[20], "Id": "not a number"}  # a record the transforms choke on
    plan = plan_batch([read(1, person_event(org.persons[1])), read(2, person_event(other))], state, SINCE, TODAY)
    assert set(plan.failed) == {2} and "planning failed" in plan.failed[2]
    assert 1 in plan.planned


async def test_reader_one_by_one_and_listing_everyone_agree(sandbox):
    """The reader lists the whole organisation when a batch touches many accounts; same answer either way."""
    org = family()
    for account in range(2, 12):
        person = org.family(account, f"f{account}@example.org")
        org.register(1000 + account, person, 1, days_ago=3)
    httpx.put(f"{sandbox.url}/_sandbox/amilia/state", json=org.state(), timeout=30).raise_for_status()
    events = [read(r["Id"], registration_event(r)) for r in org.registrations]
    async with AmiliaClient(username="demo@passerelle.dev", password="demo-password", organization="8008",
                            base_url=sandbox.amilia_url) as amilia:
        one_by_one = await AmiliaReader(amilia).read(events[:2])
        small = AmiliaReader(amilia)
        small.PAGE_COST = 0  # list everyone from the first batch on
        everyone = await small.read(events[:2])
        assert small.listing_pages == 2 and everyone.calls == 2
        assert one_by_one.persons == everyone.persons and one_by_one.accounts == everyone.accounts
        snapshot = RegistrationsSnapshot(amilia, SINCE, TODAY + timedelta(days=1))
        assert await snapshot.fully_cancelled({1: {100}}) == set() and snapshot.reads == 1
        assert await snapshot.fully_cancelled({1: {100}}) == set() and snapshot.reads == 2  # 100 is live: read


async def test_an_archived_persons_email_is_looked_up_before_the_batch_is_planned(sandbox):
    """"Les adresses courriel des personnes … archivé seront retirées des groupes" — an archived person's
    e-mail is looked up in the whole organisation (a live person may share it). The reader does it with the
    batch's other reads, so the plan needs no second pass (issue 16: planning twice cost a third of a batch)."""
    org = family()
    julie = org.persons[1]
    julie["IsArchived"] = True  # Amilia shows a deleted person archived
    httpx.put(f"{sandbox.url}/_sandbox/amilia/state", json=org.state(), timeout=30).raise_for_status()
    events = [read(1, person_event(julie, "Delete")), read(2, person_event(org.persons[0], "Update"))]
    assert events[0].kind == PERSON_ARCHIVE
    async with AmiliaClient(username="demo@passerelle.dev", password="demo-password", organization="8008",
                            base_url=sandbox.amilia_url) as amilia:
        state = await AmiliaReader(amilia).read(events)
    assert "julie@example.org" in (state.sharers or {}) and "marc@example.org" not in (state.sharers or {})
    plan = plan_batch(events, state, SINCE, TODAY)
    assert plan.sharer_lookups == set()  # nothing left to look up: planned once
    archived = plan.contacts.set_index("email")["archived"]
    assert bool(archived["julie@example.org"]) and not bool(archived["marc@example.org"])


def test_the_collector_is_tuned_while_drains_run_and_restored_after_the_last():
    import gc

    from tasks.amilia_cyberimpact.events.handler import lean_collector

    before = gc.get_threshold()
    with lean_collector(young=50_000):
        assert gc.get_threshold()[0] == max(50_000, before[0]) and gc.get_freeze_count() > 0
        with lean_collector(young=50_000):  # a second drain of the process (another link, a test's thread)
            pass
        assert gc.get_threshold()[0] == max(50_000, before[0])
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
