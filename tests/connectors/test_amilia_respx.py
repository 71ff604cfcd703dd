"""AmiliaClient against respx: URLs, queries, JWT handling. Every mocked route must be called."""

from __future__ import annotations

import asyncio
import base64
from datetime import date

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._http import AuthError, NotFoundError, RetryPolicy
from connectors.amilia import AmiliaClient, AmiliaCredentials
from connectors.amilia.models import Person

BASE = "https://app.amilia.com/api/V3"
ORG = f"{BASE}/fr/org/club-x"
PASSWORD = "pw-SECRET"
DENIED = "Authorization has been denied for this request."
BASIC = "Basic " + base64.b64encode(f"me@example.org:{PASSWORD}".encode()).decode()


def amilia(**kwargs) -> AmiliaClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    return AmiliaClient(username="me@example.org", password=SecretStr(PASSWORD), organization="club-x",
                        language="fr", **kwargs)


def page(items: list, total: int | None = None, next_url: str = "") -> httpx.Response:
    total = len(items) if total is None else total
    return httpx.Response(200, json={"Items": items, "Paging": {"TotalCount": total, "Next": next_url}})


def auth_route(mock: respx.MockRouter, *tokens: str) -> respx.Route:
    responses = [httpx.Response(200, json={"Token": t}) for t in tokens]
    return mock.get(f"{BASE}/authenticate", headers={"Authorization": BASIC}).mock(side_effect=responses)


@respx.mock(assert_all_called=True)
async def test_jwt_is_obtained_once_for_concurrent_first_calls(respx_mock) -> None:
    auth = auth_route(respx_mock, "jwt-1")
    persons = respx_mock.get(f"{ORG}/persons/501", headers={"Authorization": "Bearer jwt-1"}).mock(
        return_value=httpx.Response(200, json={"Id": 501, "FirstName": "Léa"}))
    async with amilia() as client:
        results = await asyncio.gather(*(client.get_person(501) for _ in range(5)))
        assert client.auth.authentications == 1
    assert all(r == {"Id": 501, "FirstName": "Léa"} for r in results)
    assert auth.call_count == 1 and persons.call_count == 5


@respx.mock(assert_all_called=True)
async def test_list_persons_reads_page_one_then_the_rest_concurrently(respx_mock) -> None:
    auth_route(respx_mock, "jwt")

    def persons(request: httpx.Request) -> httpx.Response:
        assert request.url.params["perPage"] == "1000"
        n = int(request.url.params.get("page", "1"))
        ids = range((n - 1) * 1000, min(n * 1000, 2500))
        nxt = f"{ORG}/persons?perPage=1000&page={n + 1}" if n < 3 else ""
        return page([{"Id": i} for i in ids], 2500, nxt)

    route = respx_mock.get(f"{ORG}/persons").mock(side_effect=persons)
    async with amilia() as client:
        rows = await client.list_persons()
    assert [r["Id"] for r in rows] == list(range(2500))
    assert sorted(c.request.url.params.get("page", "1") for c in route.calls) == ["1", "2", "3"]


@respx.mock(assert_all_called=True)
async def test_list_queries(respx_mock) -> None:
    auth_route(respx_mock, "jwt")
    def listing(path: str, answer: list, **query: str) -> respx.Route:
        """A list route matching the exact query (perPage included)."""
        return respx_mock.get(f"{ORG}{path}", params__eq={"perPage": "1000", **query}).mock(
            return_value=page(answer))

    regs = listing("/registrations", [{"Id": 9001, "RegistrationId": "SUB-9001"}],
                   **{"from": "2024-01-01", "to": "2025-12-31", "showEnded": "true"})
    accounts = listing("/accounts", [{"Id": 77}], showArchived="false")
    memberships = listing("/memberships", [{"Id": 12}], showActiveonly="true", showHidden="false")
    holders = listing("/memberships/12/persons", [{"PersonId": 501, "MembershipId": 12, "Status": "Active"}],
                      status="All")
    person_regs = listing("/persons/501/registrations", [], showEnded="true")
    activities = listing("/programs/3/activities", [{"Id": 4}])
    async with amilia() as client:
        assert await client.list_registrations(date(2024, 1, 1), date(2025, 12, 31)) == [
            {"Id": 9001, "RegistrationId": "SUB-9001"}]
        assert await client.list_accounts(show_archived=False) == [{"Id": 77}]
        assert await client.list_memberships() == [{"Id": 12}]
        assert (await client.list_membership_persons(12, status="All"))[0]["PersonId"] == 501
        assert await client.list_person_registrations(501) == []
        assert await client.list_program_activities(3) == [{"Id": 4}]
    for route in (regs, accounts, memberships, holders, person_regs, activities):
        assert route.call_count == 1


