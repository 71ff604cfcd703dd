"""IadvizeClient against respx: the login's shape, the bearer, one re-login on invalid_token, Relay pagination of
closedConversations, GraphQL errors; the static GraphQL token (bearer) option and the projects listing. Every mocked
route must be called. (Webhook signatures and dedupe keys are the gateway's: tests/gateway/test_iadvize_source.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors._http import AuthError, RetryPolicy, ValidationError
from connectors.iadvize import IadvizeClient

BASE = "https://api.iadvize.com"
PASSWORD = "pw-SECRET-1"
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
INVALID_TOKEN = {"error": "invalid_token", "error_description": "access token not valid"}


def client(**kwargs) -> IadvizeClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.001))
    return IadvizeClient(username="agent@example.org", password=SecretStr(PASSWORD), **kwargs)


def token_route(mock: respx.MockRouter, *tokens: str) -> respx.Route:
    return mock.post(f"{BASE}/oauth2/token").mock(side_effect=[
        httpx.Response(200, json={"access_token": t, "refresh_token": "r", "token_type": "bearer", "expires_in": 86400})
        for t in tokens])


def node(n: int) -> dict:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "createdAt": "2026-03-02T10:00:00Z",
            "closedAt": f"2026-03-02T10:{n:02d}:00Z", "channel": "CHAT", "project": {"id": 4321}, "visitor": None}


@respx.mock(assert_all_called=True)
async def test_login_is_a_password_grant_form_and_queries_carry_its_bearer(respx_mock) -> None:
    token = token_route(respx_mock, "tok-1")
    graphql = respx_mock.post(f"{BASE}/graphql", params__eq={"platform": "sd"},
                              headers={"Authorization": "Bearer tok-1"}).mock(
        return_value=httpx.Response(200, json={"data": {"closedConversations": {
            "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}}))
    async with client(platform="sd") as iadvize:
        assert [c async for c in iadvize.closed_conversations(START, END)] == []
    login = token.calls.last.request
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(login.content.decode()) == {"grant_type": ["password"], "username": ["agent@example.org"],
                                                "password": [PASSWORD]}
    body = json.loads(graphql.calls.last.request.content)
    assert body["operationName"] == "ClosedConversations"
    assert body["variables"] == {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-08T00:00:00+00:00", "first": 100}
    assert "interval: {from: $from, to: $to}" in body["query"]


@respx.mock(assert_all_called=True)
async def test_a_refused_token_is_exchanged_again_once_then_the_query_replayed(respx_mock) -> None:
    token = token_route(respx_mock, "tok-old", "tok-new")
    refused = respx_mock.post(f"{BASE}/graphql", headers={"Authorization": "Bearer tok-old"}).mock(
        return_value=httpx.Response(401, json=INVALID_TOKEN))
    accepted = respx_mock.post(f"{BASE}/graphql", headers={"Authorization": "Bearer tok-new"}).mock(
        return_value=httpx.Response(200, json={"data": {"conversation": None}}))
    async with client() as iadvize:
        assert await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024") is None
        assert iadvize.auth.exchanges == 2
    assert (token.call_count, refused.call_count, accepted.call_count) == (2, 1, 1)


@respx.mock(assert_all_called=True)
async def test_a_token_refused_twice_is_an_auth_error_without_a_third_login(respx_mock) -> None:
    token = token_route(respx_mock, "tok-1", "tok-2")
    graphql = respx_mock.post(f"{BASE}/graphql").mock(return_value=httpx.Response(401, json=INVALID_TOKEN))
    async with client(auth_hint="Check the 'iadvize-credentials/shop' block.") as iadvize:
        with pytest.raises(AuthError) as info:
            await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024")
    assert str(info.value) == ("iAdvize rejected the username and password (401 on POST /graphql): access token not "
                               "valid. Check the 'iadvize-credentials/shop' block.")
    assert (token.call_count, graphql.call_count) == (2, 2)


@respx.mock(assert_all_called=True)
async def test_a_wrong_password_is_an_auth_error_naming_the_login(respx_mock) -> None:
    respx_mock.post(f"{BASE}/oauth2/token").mock(return_value=httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "Invalid username and password combination"}))
    async with client() as iadvize:
        with pytest.raises(AuthError) as info:
            await iadvize.authenticated()
    assert str(info.value).startswith("iAdvize rejected the username and password (400 on POST /oauth2/token): "
                                      "Invalid username and password combination.")
    assert PASSWORD not in str(info.value) + repr(info.value) + repr(iadvize.auth)


@respx.mock(assert_all_called=True)
async def test_closed_conversations_follow_end_cursor_until_the_last_page(respx_mock) -> None:
    token_route(respx_mock, "tok")
    pages = {None: ([node(1), node(2)], True, "c2"), "c2": ([node(3), node(4)], True, "c4"),
             "c4": ([node(5)], False, "c5")}

    def answer(request: httpx.Request) -> httpx.Response:
        variables = json.loads(request.content)["variables"]
        assert variables["projectIds"] == [4321] and variables["first"] == 2
        nodes, more, cursor = pages[variables.get("after")]
        return httpx.Response(200, json={"data": {"closedConversations": {
            "edges": [{"node": n, "cursor": "x"} for n in nodes],
            "pageInfo": {"hasNextPage": more, "endCursor": cursor}}}})

    route = respx_mock.post(f"{BASE}/graphql").mock(side_effect=answer)
    async with client(page_size=2) as iadvize:
        seen = [c async for c in iadvize.closed_conversations(START, END, project_ids=[4321])]
    assert [c.id[-2:] for c in seen] == ["01", "02", "03", "04", "05"]
    assert seen[0].closed_at == datetime(2026, 3, 2, 10, 1, tzinfo=UTC) and seen[0].project_id == 4321
    assert [json.loads(c.request.content)["variables"].get("after") for c in route.calls] == [None, "c2", "c4"]


@respx.mock(assert_all_called=True)
async def test_graphql_errors_in_a_200_answer_raise_naming_the_query_and_the_message(respx_mock) -> None:
    token_route(respx_mock, "tok")
    respx_mock.post(f"{BASE}/graphql").mock(return_value=httpx.Response(200, json={"data": None, "errors": [
        {"message": "Variable '$from' got invalid value '2026-03-01'.", "extensions": {"code": "BAD_USER_INPUT"}}]}))
    async with client() as iadvize:
        with pytest.raises(ValidationError) as info:
            [c async for c in iadvize.closed_conversations(START, END)]
    assert str(info.value) == ("iAdvize rejected the request as invalid (200 on POST /graphql): GraphQL query "
                               "ClosedConversations failed: Variable '$from' got invalid value '2026-03-01'.")


async def test_bad_arguments_are_refused_before_any_call() -> None:
    async with client() as iadvize:
        with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
            [c async for c in iadvize.closed_conversations(datetime(2026, 3, 1), END)]
        with pytest.raises(ValueError, match=r"start \(2026-03-08.*\) must be before end"):
            [c async for c in iadvize.closed_conversations(END, START)]
        with pytest.raises(ValueError, match="project_ids must be a non-empty list"):
            [c async for c in iadvize.closed_conversations(START, END, project_ids=["4321"])]
        with pytest.raises(ValueError, match="conversation_id must be an iAdvize conversation id"):
            await iadvize.conversation("42")
        assert iadvize.stats.calls == 0
    with pytest.raises(ValueError, match="platform must be 'ha' or 'sd'"):
        client(platform="eu")


GRAPHQL_TOKEN = "gql-SECRET-42"


@respx.mock(assert_all_called=True)
async def test_a_graphql_token_is_sent_as_a_bearer_as_is_without_any_login(respx_mock) -> None:
    # no /oauth2/token route: a login attempt would be an unmocked request and fail the test
    check = respx_mock.get(f"{BASE}/_authenticated", headers={"Authorization": f"Bearer {GRAPHQL_TOKEN}"}).mock(
        return_value=httpx.Response(200, json={"authenticated": True}))
    graphql = respx_mock.post(f"{BASE}/graphql", headers={"Authorization": f"Bearer {GRAPHQL_TOKEN}"}).mock(
        return_value=httpx.Response(200, json={"data": {"conversation": None}}))
    async with IadvizeClient(token=SecretStr(GRAPHQL_TOKEN)) as iadvize:
        assert await iadvize.authenticated() is True
        assert await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024") is None
    assert (check.call_count, graphql.call_count) == (1, 1)
    assert GRAPHQL_TOKEN not in repr(iadvize.auth)


@respx.mock(assert_all_called=True)
async def test_a_refused_graphql_token_is_an_auth_error_naming_it_sent_once(respx_mock) -> None:
    graphql = respx_mock.post(f"{BASE}/graphql").mock(return_value=httpx.Response(401, json=INVALID_TOKEN))
    async with IadvizeClient(token=GRAPHQL_TOKEN, retry=RetryPolicy(max_attempts=3, initial_wait=0.001),
                             auth_hint="Check --iadvize-graphql-token.") as iadvize:
        with pytest.raises(AuthError) as info:
            await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024")
    assert str(info.value) == ("iAdvize rejected the GraphQL token (401 on POST /graphql): access token not valid. "
                               "Check --iadvize-graphql-token.")
    assert graphql.call_count == 1  # a 401 is never retried, and a static token is never exchanged
    assert GRAPHQL_TOKEN not in str(info.value) + repr(info.value) + repr(iadvize.auth)


@respx.mock(assert_all_called=True)
async def test_projects_are_read_page_by_page_with_the_bearer(respx_mock) -> None:
    pages = {None: ([{"id": 4321, "name": "Boutique FR", "country": "FR"}], True, "p1"),
             "p1": ([{"id": 4322, "name": "Shop CA", "country": None}], False, "p2")}

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["operationName"] == "Projects" and "projects(first: $first, after: $after)" in body["query"]
        nodes, more, cursor = pages[body["variables"].get("after")]
        return httpx.Response(200, json={"data": {"projects": {
            "edges": [{"node": n, "cursor": "x"} for n in nodes], "pageInfo": {"hasNextPage": more,
                                                                              "endCursor": cursor}}}})

    route = respx_mock.post(f"{BASE}/graphql", params__eq={"platform": "sd"},
                            headers={"Authorization": f"Bearer {GRAPHQL_TOKEN}"}).mock(side_effect=answer)
    async with IadvizeClient(token=GRAPHQL_TOKEN, platform="sd") as iadvize:
        assert [p["id"] for p in await iadvize.projects()] == [4321, 4322]
    assert route.call_count == 2


def test_a_client_takes_a_login_or_a_token_not_both_nor_neither() -> None:
    with pytest.raises(ValueError, match="either token .* or username and password, not both"):
        IadvizeClient(username="a@example.org", password="pw", token="t")
    with pytest.raises(ValueError, match="give the username and password of an iAdvize user, or token"):
        IadvizeClient(username="a@example.org")
    with pytest.raises(ValueError, match="token is empty"):
        IadvizeClient(token=SecretStr("  "))
