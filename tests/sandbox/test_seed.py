"""The data generator (sandbox/seed.py): determinism, realism, and the edge cases it plants."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from sandbox.amilia.state import AmiliaData
from sandbox.seed import add_months, generate, load_into, window_start, write_json
from sandbox.server import SandboxServer

TODAY = date(2026, 3, 15)
POSTAL_CODE = re.compile(r"^[ABCEGHJKLMNPRSTVXY]\d[A-Z] \d[A-Z]\d$")
PHONE = re.compile(r"^(\+1 )?\(?\d{3}\)?[- ]\d{3}[- ]\d{4}$")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return generate(2000, seed=42, today=TODAY)


@pytest.fixture(scope="module")
def amilia(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["amilia"]


def by_id(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {x["Id"]: x for x in items}


def status(row: dict[str, Any], today: str) -> str:
    if today < row["EffectiveDate"]:
        return "Inactive"
    return "Expired" if row["ExpirationDate"] and today > row["ExpirationDate"] else "Active"


# --- determinism, size, validity ----------------------------------------------------------------------------

def test_same_arguments_same_document() -> None:
    a = generate(300, seed=7, today=TODAY)
    assert a == generate(300, seed=7, today=TODAY)
    assert a != generate(300, seed=8, today=TODAY)
    assert json.dumps(a, sort_keys=True) == json.dumps(generate(300, seed=7, today=TODAY), sort_keys=True)


def test_exact_person_count_and_valid_round_trip(doc: dict[str, Any], amilia: dict[str, Any]) -> None:
    assert len(amilia["persons"]) == 2000
    assert amilia["today"] == TODAY.isoformat()
    assert AmiliaData.build(amilia).dump() == amilia            # loads and is already normalised
    for n in (0, 1, 7, 45, 61):                                  # tiny sizes still give valid documents
        small = generate(n, seed=1, today=TODAY)["amilia"]
        assert len(small["persons"]) == n
        AmiliaData.build(small)


def test_cyberimpact_document(doc: dict[str, Any], amilia: dict[str, Any]) -> None:
    ci = doc["cyberimpact"]
    assert ci["account"] == {"id": 1, "name": "Sandbox", "plan": "pro", "customFieldsLimit": 50}
    assert ci["tokens"] == ["sandbox-cyberimpact-token"] and ci["customFields"] == [] and ci["groups"] == []
    adults = {p["Email"].casefold(): p for p in amilia["persons"] if p["Email"] and not p["IsChild"]}
    unsubscribed = [m for m in ci["members"] if m["status"] == "unsubscribed"]
    assert len(unsubscribed) == 1 and unsubscribed[0]["email"] in adults
    others = [m for m in ci["members"] if m["status"] == "active"]
    assert len(others) >= 2 and not any(m["email"] in adults for m in others)
    from sandbox.cyberimpact.state import CyberimpactState

    state = CyberimpactState()
    state.load(ci)
    assert state.dump()["members"] == ci["members"]


# --- realism ------------------------------------------------------------------------------------------------

def test_people_look_like_a_quebec_organisation(amilia: dict[str, Any]) -> None:
    persons = amilia["persons"]
    with_address = [p for p in persons if p["Address"]["PostalCode"]]
    assert len(with_address) > 0.9 * len(persons)
    assert all(POSTAL_CODE.match(p["Address"]["PostalCode"]) for p in with_address)
    assert {p["Address"]["StateProvince"] for p in with_address} <= {"QC", "ON"}
    assert Counter(p["Address"]["City"] for p in with_address).most_common(1)[0][0] == "Montréal"
    phones = [p[k] for p in persons for k in ("Telephone", "TelephoneMobile") if p[k]]
    assert len(phones) > len(persons) * 0.6 and all(PHONE.match(x) for x in phones)
    assert any(p["Telephone"] for p in persons) and any(p["TelephoneMobile"] for p in persons)
    assert any(re.search(r"[éèêëàçîôû]", p["FirstName"] + p["LastName"], re.I) for p in persons)
    assert {p["Gender"] for p in persons} == {"Male", "Female", "Other", None}
    assert 0.2 < sum(p["IsChild"] for p in persons) / len(persons) < 0.5
    assert sum(bool(p["Skills"]) for p in persons) > 50 and sum(bool(p["ExternalId"]) for p in persons) > 100
    skills = {(s["Id"], s["Name"]) for p in persons for s in p["Skills"]}
    assert len({i for i, _ in skills}) == len(skills)            # one name per skill id


def test_households(amilia: dict[str, Any]) -> None:
    persons = by_id(amilia["persons"])
    adults_with_email = 0
    for acct in amilia["accounts"]:
        owner = persons[acct["OwnerPersonId"]]
        assert not owner["IsChild"] and owner["AccountId"] == acct["Id"]
        assert all(persons[m]["AccountId"] == acct["Id"] for m in acct["MemberPersonIds"])
        for m in acct["MemberPersonIds"]:
            p = persons[m]
            if p["IsChild"]:     # children: no e-mail, the owner's, or (rarely, teens) their own
                assert p["Email"] in (None, owner["Email"]) or p["DateOfBirth"] <= "2013-03-15"
            elif p["Email"]:
                adults_with_email += 1
    assert adults_with_email > 0.4 * len(persons)
    families = [a for a in amilia["accounts"] if any(persons[m]["IsChild"] for m in a["MemberPersonIds"])]
    singles = [a for a in amilia["accounts"] if len(a["MemberPersonIds"]) == 1]
    assert len(families) > 100 and len(singles) > 100 and any(a["Corporate"] for a in amilia["accounts"])


def test_programme_tree_exercises_prefixes_and_missing_levels(amilia: dict[str, Any]) -> None:
    names = {p["Name"] for p in amilia["programs"]}
    assert {"Arts", "Arts martiaux"} <= names and len(names) >= 5
    assert any(p["IsArchived"] for p in amilia["programs"])
    acts = amilia["activities"]
    assert any(a["CategoryId"] is None and a["CategoryName"] is None for a in acts)
    assert any(a["CategoryId"] == 0 and a["CategoryName"] is None for a in acts)
    assert any(a["CategoryId"] and a["SubCategoryId"] is None for a in acts)
    assert any(a["CategoryId"] and a["SubCategoryId"] == 0 and a["SubCategoryName"] is None for a in acts)
    assert all(a["Name"] for a in acts) and len({a["Name"] for a in acts}) == len(acts)


def test_registrations_span_the_window_plus_six_months(amilia: dict[str, Any]) -> None:
    regs = amilia["registrations"]
    persons = by_id(amilia["persons"])
    ws, oldest = window_start(TODAY).isoformat(), add_months(TODAY, -30).isoformat()
    days = [r["DateCreated"][:10] for r in regs]
    assert min(days) == oldest and max(days) == TODAY.isoformat()
    assert 0.1 < sum(d < ws for d in days) / len(regs) < 0.35          # some older than the window
    assert 1.6 < len(regs) / len(persons) < 2.6                           # ~2 per person
    assert [r["Id"] for r in regs] == sorted(r["Id"] for r in regs)
    assert all(r["DateCreated"] >= persons[r["PersonId"]]["DateCreated"] for r in regs)
    kinds = Counter(r["RegistrationId"].split("-")[0] for r in regs)
    assert set(kinds) == {"SUB", "DI", "PL"} and kinds["SUB"] > kinds["DI"] + kinds["PL"]
    for r in regs:
        assert r["RegistrationId"] == f"{r['RegistrationId'].split('-')[0]}-{r['Id']}"
        assert (r["DropInDate"] is not None) == r["RegistrationId"].startswith("DI-")
    assert 0.02 < sum(r["IsCancelled"] for r in regs) / len(regs) < 0.12
    acts = by_id(amilia["activities"])
    assert any(acts[r["ActivityId"]]["EndDate"] < TODAY.isoformat() for r in regs)   # ended activities
    assert any(acts[r["ActivityId"]]["EndDate"] >= TODAY.isoformat() for r in regs)  # current ones


def test_months_parameter_moves_the_window() -> None:
    regs = generate(300, months=12, seed=3, today=TODAY)["amilia"]["registrations"]
    days = [r["DateCreated"][:10] for r in regs]
    assert min(days) == add_months(TODAY, -18).isoformat()
    assert window_start(TODAY, 12).isoformat() + "T00:00:00" in {r["DateCreated"] for r in regs}


# --- planted edge cases -------------------------------------------------------------------------------------

def test_planted_window_edges(amilia: dict[str, Any]) -> None:
    ws = window_start(TODAY)
    created = {r["DateCreated"] for r in amilia["registrations"]}
    for stamp in (f"{ws}T00:00:00", f"{ws}T23:59:59", f"{ws - timedelta(days=1)}T23:59:59",
                  f"{TODAY}T00:05:00", f"{add_months(TODAY, -30)}T00:00:00"):
        assert stamp in created, stamp
    per_person = Counter(r["PersonId"] for r in amilia["registrations"])
    for stamp in (f"{ws}T00:00:00", f"{ws - timedelta(days=1)}T23:59:59"):  # that person's only registration
        reg = next(r for r in amilia["registrations"] if r["DateCreated"] == stamp)
        assert per_person[reg["PersonId"]] == 1


def test_planted_emails(amilia: dict[str, Any]) -> None:
    persons = by_id(amilia["persons"])
    accounts = by_id(amilia["accounts"])
    accounts_of: dict[str, set[int]] = defaultdict(set)
    spelled: dict[str, set[str]] = defaultdict(set)
    for p in persons.values():
        if p["Email"]:
            accounts_of[p["Email"].casefold()].add(p["AccountId"])
            spelled[p["Email"].casefold()].add(p["Email"])
    shared = [e for e, accts in accounts_of.items() if len(accts) > 1]
    assert 2 <= len(shared) < 0.02 * len(persons)                                  # a few, not many
    assert any(len(spelled[e]) > 1 for e in shared)                                # one with other capitals
    owner_email = {a["Id"]: persons[a["OwnerPersonId"]]["Email"] for a in accounts.values()}
    same_as_owner = [p for p in persons.values() if p["Id"] != accounts[p["AccountId"]]["OwnerPersonId"]
                     and p["Email"] and p["Email"] == owner_email[p["AccountId"]]]
    assert any(not p["IsChild"] for p in same_as_owner)                            # spouse shares owner's
    assert any(p["IsChild"] for p in same_as_owner)                                # child uses owner's
    assert any(p["IsChild"] and p["Email"] and p["Email"] != owner_email[p["AccountId"]]
               for p in persons.values())                                          # child with own e-mail
    assert any(p["IsChild"] and not p["Email"] for p in persons.values())
    assert any(not p["IsChild"] and not p["Email"] for p in persons.values())
    assert any(not owner_email[a] for a in accounts)                               # owner without e-mail


def test_planted_archives(amilia: dict[str, Any]) -> None:
    persons = by_id(amilia["persons"])
    archived_accounts = [a for a in amilia["accounts"] if a["IsArchived"]]
    assert archived_accounts and all(persons[m]["IsArchived"] for a in archived_accounts
                                     for m in a["MemberPersonIds"])
    live = by_id([a for a in amilia["accounts"] if not a["IsArchived"]])
    assert any(p["IsArchived"] and p["AccountId"] in live for p in persons.values())
    ws = window_start(TODAY).isoformat()
    archived_registered = {r["PersonId"] for r in amilia["registrations"] if r["DateCreated"][:10] >= ws
                           and persons[r["PersonId"]]["IsArchived"]}
    assert archived_registered                                   # archived people with recent registrations


def test_planted_memberships(amilia: dict[str, Any]) -> None:
    names = {m["Name"]: m for m in amilia["memberships"]}
    assert {"Abonnement gym annuel", "Carte familiale piscine"} <= set(names)
    assert names["Carte familiale piscine"]["MembershipType"] == "Family"
    assert any(not m["IsVisible"] for m in names.values()) and any(m["IsArchived"] for m in names.values())
    rows = amilia["membershipPersons"]
    today = TODAY.isoformat()
    assert {status(r, today) for r in rows} == {"Active", "Expired", "Inactive"}
    assert any(r["ExpirationDate"] == today for r in rows)
    assert any(r["EffectiveDate"] == today for r in rows)
    assert any(r["ExpirationDate"] is None for r in rows)
    persons = by_id(amilia["persons"])
    pool = [r for r in rows if r["MembershipId"] == names["Carte familiale piscine"]["Id"]]
    assert any(persons[r["PersonId"]]["IsChild"] for r in pool)
    renewed = Counter((r["MembershipId"], r["PersonId"]) for r in rows)
    assert any(n > 1 for n in renewed.values())
    registered = {r["PersonId"] for r in amilia["registrations"]}
    holders = {r["PersonId"] for r in rows if status(r, today) == "Active"}
    assert holders - registered                                  # active members with no registration at all


# --- helpers and scale --------------------------------------------------------------------------------------

def test_load_into_and_write_json(tmp_path, sandbox: SandboxServer) -> None:
    doc = generate(150, seed=5, today=TODAY)
    assert load_into(sandbox.url + "/", doc) == ["amilia", "cyberimpact"]
    assert httpx.get(f"{sandbox.url}/_sandbox/amilia/state", timeout=30).json() == doc["amilia"]
    ci = httpx.get(f"{sandbox.url}/_sandbox/cyberimpact/state", timeout=30).json()
    assert ci["members"] == doc["cyberimpact"]["members"]
    path = write_json(tmp_path / "out" / "seed.json", doc)
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    assert "Montréal" in path.read_text(encoding="utf-8") or "é" in path.read_text(encoding="utf-8")


def test_twenty_thousand_persons_generate_and_serialise() -> None:
    doc = generate(20_000, seed=1, today=TODAY)
    amilia = doc["amilia"]
    assert len(amilia["persons"]) == 20_000 and len(amilia["registrations"]) > 35_000
    text = json.dumps(doc, ensure_ascii=False)
    assert len(text) > 10_000_000
    loaded = AmiliaData.build(json.loads(text)["amilia"])
    assert len(loaded.registrations_sorted) == len(amilia["registrations"])
