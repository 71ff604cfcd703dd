"""The Amilia API v3 emulator against docs/contracts.md, over a real socket."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.amilia.app import build_amilia
from sandbox.app import create_app
from sandbox.seed import generate
from sandbox.server import SandboxServer

USER, PASSWORD = "demo@passerelle.dev", "demo-password"
DENIED = {"Message": "Authorization has been denied for this request."}
TODAY = "2026-03-15"
REGISTRATION_KEYS = {"Id", "RegistrationId", "DateCreated", "IsCancelled", "Program", "Category",
                     "SubCategory", "Activity", "Group", "DropIn", "Person", "AccountOwner"}
PERSON_KEYS = {"Id", "AccountId", "FirstName", "LastName", "Email", "Gender", "DateOfBirth", "IsChild",
               "Address", "Telephone", "TelephoneMobile", "Skills", "ExternalId", "IsArchived", "DateCreated"}


def person(pid: int, account: int, first: str, email: str | None, **extra: Any) -> dict[str, Any]:
    p = {"Id": pid, "AccountId": account, "FirstName": first, "LastName": "Roy", "Email": email,
         "Gender": "Female", "DateOfBirth": "1986-04-02", "IsChild": False,
         "Address": {"Address1": "12 rue X", "City": "Montréal", "StateProvince": "QC", "Country": "CA",
                     "PostalCode": "H2X 1Y4"},
         "Telephone": "514-555-0101", "TelephoneMobile": None,
         "Skills": [{"Id": 3, "Name": "Natation niveau 2"}], "ExternalId": None, "IsArchived": False,
         "DateCreated": "2021-03-04T10:11:12"}
    p.update(extra)
    return p


def registration(rid: int, activity: int, pid: int, account: int, created: str,
                 **extra: Any) -> dict[str, Any]:
    r = {"Id": rid, "RegistrationId": f"SUB-{rid}", "ActivityId": activity, "PersonId": pid,
         "AccountId": account, "DateCreated": created, "IsCancelled": False, "DropInDate": None}
    r.update(extra)
    return r


def holder(membership: int, pid: int, account: int, effective: str, expiration: str | None) -> dict[str, Any]:
    return {"MembershipId": membership, "PersonId": pid, "AccountId": account,
            "PurchasedDate": f"{effective}T09:00:00", "EffectiveDate": effective,
            "ExpirationDate": expiration}


def small_document() -> dict[str, Any]:
    """A normalised state document: 3 accounts (one archived), 2 programs, 25 registrations, memberships."""
    regs = [registration(9001 + i, 10, 501, 77, f"2025-01-{i + 1:02d}T10:00:00") for i in range(20)]
    regs += [
        registration(9021, 10, 502, 77, "2024-03-14T23:59:59"),   # the day before `from`
        registration(9022, 11, 502, 77, "2024-03-15T00:00:00"),   # first second of `from`
        registration(9023, 12, 701, 99, "2026-03-15T23:59:59"),   # last second of `to`
        registration(9024, 10, 701, 99, "2026-03-16T00:00:00",    # the day after `to`
                     RegistrationId="DI-9024", DropInDate="2026-03-20"),
        registration(9025, 10, 601, 88, "2025-06-01T08:00:00", RegistrationId="PL-9025", IsCancelled=True),
    ]
    return {
        "organization": {"Id": 8008, "Name": "Centre récréatif Passerelle",
                         "RewriteUrl": "centre-passerelle"},
        "credentials": [{"username": USER, "password": PASSWORD}],
        "today": TODAY,
        "persons": [person(501, 77, "Marc", "marc@example.org", Gender="Male"),
                    person(502, 77, "Léa", None, IsChild=True, DateOfBirth="2016-05-01"),
                    person(601, 88, "Anne", "anne@example.org", IsArchived=True),
                    person(701, 99, "Paul", "Paul.Gagnon@Example.org", Gender=None)],
        "accounts": [{"Id": 77, "IsArchived": False, "Corporate": False, "DateCreated": "2020-01-02T08:00:00",
                      "OwnerPersonId": 501, "MemberPersonIds": [501, 502]},
                     {"Id": 88, "IsArchived": True, "Corporate": False, "DateCreated": "2021-05-05T08:00:00",
                      "OwnerPersonId": 601, "MemberPersonIds": [601]},
                     {"Id": 99, "IsArchived": False, "Corporate": True, "DateCreated": "2022-07-07T08:00:00",
                      "OwnerPersonId": 701, "MemberPersonIds": [701]}],
        "programs": [{"Id": 1, "Name": "Arts", "IsArchived": False},
                     {"Id": 2, "Name": "Arts martiaux", "IsArchived": False}],
        "activities": [
            {"Id": 10, "Name": "Ballet 5-7 ans", "ProgramId": 1, "CategoryId": 100, "CategoryName": "Danse",
             "SubCategoryId": 200, "SubCategoryName": "Ballet", "EndDate": "2026-06-14"},
            {"Id": 11, "Name": "Karaté", "ProgramId": 2, "CategoryId": None, "CategoryName": None,
             "SubCategoryId": None, "SubCategoryName": None, "EndDate": None},
            {"Id": 12, "Name": "Ballet hiver", "ProgramId": 1, "CategoryId": 100, "CategoryName": "Danse",
             "SubCategoryId": 0, "SubCategoryName": None, "EndDate": "2026-03-14"},  # ended yesterday
        ],
        "registrations": regs,
        "memberships": [
            {"Id": 12, "Name": "Abonnement gym annuel", "Description": None, "Price": 349.0, "Position": 1,
             "IsArchived": False, "IsVisible": True, "DateCreated": "2020-01-01T00:00:00",
             "MembershipType": "Individual"},
            {"Id": 13, "Name": "Membre honoraire", "Description": "caché", "Price": 0, "Position": 2,
             "IsArchived": False, "IsVisible": False, "DateCreated": "2020-01-01T00:00:00",
             "MembershipType": "Individual"},
            {"Id": 14, "Name": "Abonnement 2022", "Description": None, "Price": 299.0, "Position": 3,
             "IsArchived": True, "IsVisible": True, "DateCreated": "2020-01-01T00:00:00",
             "MembershipType": "Family"},
        ],
        "membershipPersons": [holder(12, 501, 77, "2026-01-10", "2027-01-09"),   # active
                              holder(12, 502, 77, "2025-03-14", "2026-03-14"),   # expired yesterday
                              holder(12, 601, 88, "2026-03-16", "2027-03-15"),   # effective tomorrow
                              holder(12, 701, 99, "2025-03-16", TODAY),          # expires today
                              holder(14, 501, 77, "2022-01-01", "2022-12-31"),
                              holder(14, 502, 77, "2022-01-01", "2022-12-31")],
    }


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def amilia_server() -> Iterator[SandboxServer]:
    """A sandbox serving only the Amilia emulator."""
    with SandboxServer(app=create_app([build_amilia()])) as server:
        yield server


@pytest.fixture
async def ctl(amilia_server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Control-API client; the sandbox is reset and loaded with `small_document()` first."""
    async with httpx.AsyncClient(base_url=amilia_server.url, timeout=60) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        (await client.put("/_sandbox/amilia/state", json=small_document())).raise_for_status()
        yield client


