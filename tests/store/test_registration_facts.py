"""Amilia registration facts (what resolves a Delete carrying only an Id), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from passerelle.store.registrations import registration_facts, remember_registrations


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"  # the PostgreSQL test database outlives a run


def fact(rid: int | str, **over) -> dict:
    row = {"registration_id": str(rid), "number": f"SUB-{rid}", "date_created": "2026-10-01T12:00:00",
           "person_id": 11, "account_id": 1, "owner_person_id": 10, "activity_id": 4, "program": "Arts",
           "category": "Danse", "subcategory": "Ballet", "activity": "Ballet 5-7 ans"}
    return {**row, **over}


def test_facts_are_kept_per_organisation_and_replaced_when_seen_again(store_url):
    org, other = _org(), _org()
    assert remember_registrations(org, [fact(100), fact(101, person_id=12)], url=store_url) == 2
    remember_registrations(other, [fact(100, person_id=99)], url=store_url)
    found = registration_facts(org, ["100", 101, "102"], url=store_url)
    assert set(found) == {"100", "101"}  # 102 was never seen
    assert found["100"] == fact(100) and found["101"]["person_id"] == 12
    assert registration_facts(other, [100], url=store_url)["100"]["person_id"] == 99
    remember_registrations(org, [fact(100, activity_id=5, activity="Karaté", category=None)], url=store_url)
    again = registration_facts(org, [100], url=store_url)["100"]
    assert (again["activity_id"], again["activity"], again["category"]) == (5, "Karaté", None)


def test_organisation_is_matched_as_written_in_the_credentials_whatever_the_case(store_url):
    org = _org()
    remember_registrations(org.upper(), [fact(7)], url=store_url)
    assert set(registration_facts(org, ["7"], url=store_url)) == {"7"}


def test_facts_without_a_registration_or_person_id_are_ignored(store_url):
    org = _org()
    assert remember_registrations(org, [fact(""), fact(8, person_id=None), {}], url=store_url) == 0
    assert registration_facts(org, ["8"], url=store_url) == {}


def test_a_whole_sync_worth_of_facts(store_url):
    """The initial sync keeps every registration of its window; lookups go by chunks of ids."""
    org = _org()
    facts = [fact(i, person_id=i) for i in range(1, 1301)]
    assert remember_registrations(org, facts, url=store_url) == 1300
    found = registration_facts(org, [str(i) for i in range(1, 1401)], url=store_url)
    assert len(found) == 1300 and found["1234"]["person_id"] == 1234
    facts[7] = fact(8, person_id=80)  # the nightly reconciliation: only what changed is written again
    assert remember_registrations(org, facts, url=store_url) == 1
    assert registration_facts(org, ["8"], url=store_url)["8"]["person_id"] == 80
