"""Pagination strategies: one small object per API style, a fresh instance per listing.

A paginator turns the caller's query into the first page's query, reads each page's items and state from
the response, and says which request comes next (or None at the end). A paginator that sees a next-page
token it already followed raises :class:`PaginationLoopError`. Numbered paginators (those that learn a
total from page 1) also let :meth:`ApiClient.fetch_all_pages` fetch the remaining pages concurrently.

Example:
    async for items in client.paginate("/members", {"status": "all"}, PageLimitPaginator("members")):
        ...
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors._http.decoding import response_json
from connectors._http.errors import ApiError, PaginationLoopError


@dataclass(frozen=True)
class PageRequest:
    """A page to request: ``url`` (absolute, or None for the listing's own path), ``params``, and the
    ``method`` and JSON body (``json``) for APIs that read pages with a POST (GraphQL cursor pagination)."""

    url: str | None = None
    params: dict[str, Any] | None = None
    method: str = "GET"
    json: Any = None


def dig(body: Any, path: str | None) -> Any:
    """The value at a dotted path of a decoded JSON body (``"meta.has_more"``), None when absent; the body
    itself for an empty path."""
    if not path:
        return body
    for key in path.split("."):
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response_json(response)
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise ApiError(method=response.request.method, path=response.request.url.path,
                       status=response.status_code, message="expected a JSON object in a paged answer")
    return body


def url_key(url: httpx.URL) -> str:
    """A page's identity: path and sorted query (the host may differ behind proxies)."""
    query = "&".join(f"{k}={v}" for k, v in sorted(url.params.multi_items()))
    return f"{url.path}?{query}"


class Paginator(ABC):
    """Base strategy. Subclasses implement :meth:`first_params`, :meth:`parse` and :meth:`next_request`."""

    def __init__(self) -> None:
        self._started = False
        self._seen: set[Any] = set()

    def start(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Query of the first page. A paginator serves one listing only (state is per listing)."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__} instances serve one listing; create a new one")
        self._started = True
        return self.first_params(dict(params or {}))

    def first_request(self, params: Mapping[str, Any] | None, *, method: str = "GET", json: Any = None
                      ) -> PageRequest:
        """The first page's request (a paginator that pages through the body overrides it)."""
        return PageRequest(params=self.start(params), method=method, json=json)

    @abstractmethod
    def first_params(self, params: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        """Items of this page; also records the state needed by :meth:`next_request`."""

    @abstractmethod
    def next_request(self) -> PageRequest | None:
        """The next page, or None when the listing is complete."""

    def _remember(self, token: Any) -> None:
        if token in self._seen:
            raise PaginationLoopError(token=token)
        self._seen.add(token)


class NumberedPaginator(Paginator):
    """A paginator whose pages are numbered and whose first page tells the total item count."""

    page_size: int
    total: int | None = None

    def page_count(self) -> int | None:
        """Number of pages, known after the first page was parsed (None if the API gave no total)."""
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.page_size))

    @abstractmethod
    def params_for_page(self, page: int) -> dict[str, Any]:
        """Full query of page ``page`` (1-based)."""

    @abstractmethod
    def read_page(self, response: httpx.Response) -> list[dict[str, Any]]:
        """Items of any page (and the total), without following links: used for concurrent reads."""