@respx.mock(assert_all_called=True)
async def test_expired_token_reauthenticates_once(respx_mock) -> None:
    auth = auth_route(respx_mock, "old", "new")
    old = respx_mock.get(f"{ORG}/activities/4", headers={"Authorization": "Bearer old"}).mock(
        side_effect=[httpx.Response(200, json={"Id": 4}), httpx.Response(401, json={"Message": DENIED})])
    new = respx_mock.get(f"{ORG}/activities/4", headers={"Authorization": "Bearer new"}).mock(
        return_value=httpx.Response(200, json={"Id": 4, "Name": "Ballet"}))
    async with amilia() as client:
        assert await client.get_activity(4) == {"Id": 4}
        assert await client.get_activity(4) == {"Id": 4, "Name": "Ballet"}
    assert auth.call_count == 2 and old.call_count == 2 and new.call_count == 1


@respx.mock(assert_all_called=True)
async def test_second_401_gives_up_with_auth_error(respx_mock) -> None:
    auth = auth_route(respx_mock, "a", "b")
    route = respx_mock.get(f"{ORG}/persons/1").mock(
        return_value=httpx.Response(401, json={"Message": "Authorization has been denied for this request."}))
    async with amilia() as client:
        with pytest.raises(AuthError) as info:
            await client.get_person(1)
    assert auth.call_count == 2 and route.call_count == 2
    assert str(info.value).startswith("Amilia rejected the username and password (401 on GET "
                                      "/fr/org/club-x/persons/1): Authorization has been denied")


@respx.mock(assert_all_called=True)
async def test_bad_password_fails_on_authenticate_with_block_hint(respx_mock) -> None:
    route = respx_mock.get(f"{BASE}/authenticate").mock(
        return_value=httpx.Response(401, json={"Message": "Authorization has been denied for this request."}))
    creds = AmiliaCredentials(username="me@example.org", password=PASSWORD, organization="club-x",
                              language="fr")
    creds._block_document_name = "club-x"
    async with creds.client() as client:
        with pytest.raises(AuthError) as info:
            await client.ping()
    assert route.call_count == 1
    assert str(info.value) == (
        "Amilia rejected the username and password (401 on GET /authenticate): Authorization has been denied "
        "for this request. Check the username and password in the 'amilia-credentials/club-x' block.")
    for text in (repr(info.value), repr(creds), repr(client.auth), repr(client)):
        assert PASSWORD not in text


@respx.mock(assert_all_called=True)
async def test_authenticate_5xx_is_retried(respx_mock) -> None:
    respx_mock.get(f"{BASE}/authenticate").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"Token": "t"})])
    respx_mock.get(f"{ORG}/programs", params={"page": "1", "perPage": "1"}).mock(return_value=page([]))
    async with amilia() as client:
        await client.ping()
        assert client.stats.retries == 1


@respx.mock(assert_all_called=True)
async def test_unknown_organisation_ping_hint(respx_mock) -> None:
    auth_route(respx_mock, "t")
    respx_mock.get(f"{ORG}/programs").mock(
        return_value=httpx.Response(404, json={"Message": "Organization 'club-x' was not found."}))
    async with amilia() as client:
        with pytest.raises(NotFoundError, match="Check the organization \\('club-x'\\)"):
            await client.ping()


@respx.mock(assert_all_called=True)
async def test_single_objects_validate_against_models(respx_mock) -> None:
    auth_route(respx_mock, "t")
    body = {"Id": 501, "AccountId": 77, "FirstName": "Léa", "LastName": "Roy", "Email": None, "Gender": None,
            "DateOfBirth": None, "IsChild": True, "Address": None, "Skills": [], "IsArchived": False,
            "DateCreated": "2021-03-04T10:11:12", "NewField": 1}
    respx_mock.get(f"{ORG}/persons/501").mock(return_value=httpx.Response(200, json=body))
    async with amilia() as client:
        person = Person.model_validate(await client.get_person(501))
    assert person.IsChild and person.model_extra == {"NewField": 1}


@respx.mock(assert_all_called=True)
async def test_authenticate_without_token_is_an_auth_error(respx_mock) -> None:
    respx_mock.get(f"{BASE}/authenticate").mock(return_value=httpx.Response(200, json={"Hello": "world"}))
    async with amilia() as client:
        with pytest.raises(AuthError, match="the answer holds no Token"):
            await client.ping()
