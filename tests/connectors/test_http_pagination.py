"""Paginators fed hand-built responses, and ApiClient.paginate / fetch_all_pages over respx."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from connectors._http import (
    ApiClient,
    ApiError,
    ItemsPagingPaginator,
    PageLimitPaginator,
    PageRequest,
    PaginationLoopError,
)

AMILIA = "https://app.amilia.com/api/V3/en/org/club"
CYBER = "https://api.cyberimpact.com"


def amilia_page(url: str, items: list, total: int, next_url: str) -> httpx.Response:
    return httpx.Response(200, json={"Items": items, "Paging": {"TotalCount": total, "Next": next_url}},
                          request=httpx.Request("GET", url))


def cyber_page(url: str, key: str, items: list, total: int, page: int, limit: int) -> httpx.Response:
    body = {key: items, "totalCount": total, "page": page, "limit": limit, "sort": "id_asc"}
    return httpx.Response(200, json=body, request=httpx.Request("GET", url))


# -- ItemsPagingPaginator ---------------------------------------------------------------------------
def test_items_paging_follows_next_and_stops_on_empty_next() -> None:
    p = ItemsPagingPaginator(per_page=2)
    assert p.start({"showArchived": "true"}) == {"showArchived": "true", "perPage": 2}
    page2 = f"{AMILIA}/persons?showArchived=true&perPage=2&page=2"
    first = f"{AMILIA}/persons?showArchived=true&perPage=2"
    items = p.parse(amilia_page(first, [{"Id": 1}, {"Id": 2}], 3, page2))
    assert items == [{"Id": 1}, {"Id": 2}]
    assert p.total == 3 and p.page_count() == 2
    assert p.next_request() == PageRequest(url=page2)
    assert p.params_for_page(2) == {"showArchived": "true", "perPage": 2, "page": 2}
    assert p.parse(amilia_page(page2, [{"Id": 3}], 3, "")) == [{"Id": 3}]
    assert p.next_request() is None


def test_items_paging_detects_a_repeated_next() -> None:
    p = ItemsPagingPaginator(per_page=1)
    p.start(None)
    page2 = f"{AMILIA}/persons?perPage=1&page=2"
    p.parse(amilia_page(f"{AMILIA}/persons?perPage=1", [{"Id": 1}], 5, page2))
    with pytest.raises(PaginationLoopError) as info:
        p.parse(amilia_page(page2, [{"Id": 2}], 5, page2))  # page 2 points at itself
    assert "page=2" in str(info.value.token)


def test_items_paging_detects_next_back_to_first_page_even_with_reordered_query() -> None:
    p = ItemsPagingPaginator(per_page=1)
    p.start({"from": "2025-01-01"})
    first = f"{AMILIA}/registrations?from=2025-01-01&perPage=1"
    p.parse(amilia_page(first, [{"Id": 1}], 2, f"{AMILIA}/registrations?perPage=1&page=2&from=2025-01-01"))
    with pytest.raises(PaginationLoopError):
        p.parse(amilia_page(f"{AMILIA}/registrations?perPage=1&page=2&from=2025-01-01", [{"Id": 2}], 2,
                            "http://other-host/api/V3/en/org/club/registrations?perPage=1&from=2025-01-01"))


def test_a_paginator_serves_one_listing() -> None:
    p = ItemsPagingPaginator()
    p.start(None)
    with pytest.raises(RuntimeError, match="one listing"):
        p.start(None)


# -- PageLimitPaginator -----------------------------------------------------------------------------
def test_page_limit_pages_until_total() -> None:
    p = PageLimitPaginator("members", limit=2)
    assert p.start({"status": "all"}) == {"status": "all", "limit": 2, "page": 1}
    url = f"{CYBER}/members?status=all&limit=2"
    p.parse(cyber_page(f"{url}&page=1", "members", [{"id": 1}, {"id": 2}], 4, 1, 2))
    assert p.total == 4 and p.page_count() == 2
    assert p.next_request() == PageRequest(params={"status": "all", "limit": 2, "page": 2})
    p.parse(cyber_page(f"{url}&page=2", "members", [{"id": 3}, {"id": 4}], 4, 2, 2))
    assert p.next_request() is None  # page * limit >= totalCount


def test_page_limit_stops_on_a_short_page_without_total() -> None:
    p = PageLimitPaginator("groups", limit=3, total_key="nope")
    p.start(None)
    p.parse(cyber_page(f"{CYBER}/groups?limit=3&page=1", "groups", [{"id": 1}, {"id": 2}], 99, 1, 3))
    assert p.total is None and p.page_count() is None
    assert p.next_request() is None


def test_page_limit_detects_a_server_ignoring_the_page_parameter() -> None:
    p = PageLimitPaginator("members", limit=1)
    p.start(None)
    p.parse(cyber_page(f"{CYBER}/members?limit=1&page=1", "members", [{"id": 1}], 5, 1, 1))
    assert p.next_request() is not None
    with pytest.raises(PaginationLoopError) as info:
        p.parse(cyber_page(f"{CYBER}/members?limit=1&page=2", "members", [{"id": 1}], 5, 1, 1))
    assert info.value.token == 1


def test_page_limit_requires_its_data_key() -> None:
    p = PageLimitPaginator("members")
    p.start(None)
    with pytest.raises(ApiError, match="no 'members' key"):
        p.parse(cyber_page(f"{CYBER}/members?page=1", "groups", [], 0, 1, 20))


# -- through the client -----------------------------------------------------------------------------
@respx.mock(assert_all_called=True)
async def test_paginate_follows_next_and_keeps_the_origin(respx_mock) -> None:
    def persons(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        # the vendor answers with another scheme/host (a proxy): the client must stay on its own origin
        nxt = f"http://internal:8080/api/V3/en/org/club/persons?perPage=2&page={page + 1}" if page < 3 else ""
        items = [{"Id": page * 10}, {"Id": page * 10 + 1}][: 2 if page < 3 else 1]
        return httpx.Response(200, json={"Items": items, "Paging": {"TotalCount": 5, "Next": nxt}})

    route = respx_mock.get(url__startswith=f"{AMILIA}/persons").mock(side_effect=persons)
    async with ApiClient("https://app.amilia.com/api/V3", vendor="Amilia") as api:
        paginator = ItemsPagingPaginator(per_page=2)
        pages = [p async for p in api.paginate("/en/org/club/persons", None, paginator)]
    assert pages == [[{"Id": 10}, {"Id": 11}], [{"Id": 20}, {"Id": 21}], [{"Id": 30}]]
    assert [c.request.url.host for c in route.calls] == ["app.amilia.com"] * 3
    assert [c.request.url.params.get("page") for c in route.calls] == [None, "2", "3"]


@respx.mock(assert_all_called=True)
async def test_fetch_all_pages_fetches_the_rest_concurrently_in_order(respx_mock) -> None:
    in_flight = 0
    peak = 0

    async def members(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        await asyncio.sleep(0.02 if page > 1 else 0)
        in_flight -= 1
        ids = range((page - 1) * limit + 1, min(page * limit, 23) + 1)
        return httpx.Response(200, json={"members": [{"id": i} for i in ids], "totalCount": 23, "page": page,
                                         "limit": limit})

    route = respx_mock.get(url__startswith=f"{CYBER}/members").mock(side_effect=members)
    async with ApiClient(CYBER, vendor="Cyberimpact", max_concurrency=3) as api:
        paginator = PageLimitPaginator("members", limit=2)
        items = await api.fetch_all_pages("/members", {"status": "all"}, paginator)
    assert [m["id"] for m in items] == list(range(1, 24))
    assert route.call_count == 12
    assert peak == 3  # bounded by max_concurrency, and actually concurrent
    assert all(c.request.url.params["status"] == "all" for c in route.calls)


@respx.mock(assert_all_called=True)
async def test_fetch_all_pages_without_total_follows_links(respx_mock) -> None:
    respx_mock.get(url__startswith=f"{CYBER}/groups").mock(side_effect=[
        httpx.Response(200, json={"groups": [{"id": 1}, {"id": 2}], "page": 1}),
        httpx.Response(200, json={"groups": [{"id": 3}], "page": 2}),
    ])
    async with ApiClient(CYBER, vendor="Cyberimpact") as api:
        items = await api.fetch_all_pages("/groups", None, PageLimitPaginator("groups", limit=2))
    assert [g["id"] for g in items] == [1, 2, 3]


@respx.mock(assert_all_called=True)
async def test_pagination_loop_error_names_vendor_and_path(respx_mock) -> None:
    respx_mock.get(url__startswith=f"{CYBER}/members").mock(
        return_value=httpx.Response(200, json={"members": [{"id": 1}], "page": 1}))
    async with ApiClient(CYBER, vendor="Cyberimpact") as api:
        with pytest.raises(PaginationLoopError) as info:
            await api.fetch_all_pages("/members", None, PageLimitPaginator("members", limit=1, total_key="x"))
    assert str(info.value) == (
        "Cyberimpact sent the same next page twice (a pagination loop) (GET /members): "
        "page token 1 repeated; stopped to avoid reading forever")


@respx.mock(assert_all_called=True)
async def test_a_failing_page_cancels_the_others(respx_mock) -> None:
    def members(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        if page == 3:
            return httpx.Response(404, json={"message": "gone"})
        body = {"members": [{"id": page}], "totalCount": 6, "page": page, "limit": 1}
        return httpx.Response(200, json=body)

    respx_mock.get(url__startswith=f"{CYBER}/members").mock(side_effect=members)
    async with ApiClient(CYBER, vendor="Cyberimpact", max_concurrency=2) as api:
        with pytest.raises(ApiError, match="404 on GET /members"):
            await api.fetch_all_pages("/members", None, PageLimitPaginator("members", limit=1))


def test_items_paging_learns_a_page_size_capped_by_the_server() -> None:
    p = ItemsPagingPaginator(per_page=5000)
    p.start(None)
    items = [{"Id": i} for i in range(1000)]
    p.read_page(amilia_page(f"{AMILIA}/persons?perPage=5000", items, 2500, f"{AMILIA}/persons?page=2"))
    assert p.page_size == 1000 and p.page_count() == 3


def test_page_limit_learns_a_limit_lowered_by_the_server() -> None:
    p = PageLimitPaginator("members", limit=50_000)
    p.start(None)
    p.parse(cyber_page(f"{CYBER}/members?limit=50000&page=1", "members", [{"id": 1}] * 100, 250, 1, 100))
    assert p.page_size == 100 and p.page_count() == 3
    assert p.next_request() == PageRequest(params={"limit": 50_000, "page": 2})
