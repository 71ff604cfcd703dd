"""The coming vendors' pagination styles and ``validate_response``, over respx (every route asserted called):
Zendesk cursor (`meta.has_more` / `links.next`), Mailchimp offset/count/total_items, noCRM limit/offset +
X-TOTAL-COUNT, RFC 8288 Link headers, GraphQL Relay cursors in POST bodies, Slack's `{"ok": false}`."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from connectors._http import (
    ApiClient,
    ApiError,
    AuthError,
    CursorPaginator,
    GraphQLCursorPaginator,
    LinkHeaderPaginator,
    NotFoundError,
    OffsetPaginator,
    PaginationLoopError,
    RetryPolicy,
    ok_flag,
)

ZENDESK = "https://club.zendesk.com"
BASE = "https://api.example.test"


def api(base: str = BASE, **kwargs) -> ApiClient:
    return ApiClient(base, vendor="Example", retry=RetryPolicy(max_attempts=3, initial_wait=0.001,
                                                                 max_wait=0.001), **kwargs)


def zendesk_page(items: list, after: str | None) -> httpx.Response:
    link = f"{ZENDESK}/api/v2/tickets?page%5Bafter%5D={after}&page%5Bsize%5D=2" if after else None
    return httpx.Response(200, json={"tickets": items, "meta": {"has_more": bool(after), "after_cursor": after,
                                                                "before_cursor": None},
                                     "links": {"next": link, "prev": None}})


@respx.mock(assert_all_called=True)
async def test_zendesk_cursor_follows_links_next_until_has_more_is_false(respx_mock) -> None:
    def tickets(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("page[after]")
        assert request.url.params["page[size]"] == "2"
        return {None: zendesk_page([{"id": 1}, {"id": 2}], "c1"),
                "c1": zendesk_page([{"id": 3}, {"id": 4}], "c2"), "c2": zendesk_page([{"id": 5}], None)}[after]

    route = respx_mock.get(f"{ZENDESK}/api/v2/tickets").mock(side_effect=tickets)
    paginator = CursorPaginator("tickets", next_url="links.next", has_more="meta.has_more",
                                page_size_param="page[size]", page_size=2)
    async with api(ZENDESK) as client:
        rows = await client.fetch_all_pages("/api/v2/tickets", None, paginator)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5] and route.call_count == 3


@respx.mock(assert_all_called=True)
async def test_has_more_false_ends_even_with_a_next_link(respx_mock) -> None:
    body = {"tickets": [{"id": 1}], "meta": {"has_more": False}, "links": {"next": f"{ZENDESK}/x?page=2"}}
    route = respx_mock.get(f"{ZENDESK}/api/v2/tickets").mock(return_value=httpx.Response(200, json=body))
    async with api(ZENDESK) as client:
        rows = await client.fetch_all_pages("/api/v2/tickets", None, CursorPaginator(
            "tickets", next_url="links.next", has_more="meta.has_more"))
    assert rows == [{"id": 1}] and route.call_count == 1


@respx.mock(assert_all_called=True)
async def test_cursor_sent_back_as_a_query_parameter_and_a_repeated_cursor_is_a_loop(respx_mock) -> None:
    def tickets(request: httpx.Request) -> httpx.Response:
        return zendesk_page([{"id": 1}], "same")  # the API hands back the cursor it was given

    respx_mock.get(f"{ZENDESK}/api/v2/tickets").mock(side_effect=tickets)
    paginator = CursorPaginator("tickets", cursor="meta.after_cursor", cursor_param="page[after]",
                                has_more="meta.has_more")
    async with api(ZENDESK) as client:
        with pytest.raises(PaginationLoopError) as info:
            await client.fetch_all_pages("/api/v2/tickets", {"sort": "id"}, paginator)
    assert info.value.vendor == "Example" and info.value.path == "/api/v2/tickets"


def test_cursor_paginator_needs_exactly_one_way_to_the_next_page() -> None:
    with pytest.raises(ValueError, match="either next_url, or cursor"):
        CursorPaginator("x")
    with pytest.raises(ValueError, match="either next_url, or cursor"):
        CursorPaginator("x", next_url="links.next", cursor="meta.after_cursor", cursor_param="after")


@respx.mock(assert_all_called=True)
async def test_mailchimp_offset_count_total_items_reads_the_rest_concurrently(respx_mock) -> None:
    def members(request: httpx.Request) -> httpx.Response:
        offset, count = int(request.url.params["offset"]), int(request.url.params["count"])
        assert request.url.params["status"] == "subscribed"
        ids = range(offset, min(offset + count, 25))
        return httpx.Response(200, json={"members": [{"id": i} for i in ids], "total_items": 25})

    route = respx_mock.get(f"{BASE}/3.0/lists/L1/members").mock(side_effect=members)
    paginator = OffsetPaginator("members", 10, limit_param="count", total_key="total_items")
    async with api() as client:
        rows = await client.fetch_all_pages("/3.0/lists/L1/members", {"status": "subscribed"}, paginator)
    assert [r["id"] for r in rows] == list(range(25))
    assert sorted(int(c.request.url.params["offset"]) for c in route.calls) == [0, 10, 20]


@respx.mock(assert_all_called=True)
async def test_nocrm_limit_offset_with_the_total_in_a_header(respx_mock) -> None:
    def leads(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        ids = range(offset, min(offset + 100, 150))
        return httpx.Response(200, json=[{"id": i} for i in ids], headers={"X-TOTAL-COUNT": "150"})

    route = respx_mock.get(f"{BASE}/api/v2/leads").mock(side_effect=leads)
    async with api() as client:
        rows = await client.fetch_all_pages("/api/v2/leads", None, OffsetPaginator(
            None, 100, total_header="X-TOTAL-COUNT"))
    assert len(rows) == 150 and route.call_count == 2


@respx.mock(assert_all_called=True)
async def test_an_api_ignoring_the_offset_is_a_loop(respx_mock) -> None:
    respx_mock.get(f"{BASE}/api/v2/leads").mock(return_value=httpx.Response(200, json=[{"id": 1}, {"id": 2}]))
    async with api() as client:
        with pytest.raises(PaginationLoopError):
            await client.fetch_all_pages("/api/v2/leads", None, OffsetPaginator(None, 2))


@respx.mock(assert_all_called=True)
async def test_link_header_next_is_followed_on_the_same_origin(respx_mock) -> None:
    def repos(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        headers = {"Link": f'<https://elsewhere.test/orgs/x/repos?per_page=2&page={page + 1}>; rel="next", '
                           '<https://elsewhere.test/orgs/x/repos?per_page=2&page=1>; rel="first"'} \
            if page < 2 else {}
        return httpx.Response(200, json=[{"n": page}], headers=headers)

    route = respx_mock.get(f"{BASE}/orgs/x/repos").mock(side_effect=repos)
    async with api() as client:
        rows = await client.fetch_all_pages("/orgs/x/repos", None, LinkHeaderPaginator(page_size=2))
    assert rows == [{"n": 1}, {"n": 2}]
    assert [c.request.url.host for c in route.calls] == ["api.example.test"] * 2  # credentials stay home


QUERY = ("query($first: Int, $after: String) { closedConversations(first: $first, after: $after) "
         "{ edges { node { id } } pageInfo { hasNextPage endCursor } } }")


@respx.mock(assert_all_called=True)
async def test_graphql_cursor_pages_are_posts_carrying_the_cursor_and_are_retried(respx_mock) -> None:
    answers = {None: ("c1", True, [1, 2]), "c1": ("c2", False, [3])}

    def graphql(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["query"] == QUERY and body["variables"]["first"] == 2
        assert body["variables"]["interval"] == "P1D"
        cursor, more, ids = answers[body["variables"].get("after")]
        return httpx.Response(200, json={"data": {"closedConversations": {
            "edges": [{"node": {"id": i}} for i in ids], "pageInfo": {"hasNextPage": more, "endCursor": cursor}}}})

    route = respx_mock.post(f"{BASE}/graphql").mock(side_effect=_first_then(httpx.ReadTimeout("slow"), graphql))
    paginator = GraphQLCursorPaginator("closedConversations", page_size=2)
    async with api() as client:
        pages = [page async for page in client.paginate(
            "/graphql", None, paginator, method="POST", json={"query": QUERY, "variables": {"interval": "P1D"}})]
    assert pages == [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    assert route.call_count == 3  # a page is a read: re-sent after the lost answer


def _first_then(first, then):
    calls = {"n": 0}

    def side_effect(request: httpx.Request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise first
        return then(request)

    return side_effect


@respx.mock(assert_all_called=True)
async def test_graphql_errors_without_data_are_an_api_error(respx_mock) -> None:
    respx_mock.post(f"{BASE}/graphql").mock(return_value=httpx.Response(200, json={
        "errors": [{"message": "interval is required"}]}))
    async with api() as client:
        with pytest.raises(ApiError, match="interval is required"):
            async for _ in client.paginate("/graphql", None, GraphQLCursorPaginator("closedConversations"),
                                           method="POST", json={"query": QUERY}):
                pass


@respx.mock(assert_all_called=True)
async def test_slack_ok_false_raises_the_classified_error(respx_mock) -> None:
    route = respx_mock.post(f"{BASE}/chat.postMessage").mock(side_effect=[
        httpx.Response(200, json={"ok": False, "error": "channel_not_found"}),
        httpx.Response(200, json={"ok": False, "error": "invalid_auth"}),
        httpx.Response(200, json={"ok": True, "ts": "1.2"}),
        httpx.Response(200, text="ok"),  # incoming webhooks answer a plain "ok"
    ])
    async with api(validate_response=ok_flag(), credential="bot token",
                   auth_hint="Check the 'slack-credentials/x' block.") as client:
        with pytest.raises(NotFoundError) as missing:
            await client.post_json("/chat.postMessage", {"channel": "C1"})
        with pytest.raises(AuthError) as refused:
            await client.post_json("/chat.postMessage", {"channel": "C1"})
        assert (await client.post_json("/chat.postMessage", {}))["ts"] == "1.2"
        await client.request("POST", "/chat.postMessage")
    assert str(missing.value) == ("Example has no such resource (200 on POST /chat.postMessage): "
                                  "channel_not_found.")
    assert str(refused.value) == ("Example rejected the bot token (200 on POST /chat.postMessage): invalid_auth. "
                                  "Check the 'slack-credentials/x' block.")
    assert route.call_count == 4
