"""AmiliaClient against the Amilia emulator over a real socket (see docs/contracts.md, docs/sandbox.md)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from connectors._http import AuthError, NotFoundError, RetryPolicy
from connectors.amilia import AmiliaClient
from connectors.amilia.models import MembershipPerson, Person, Registration
from tests.connectors.conftest import AMILIA_ORG_SLUG, AMILIA_PASSWORD, AMILIA_USER, FAST_RETRY, Control

PATIENT_RETRY = RetryPolicy(max_attempts=10, max_total_wait=10, initial_wait=0.01, max_wait=0.05)


def amilia_state(n_persons: int) -> dict[str, Any]:
    """A small organisation: n persons in accounts of 3, one program/activity, registrations, a membership."""
    persons = [{"Id": 1000 + i, "AccountId": 1 + i // 3, "FirstName": f"P{i}", "LastName": "Test",
                "Email": f"p{i}@example.org", "IsChild": i % 3 == 2, "DateCreated": "2024-01-01T08:00:00"}
               for i in range(n_persons)]
    accounts: dict[int, list[int]] = {}
    for p in persons:
        accounts.setdefault(p["AccountId"], []).append(p["Id"])
    return {
        "today": "2026-03-01",
        "persons": persons,
        "accounts": [{"Id": aid, "DateCreated": "2020-01-01T00:00:00", "OwnerPersonId": ids[0],
                      "MemberPersonIds": ids, "IsArchived": aid == 2} for aid, ids in accounts.items()],
        "programs": [{"Id": 1, "Name": "Arts"}],
        "activities": [{"Id": 4, "Name": "Ballet 5-7 ans", "ProgramId": 1, "CategoryId": 2,
                        "CategoryName": "Danse", "SubCategoryId": 3, "SubCategoryName": "Ballet"}],
        "registrations": [{"Id": 9000 + i, "RegistrationId": f"SUB-{9000 + i}", "ActivityId": 4,
                           "PersonId": 1000 + i, "AccountId": 1 + i // 3,
                           "DateCreated": f"2025-09-{1 + i:02d}T14:00:00"} for i in range(min(n_persons, 6))],
        "memberships": [{"Id": 12, "Name": "Gym", "DateCreated": "2025-01-01T00:00:00",
                         "MembershipType": "Individual"}],
        "membershipPersons": [
            {"MembershipId": 12, "PersonId": 1000, "AccountId": 1, "PurchasedDate": "2026-01-10T09:00:00",
             "EffectiveDate": "2026-01-10", "ExpirationDate": "2027-01-09"},
            {"MembershipId": 12, "PersonId": 1001, "AccountId": 1, "PurchasedDate": "2024-01-10T09:00:00",
             "EffectiveDate": "2024-01-10", "ExpirationDate": "2025-01-09"},
        ],
    }


def client(sb: Control, **kwargs: Any) -> AmiliaClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("username", AMILIA_USER)
    kwargs.setdefault("password", AMILIA_PASSWORD)
    return AmiliaClient(organization=kwargs.pop("organization", AMILIA_ORG_SLUG),
                        base_url=sb.server.amilia_url, **kwargs)


async def test_pagination_to_the_last_page_with_one_jwt(sb: Control) -> None:
    sb.load("amilia", amilia_state(450))
    async with client(sb, per_page=100, max_concurrency=8) as amilia:
        persons, accounts = await asyncio.gather(amilia.list_persons(), amilia.list_accounts())
        assert amilia.auth.authentications == 1
    assert [p["Id"] for p in persons] == list(range(1000, 1450))
    Person.model_validate(persons[-1])
    assert len(accounts) == 150 and any(a["IsArchived"] for a in accounts)
    log = sb.requests("amilia")
    assert [r["path"] for r in log].count("/amilia/api/V3/authenticate") == 1
    person_pages = sorted(r["query"] for r in log if r["path"].endswith("/persons"))
    assert person_pages == ["perPage=100"] + [f"perPage=100&page={n}" for n in range(2, 6)]
    assert all(r["status"] == 200 for r in log)


async def test_filters_follow_the_contract(sb: Control) -> None:
    sb.load("amilia", amilia_state(9))
    async with client(sb) as amilia:
        regs = await amilia.list_registrations(date(2025, 9, 2), date(2025, 9, 4))
        active = await amilia.list_accounts(show_archived=False)
        holders = await amilia.list_membership_persons(12, status="Active")
        everyone = await amilia.list_membership_persons(12, status="All")
        activities = await amilia.list_program_activities(1)
        memberships = await amilia.list_memberships()
        person_regs = await amilia.list_person_registrations(1001)
        account = await amilia.get_account(1)
    assert [r["Id"] for r in regs] == [9001, 9002, 9003]  # from/to inclusive on DateCreated
    first = Registration.model_validate(regs[0])
    assert first.kind == "activity" and first.Category and first.Category.Name == "Danse"
    assert 2 not in {a["Id"] for a in active}
    assert [h["PersonId"] for h in holders] == [1000]
    assert {MembershipPerson.model_validate(h).Status for h in everyone} == {"Active", "Expired"}
    assert activities[0]["ProgramName"] == "Arts" and memberships[0]["Id"] == 12
    assert [r["Id"] for r in person_regs] == [9001]
    assert account["Owners"][0]["AccountOwnerId"] == 1000


async def test_wrong_password_fails_at_once_with_one_request(sb: Control) -> None:
    async with client(sb, password="wrong") as amilia:
        with pytest.raises(AuthError) as info:
            await amilia.list_persons()
    assert str(info.value).startswith("Amilia rejected the username and password (401 on GET /authenticate): "
                                      "Authorization has been denied for this request.")
    assert "wrong" not in str(info.value)
    log = sb.requests("amilia")
    calls = [(r["method"], r["path"], r["status"]) for r in log]
    assert calls == [("GET", "/amilia/api/V3/authenticate", 401)]


async def test_unknown_organisation(sb: Control) -> None:
    async with client(sb, organization="nope") as amilia:
        with pytest.raises(NotFoundError, match="Check the organization \\('nope'\\)"):
            await amilia.ping()
        with pytest.raises(NotFoundError):
            await amilia.get_person(1)


async def test_429_with_retry_after_is_retried_then_succeeds(sb: Control) -> None:
    sb.load("amilia", amilia_state(450))
    sb.faults("amilia", rate_429=0.5, retry_after=0.1, seed=7)
    async with client(sb, per_page=100, max_concurrency=1, retry=PATIENT_RETRY) as amilia:
        persons = await amilia.list_persons()
        retries = amilia.stats.retries
    assert len(persons) == 450
    log = sb.requests("amilia")
    throttled = [i for i, r in enumerate(log) if r["status"] == 429]
    assert throttled and retries == len(throttled)
    for i in throttled:  # the retry of the same call came at least Retry-After later
        retry = next(r for r in log[i + 1:] if (r["path"], r["query"]) == (log[i]["path"], log[i]["query"]))
        assert retry["at"] - log[i]["at"] >= 0.095


async def test_5xx_is_retried(sb: Control) -> None:
    sb.load("amilia", amilia_state(300))
    sb.faults("amilia", error_rate=0.4, seed=3)
    async with client(sb, per_page=50, max_concurrency=1, retry=PATIENT_RETRY) as amilia:
        persons = await amilia.list_persons()
        stats = amilia.stats
    assert len(persons) == 300
    failed = [r["status"] for r in sb.requests("amilia") if r["status"] >= 500]
    assert failed and stats.retries == len(failed)
    assert sum(stats.by_status[s] for s in (500, 502, 503)) == len(failed)


async def test_per_page_above_the_server_cap_still_reads_everything(sb: Control) -> None:
    sb.load("amilia", amilia_state(2500))
    async with client(sb, per_page=5000) as amilia:
        persons = await amilia.list_persons()
    assert [p["Id"] for p in persons] == list(range(1000, 3500))
    assert sum(r["path"].endswith("/persons") for r in sb.requests("amilia")) == 3