class ItemsPagingPaginator(NumberedPaginator):
    """Amilia: ``{"Items": [...], "Paging": {"TotalCount": n, "Next": "<absolute url>" | ""}}``.

    Follows ``Paging.Next`` until it is empty; ``total`` exposes ``TotalCount``.

    Args:
        per_page: ``perPage`` sent with the first page (Amilia's own default is 200; the emulator's max 1000).
        items_key, paging_key: Keys of the envelope.
    """

    def __init__(self, per_page: int = 1000, *, items_key: str = "Items", paging_key: str = "Paging") -> None:
        super().__init__()
        self.page_size = per_page
        self.items_key = items_key
        self.paging_key = paging_key
        self._params: dict[str, Any] = {}
        self._next: str | None = None
        self._read_one = False

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault("perPage", self.page_size)
        self.page_size = int(params["perPage"])
        self._params = params
        return dict(params)

    def params_for_page(self, page: int) -> dict[str, Any]:
        return {**self._params, "page": page}

    def read_page(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = json_object(response)
        paging = body.get(self.paging_key) or {}
        if self.total is None and paging.get("TotalCount") is not None:
            self.total = int(paging["TotalCount"])
        self._next = paging.get("Next") or None
        items = list(body.get(self.items_key) or [])
        if not self._read_one and self._next and 0 < len(items) < self.page_size:
            self.page_size = len(items)  # the server caps perPage silently: number pages its way
        self._read_one = True
        return items

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        items = self.read_page(response)
        self._seen.add(url_key(response.request.url))
        if self._next:
            self._remember(url_key(httpx.URL(self._next)))
        return items

    def next_request(self) -> PageRequest | None:
        return PageRequest(url=self._next) if self._next else None


class PageLimitPaginator(NumberedPaginator):
    """Cyberimpact: query ``page``/``limit``, answer ``{"<data_key>": [...], "totalCount": n, "page": p}``.

    Stops when ``page * limit >= totalCount`` or on a short page.

    Args:
        data_key: Key of the item list (``members``, ``groups``, ``customFields``...).
        limit: Page size (Cyberimpact: max 10 000).
        page_param, limit_param, total_key: Names used by the API.
    """

    def __init__(self, data_key: str, limit: int = 10_000, *, page_param: str = "page",
                 limit_param: str = "limit", total_key: str = "totalCount") -> None:
        super().__init__()
        self.data_key = data_key
        self.page_size = limit
        self.page_param = page_param
        self.limit_param = limit_param
        self.total_key = total_key
        self._params: dict[str, Any] = {}
        self._page = 1
        self._count = 0
        self._echoed = 1

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault(self.limit_param, self.page_size)
        self.page_size = int(params[self.limit_param])
        params.pop(self.page_param, None)  # a listing starts at page 1
        self._page = 1
        self._params = params
        return self.params_for_page(self._page)

    def params_for_page(self, page: int) -> dict[str, Any]:
        return {**self._params, self.page_param: page}

    def read_page(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = json_object(response)
        if self.data_key not in body:
            raise ApiError(method=response.request.method, path=response.request.url.path,
                           status=response.status_code,
                           message=f"paged answer has no {self.data_key!r} key (keys: {sorted(body)})")
        items = list(body[self.data_key] or [])
        if body.get(self.total_key) is not None:
            self.total = int(body[self.total_key])
        served = body.get(self.limit_param)
        if isinstance(served, int) and 0 < served < self.page_size:
            self.page_size = served  # the server lowered our limit: number pages its way
        # The server echoes the page it served: another page than the one asked for means it ignores
        # our page parameter, and following it would loop (or read one page many times).
        asked = response.request.url.params.get(self.page_param)
        echoed = body.get(self.page_param)
        if asked is not None and echoed is not None and int(echoed) != int(asked):
            raise PaginationLoopError(token=int(echoed))
        self._echoed = int(echoed) if echoed is not None else (int(asked) if asked else self._page)
        return items

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        items = self.read_page(response)
        self._remember(self._echoed)
        self._count = len(items)
        return items

    def next_request(self) -> PageRequest | None:
        if self._count < self.page_size:
            return None
        if self.total is not None and self._page * self.page_size >= self.total:
            return None
        self._page += 1
        return PageRequest(params=self.params_for_page(self._page))


class OffsetPaginator(NumberedPaginator):
    """``offset`` + page size in the query, the total in the body or a header.

    Mailchimp: ``?count=&offset=`` → ``{"members": [...], "total_items": n}``
    (``OffsetPaginator("members", 1000, limit_param="count", total_key="total_items")``).
    noCRM: ``?limit=&offset=`` → a bare list, the total in ``X-TOTAL-COUNT``
    (``OffsetPaginator(None, 100, total_header="X-TOTAL-COUNT")``).
    Stops on a short page or once ``offset`` reaches the total; with a total, the other pages can be read
    concurrently (:meth:`ApiClient.fetch_all_pages`).

    Args:
        data_key: Dotted path of the item list (None: the body is the list).
        limit: Page size.
        offset_param, limit_param: Names of the query parameters.
        total_key: Dotted path of the total in the body, or None.
        total_header: Response header holding the total, or None.
    """

    def __init__(self, data_key: str | None, limit: int = 100, *, offset_param: str = "offset",
                 limit_param: str = "limit", total_key: str | None = None, total_header: str | None = None
                 ) -> None:
        super().__init__()
        self.data_key = data_key
        self.page_size = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_key = total_key
        self.total_header = total_header
        self._params: dict[str, Any] = {}
        self._page = 1
        self._count = 0
        self._first: Any = None

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault(self.limit_param, self.page_size)
        self.page_size = int(params[self.limit_param])
        params.pop(self.offset_param, None)  # a listing starts at offset 0
        self._params = params
        return self.params_for_page(1)

    def params_for_page(self, page: int) -> dict[str, Any]:
        return {**self._params, self.offset_param: (page - 1) * self.page_size}

    def read_page(self, response: httpx.Response) -> list[dict[str, Any]]:
        try:
            body = response_json(response)
        except ValueError:
            body = None
        items = dig(body, self.data_key)
        if not isinstance(items, list):
            raise ApiError(method=response.request.method, path=response.request.url.path,
                           status=response.status_code,
                           message=f"paged answer has no item list at {self.data_key or 'its root'!r}")
        total = (response.headers.get(self.total_header) if self.total_header
                 else dig(body, self.total_key) if self.total_key else None)
        if total is not None and str(total).strip().isdigit():
            self.total = int(total)
        return items

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        items = self.read_page(response)
        # An API that ignores our offset serves page 1 again and again: the same first item is a loop.
        if self._page > 1 and items and items[0] == self._first:
            raise PaginationLoopError(token=response.request.url.params.get(self.offset_param))
        if self._page == 1:
            self._first = items[0] if items else None
        self._count = len(items)
        return items

    def next_request(self) -> PageRequest | None:
        if self._count < self.page_size or self._count == 0:
            return None
        if self.total is not None and self._page * self.page_size >= self.total:
            return None
        self._page += 1
        return PageRequest(params=self.params_for_page(self._page))