async def token(base: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(f"{base}/authenticate", auth=(USER, PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()["Token"]


@pytest.fixture
async def api(amilia_server: SandboxServer, ctl: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated client on `/amilia/api/V3/en/org/8008`."""
    bearer = await token(amilia_server.amilia_url)
    async with httpx.AsyncClient(base_url=f"{amilia_server.amilia_url}/en/org/8008", timeout=60,
                                 headers={"Authorization": f"Bearer {bearer}"}) as client:
        yield client


async def items(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    r = await api.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["Items"]


async def ids(api: httpx.AsyncClient, path: str, **params: Any) -> list[int]:
    return [x["Id"] for x in await items(api, path, **params)]


# --- authentication -----------------------------------------------------------------------------------------

async def test_authenticate_get_and_post_return_a_jwt(ctl: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        for version in ("V3", "v3"):
            r = await ctl.request(method, f"/amilia/api/{version}/authenticate", auth=(USER, PASSWORD))
            assert r.status_code == 200, r.text
            head, body, sig = r.json()["Token"].split(".")
            assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT"}
            claims = json.loads(base64.urlsafe_b64decode(body + "=="))
            assert claims["org"] == 8008 and claims["exp"] - claims["iat"] == 365 * 24 * 3600 and sig


async def test_authenticate_rejects_bad_credentials(ctl: httpx.AsyncClient) -> None:
    for auth in ((USER, "wrong"), ("someone@else.org", PASSWORD)):
        r = await ctl.post("/amilia/api/V3/authenticate", auth=auth)
        assert (r.status_code, r.json()) == (401, DENIED)
    r = await ctl.get("/amilia/api/V3/authenticate")
    assert (r.status_code, r.json()) == (401, DENIED)
    r = await ctl.get("/amilia/api/V3/authenticate", headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401


async def test_bearer_token_is_required(amilia_server: SandboxServer, ctl: httpx.AsyncClient) -> None:
    url = "/amilia/api/V3/en/org/8008/persons"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {USER}"}):
        r = await ctl.get(url, headers=headers)
        assert (r.status_code, r.json()) == (401, DENIED)


async def test_org_by_id_or_slug_and_token_bound_to_its_org(amilia_server: SandboxServer,
                                                           ctl: httpx.AsyncClient) -> None:
    h = {"Authorization": f"Bearer {await token(amilia_server.amilia_url)}"}
    for org in ("8008", "centre-passerelle", "Centre-Passerelle"):
        for lang in ("en", "fr"):
            r = await ctl.get(f"/amilia/api/v3/{lang}/org/{org}/persons", headers=h)
            assert r.status_code == 200 and r.json()["Paging"]["TotalCount"] == 4
    r = await ctl.get("/amilia/api/V3/en/org/1234/persons", headers=h)
    assert r.status_code == 404 and "Message" in r.json()
    assert (await ctl.get("/amilia/api/V3/de/org/8008/persons", headers=h)).status_code == 404
    assert (await ctl.get("/amilia/api/V4/en/org/8008/persons", headers=h)).status_code == 404
    # the same emulator now holds another organisation: the old token is not valid for it
    other = small_document()
    other["organization"] = {"Id": 9009, "Name": "Autre club", "RewriteUrl": "autre-club"}
    (await ctl.put("/_sandbox/amilia/state", json=other)).raise_for_status()
    r = await ctl.get("/amilia/api/V3/en/org/autre-club/persons", headers=h)
    assert (r.status_code, r.json()) == (403, DENIED)
    assert (await ctl.get("/amilia/api/V3/en/org/8008/persons", headers=h)).status_code == 404


async def test_reset_forgets_tokens_and_data(amilia_server: SandboxServer, ctl: httpx.AsyncClient) -> None:
    h = {"Authorization": f"Bearer {await token(amilia_server.amilia_url)}"}
    (await ctl.post("/_sandbox/reset")).raise_for_status()
    assert (await ctl.get("/amilia/api/V3/en/org/8008/persons", headers=h)).status_code == 401
    state = (await ctl.get("/_sandbox/amilia/state")).json()
    assert state["organization"] == {"Id": 8008, "Name": "Centre récréatif Passerelle",
                                     "RewriteUrl": "centre-passerelle"}
    assert state["credentials"] == [{"username": USER, "password": PASSWORD}] and state["today"] is None
    assert all(state[k] == [] for k in ("persons", "accounts", "registrations", "membershipPersons"))


async def test_unknown_routes_answer_404_with_a_message(api: httpx.AsyncClient) -> None:
    for path in ("/nothing-here", "/persons/abc", "/persons/999", "/programs/7/activities"):
        r = await api.get(path)
        assert r.status_code == 404 and isinstance(r.json()["Message"], str), path


# --- pagination and filters ---------------------------------------------------------------------------------

async def test_pagination_follows_next_to_the_last_page(api: httpx.AsyncClient) -> None:
    url: str = f"{str(api.base_url).rstrip('/')}/registrations?showEnded=true&perPage=10"
    seen: list[int] = []
    pages = 0
    while url:
        r = await api.get(url)
        assert r.status_code == 200
        body = r.json()
        assert body["Paging"]["TotalCount"] == 25
        seen += [x["Id"] for x in body["Items"]]
        pages += 1
        url = body["Paging"]["Next"]
        if url:
            parts = urlsplit(url)
            assert parts.scheme == "http" and parts.netloc == f"{api.base_url.host}:{api.base_url.port}"
            assert parts.path == f"{api.base_url.path.rstrip('/')}/registrations"
            assert parse_qs(parts.query) == {"showEnded": ["true"], "perPage": ["10"],
                                             "page": [str(pages + 1)]}
    assert pages == 3 and seen == sorted(seen) == list(range(9001, 9026))
    r = await api.get("/registrations", params={"showEnded": "true", "perPage": 10, "page": 4})
    assert r.json() == {"Items": [], "Paging": {"TotalCount": 25, "Next": ""}}


async def test_per_page_default_and_maximum(api: httpx.AsyncClient, ctl: httpx.AsyncClient) -> None:
    doc = generate(1300, seed=11, today=date(2026, 3, 15))["amilia"]
    (await ctl.put("/_sandbox/amilia/state", json=doc)).raise_for_status()
    default = (await api.get("/persons")).json()
    assert len(default["Items"]) == 200 and default["Paging"]["TotalCount"] == 1300
    assert "page=2" in default["Paging"]["Next"]
    big = (await api.get("/persons", params={"perPage": 5000})).json()
    assert len(big["Items"]) == 1000 and big["Paging"]["Next"].endswith("page=2")
    last = (await api.get(big["Paging"]["Next"])).json()
    assert len(last["Items"]) == 300 and last["Paging"]["Next"] == ""
    for bad in ({"perPage": "abc"}, {"page": 0}, {"perPage": -1}):
        r = await api.get("/persons", params=bad)
        assert r.status_code == 400 and "Message" in r.json()


async def test_from_and_to_are_inclusive_on_date_created(api: httpx.AsyncClient) -> None:
    got = await ids(api, "/registrations", showEnded="true", **{"from": "2024-03-15", "to": "2026-03-15"})
    assert 9022 in got and 9023 in got and 9021 not in got and 9024 not in got
    assert await ids(api, "/registrations", showEnded="true", **{"from": "2026-03-16"}) == [9024]
    assert await ids(api, "/registrations", showEnded="true", to="2024-03-14") == [9021]
    assert await ids(api, "/registrations", **{"from": "2025-01-03", "to": "2025-01-04"}) == [9003, 9004]
    for bad in ("2024-3-15", "15/03/2024", "2024-02-30", "yesterday"):
        r = await api.get("/registrations", params={"from": bad})
        assert r.status_code == 400 and bad in r.json()["Message"]
    assert await ids(api, "/persons", **{"from": "2021-03-04", "to": "2021-03-04"}) == [501, 502, 601, 701]


async def test_show_ended_hides_registrations_of_ended_activities(api: httpx.AsyncClient) -> None:
    assert 9023 not in await ids(api, "/registrations")          # activity 12 ended yesterday
    assert 9023 in await ids(api, "/registrations", showEnded="true")
    assert len(await ids(api, "/registrations", showEnded="True")) == 25
    assert (await api.get("/registrations", params={"showEnded": "maybe"})).status_code == 400


# --- resources ----------------------------------------------------------------------------------------------

async def test_registration_shape(api: httpx.AsyncClient) -> None:
    regs = {r["Id"]: r for r in await items(api, "/registrations", showEnded="true", perPage=100)}
    assert all(set(r) == REGISTRATION_KEYS for r in regs.values())
    assert regs[9001] == {
        "Id": 9001, "RegistrationId": "SUB-9001", "DateCreated": "2025-01-01T10:00:00", "IsCancelled": False,
        "Program": {"Id": 1, "Name": "Arts"}, "Category": {"Id": 100, "Name": "Danse"},
        "SubCategory": {"Id": 200, "Name": "Ballet"}, "Activity": {"Id": 10, "Name": "Ballet 5-7 ans"},
        "Group": None, "DropIn": None, "Person": {"Id": 501, "FirstName": "Marc", "LastName": "Roy"},
        "AccountOwner": {"Id": 501, "AccountId": 77, "FirstName": "Marc", "LastName": "Roy",
                         "Email": "marc@example.org"}}
    assert regs[9022]["Category"] is None and regs[9022]["SubCategory"] is None
    assert regs[9022]["Program"] == {"Id": 2, "Name": "Arts martiaux"}
    assert regs[9022]["Person"]["Id"] == 502 and regs[9022]["AccountOwner"]["Id"] == 501
    assert regs[9023]["Category"] == {"Id": 100, "Name": "Danse"} and regs[9023]["SubCategory"] is None
    assert regs[9024]["DropIn"] == {"Date": "2026-03-20"} and regs[9024]["RegistrationId"] == "DI-9024"
    assert regs[9025]["IsCancelled"] and regs[9025]["RegistrationId"].startswith("PL-")


async def test_persons_and_person_registrations(api: httpx.AsyncClient) -> None:
    persons = await items(api, "/persons")
    assert [p["Id"] for p in persons] == [501, 502, 601, 701]
    assert all(set(p) == PERSON_KEYS for p in persons)
    assert persons[0] == small_document()["persons"][0]
    assert persons[2]["IsArchived"] is True          # archived persons are listed, flagged
    r = await api.get("/persons/502")
    assert r.json()["IsChild"] is True and r.json()["Email"] is None
    assert await ids(api, "/persons/502/registrations", showEnded="true") == [9021, 9022]
    assert await ids(api, "/persons/701/registrations") == [9024]        # 9023's activity has ended
    assert (await api.get("/persons/12345/registrations")).status_code == 404


async def test_accounts_show_archived_and_owner_email(api: httpx.AsyncClient) -> None:
    assert await ids(api, "/accounts") == [77, 99]
    assert await ids(api, "/accounts", showArchived="false") == [77, 99]
    assert await ids(api, "/accounts", showArchived="true") == [77, 88, 99]
    assert await ids(api, "/accounts", accountOwnerEmail="paul.gagnon@example.org") == [99]
    assert await ids(api, "/accounts", accountOwnerEmail="anne@example.org") == []
    assert await ids(api, "/accounts", accountOwnerEmail="anne@example.org", showArchived="true") == [88]
    acct = (await api.get("/accounts/77")).json()
    assert acct == {"Id": 77, "IsArchived": False, "Corporate": False, "DateCreated": "2020-01-02T08:00:00",
                    "Owners": [{"AccountOwnerId": 501, "AccountOwnerEmail": "marc@example.org",
                                "AccountOwnerFirstName": "Marc", "AccountOwnerLastName": "Roy",
                                "Contacts": []}],
                    "Members": [{"PersonId": 501}, {"PersonId": 502}], "AccountMemberships": []}
    assert (await api.get("/accounts/88")).json()["IsArchived"] is True
    assert await ids(api, "/accounts/77/registrations", showEnded="true", perPage=3) == [9001, 9002, 9003]
    assert (await api.get("/accounts/77/registrations")).json()["Paging"]["TotalCount"] == 22
    empty = {"Items": [], "Paging": {"TotalCount": 0, "Next": ""}}
    assert (await api.get("/accounts/77/contacts")).json() == empty


async def test_programs_and_activities(api: httpx.AsyncClient) -> None:
    assert await items(api, "/programs") == [{"Id": 1, "Name": "Arts", "IsArchived": False},
                                             {"Id": 2, "Name": "Arts martiaux", "IsArchived": False}]
    assert (await api.get("/programs/2")).json()["Name"] == "Arts martiaux"
    assert await ids(api, "/programs/1/activities") == [10, 12]
    assert (await api.get("/activities/11")).json() == {
        "Id": 11, "Name": "Karaté", "ProgramId": 2, "ProgramName": "Arts martiaux", "CategoryId": None,
        "CategoryName": None, "SubCategoryId": None, "SubCategoryName": None}
    act = (await api.get("/activities/12")).json()
    assert (act["ProgramName"], act["CategoryName"], act["SubCategoryId"]) == ("Arts", "Danse", 0)
    assert (await api.get("/activities/404")).status_code == 404


async def test_memberships_list_filters(api: httpx.AsyncClient) -> None:
    listed = await items(api, "/memberships")
    assert [m["Id"] for m in listed] == [12]
    assert set(listed[0]) == {"Id", "OrganizationId", "Name", "Description", "Price", "Position",
                              "IsArchived", "IsVisible", "DateCreated", "MembershipType"}
    assert listed[0]["OrganizationId"] == 8008
    assert await ids(api, "/memberships", showHidden="true") == [12, 13]
    assert await ids(api, "/memberships", showHidden="true", showActiveonly="false") == [12, 13, 14]
    assert await ids(api, "/memberships", showActiveOnly="false") == [12, 14]


async def test_membership_person_status_follows_the_clock(api: httpx.AsyncClient,
                                                          ctl: httpx.AsyncClient) -> None:
    rows = await items(api, "/memberships/12/persons", status="All")
    assert {r["PersonId"]: r["Status"] for r in rows} == {501: "Active", 502: "Expired", 601: "Inactive",
                                                          701: "Active"}
    assert rows[0] == {"PersonId": 501, "AccountId": 77, "FirstName": "Marc", "LastName": "Roy",
                       "Email": "marc@example.org", "MembershipId": 12,
                       "MembershipName": "Abonnement gym annuel", "Status": "Active",
                       "PurchasedDate": "2026-01-10T09:00:00", "EffectiveDate": "2026-01-10",
                       "ExpirationDate": "2027-01-09"}
    for status, expected in (("Active", [501, 701]), ("expired", [502]), ("Inactive", [601])):
        got = [r["PersonId"] for r in await items(api, "/memberships/12/persons", status=status)]
        assert got == expected, status
    assert len(await items(api, "/memberships/12/persons")) == 4          # default: All
    assert [r["PersonId"] for r in await items(api, "/memberships/12/persons",
                                              **{"from": "2026-01-01", "to": "2026-12-31"})] == [501, 601]
    assert (await api.get("/memberships/12/persons", params={"status": "Gone"})).status_code == 400
    # move the clock one day on: 701's membership (expiring "today") is now expired, 601's active
    doc = small_document()
    doc["today"] = "2026-03-16"
    (await ctl.put("/_sandbox/amilia/state", json=doc)).raise_for_status()
    rows = await items(api, "/memberships/12/persons")
    assert {r["PersonId"]: r["Status"] for r in rows} == {501: "Active", 502: "Expired", 601: "Active",
                                                          701: "Expired"}


async def test_membership_accounts(api: httpx.AsyncClient) -> None:
    accounts = await items(api, "/memberships/14/accounts")
    assert len(accounts) == 1 and accounts[0]["AccountId"] == 77 and accounts[0]["Status"] == "Expired"
    assert [p["PersonId"] for p in accounts[0]["Persons"]] == [501, 502]
    assert accounts[0]["AccountOwner"]["Email"] == "marc@example.org"
    assert [a["AccountId"] for a in await items(api, "/memberships/12/accounts", status="Active")] == [77, 99]


# --- state document -----------------------------------------------------------------------------------------

async def test_state_round_trip(ctl: httpx.AsyncClient) -> None:
    doc = small_document()
    assert (await ctl.get("/_sandbox/amilia/state")).json() == doc      # already normalised: unchanged
    minimal = copy.deepcopy(doc)
    for p in minimal["persons"]:
        for key in ("Email", "Gender", "DateOfBirth", "Address", "Telephone", "TelephoneMobile", "Skills",
                    "ExternalId", "IsArchived", "IsChild"):
            p.pop(key)
    minimal["registrations"][0]["DateCreated"] = "2025-01-01T10:00:00.123"
    del minimal["organization"], minimal["credentials"]
    (await ctl.put("/_sandbox/amilia/state", json=minimal)).raise_for_status()
    dumped = (await ctl.get("/_sandbox/amilia/state")).json()
    assert dumped["persons"][0] == {
        "Id": 501, "AccountId": 77, "FirstName": "Marc", "LastName": "Roy", "Email": None, "Gender": None,
        "DateOfBirth": None, "IsChild": False,
        "Address": {"Address1": None, "City": None, "StateProvince": None, "Country": None,
                    "PostalCode": None},
        "Telephone": None, "TelephoneMobile": None, "Skills": [], "ExternalId": None, "IsArchived": False,
        "DateCreated": "2021-03-04T10:11:12"}
    assert dumped["registrations"][0]["DateCreated"] == "2025-01-01T10:00:00"
    assert dumped["organization"]["Id"] == 8008 and dumped["credentials"][0]["username"] == USER
    (await ctl.put("/_sandbox/amilia/state", json=dumped)).raise_for_status()
    assert (await ctl.get("/_sandbox/amilia/state")).json() == dumped


def broken(path: str, value: Any) -> dict[str, Any]:
    doc = small_document()
    section, index, key = path.split(".")
    doc[section][int(index)][key] = value
    return doc


@pytest.mark.parametrize(("doc", "needle"), [
    (broken("registrations.0.PersonId", 4242), "registrations[0] (Id 9001): PersonId 4242"),
    (broken("registrations.1.ActivityId", 77), "registrations[1] (Id 9002): ActivityId 77"),
    (broken("registrations.2.AccountId", 99), "person 501 is not a member of account 99"),
    (broken("registrations.3.DropInDate", "2025-01-05"), "registrations[3] (Id 9004): a drop-in"),
    (broken("registrations.4.RegistrationId", "X-1"), "RegistrationId must start with"),
    (broken("accounts.0.OwnerPersonId", 601), "accounts[0] (Id 77): the owner 601"),
    (broken("persons.1.AccountId", 5), "persons[1] (Id 502): AccountId 5"),
    (broken("persons.0.Gender", "M"), "persons[0] (Id 501): Gender"),
    (broken("persons.0.DateCreated", "hier"), "persons[0] (Id 501): DateCreated"),
    (broken("persons.0.Firstname", "x"), "persons[0] (Id 501): unknown field(s) ['Firstname']"),
    (broken("activities.0.ProgramId", 3), "activities[0] (Id 10): ProgramId 3"),
    (broken("activities.2.CategoryName", "Musique"), "activities[2] (Id 12): category 100"),
    (broken("membershipPersons.0.MembershipId", 99), "membershipPersons[0] (MembershipId 99, PersonId 501)"),
    (broken("memberships.0.MembershipType", "Group"), "memberships[0] (Id 12): MembershipType"),
    ({**small_document(), "today": "15/03/2026"}, "today must be a date"),
    ({**small_document(), "people": []}, "unknown section(s) ['people']"),
])
async def test_load_validation_names_the_bad_item(ctl: httpx.AsyncClient, doc: dict[str, Any],
                                                  needle: str) -> None:
    before = (await ctl.get("/_sandbox/amilia/state")).json()
    r = await ctl.put("/_sandbox/amilia/state", json=doc)
    assert r.status_code == 422 and needle in r.json()["detail"], r.text
    assert (await ctl.get("/_sandbox/amilia/state")).json() == before      # nothing half-loaded


async def test_duplicate_ids_are_refused(ctl: httpx.AsyncClient) -> None:
    doc = small_document()
    doc["registrations"][1]["Id"] = 9001
    r = await ctl.put("/_sandbox/amilia/state", json=doc)
    assert r.status_code == 422 and "registrations[1] (Id 9001): duplicate Id" in r.json()["detail"]


async def test_generated_organisation_is_served_consistently(api: httpx.AsyncClient, ctl: httpx.AsyncClient,
                                                             ) -> None:
    doc = generate(400, seed=2, today=date(2026, 3, 15))["amilia"]
    (await ctl.put("/_sandbox/amilia/state", json=doc)).raise_for_status()
    window = {"from": "2024-03-15", "to": "2026-03-15", "showEnded": "true", "perPage": 1000}
    body = (await api.get("/registrations", params=window)).json()
    expected = [r["Id"] for r in doc["registrations"]
                if "2024-03-15" <= r["DateCreated"][:10] <= "2026-03-15"]
    assert [r["Id"] for r in body["Items"]] == expected and body["Paging"]["TotalCount"] == len(expected)
    persons = {p["Id"]: p for p in doc["persons"]}
    for r in body["Items"][:50]:
        assert r["Person"]["FirstName"] == persons[r["Person"]["Id"]]["FirstName"]
        assert r["AccountOwner"]["AccountId"] == persons[r["Person"]["Id"]]["AccountId"]
