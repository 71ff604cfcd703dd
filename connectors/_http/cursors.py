"""Paginators that follow what each answer names as the next page: a URL or a cursor in the body (Zendesk,
Twilio), an RFC 8288 ``Link`` header (GitHub style), a GraphQL Relay ``pageInfo`` (iAdvize).

They learn no total, so pages are read one after the other. Each remembers the tokens it followed and
raises :class:`PaginationLoopError` when the API hands one back again.

Example:
    tickets = await api.fetch_all_pages("/api/v2/tickets", None, CursorPaginator(
        "tickets", next_url="links.next", has_more="meta.has_more", page_size_param="page[size]"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors._http.decoding import response_json
from connectors._http.errors import ApiError
from connectors._http.pagination import PageRequest, Paginator, dig, json_object, url_key


def _decoded(response: httpx.Response) -> Any:
    try:
        return response_json(response)
    except ValueError:
        raise ApiError(method=response.request.method, path=response.request.url.path,
                       status=response.status_code, message="expected JSON in a paged answer") from None


def _items(response: httpx.Response, body: Any, data_key: str | None) -> list[dict[str, Any]]:
    items = dig(body, data_key)
    if not isinstance(items, list):
        raise ApiError(method=response.request.method, path=response.request.url.path,
                       status=response.status_code,
                       message=f"paged answer has no item list at {data_key or 'its root'!r}")
    return items


class CursorPaginator(Paginator):
    """The answer's body names the next page: a URL to follow, or a cursor to send back as a query parameter.

    - Zendesk cursor pagination: ``{"tickets": [...], "meta": {"has_more": true, "after_cursor": "…"},
      "links": {"next": "https://…?page[after]=…"}}`` →
      ``CursorPaginator("tickets", next_url="links.next", has_more="meta.has_more",
      page_size_param="page[size]", page_size=100)`` (or ``cursor="meta.after_cursor",
      cursor_param="page[after]"``).
    - Twilio: ``{"messages": [...], "next_page_uri": "/2010-04-01/…" | null}`` →
      ``CursorPaginator("messages", next_url="next_page_uri")``.

    Args:
        data_key: Dotted path of the item list (None: the body is the list).
        next_url: Dotted path of the next page's URL (absolute, or relative to the client's base URL).
        cursor: Dotted path of the next page's cursor; sent back as ``cursor_param``.
        cursor_param: Query parameter carrying the cursor.
        has_more: Dotted path of a "more pages" flag: false ends the listing whatever else the body says.
        page_size, page_size_param: Page size sent with the first page, if the API takes one.
    """

    def __init__(self, data_key: str | None, *, next_url: str | None = None, cursor: str | None = None,
                 cursor_param: str | None = None, has_more: str | None = None, page_size: int | None = None,
                 page_size_param: str | None = None) -> None:
        super().__init__()
        if (next_url is None) == (cursor is None) or (cursor is not None and not cursor_param):
            raise ValueError("give either next_url, or cursor with cursor_param")
        self.data_key = data_key
        self.next_url = next_url
        self.cursor = cursor
        self.cursor_param = cursor_param
        self.has_more = has_more
        self.page_size = page_size
        self.page_size_param = page_size_param
        self._params: dict[str, Any] = {}
        self._next: PageRequest | None = None

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.page_size_param and self.page_size:
            params.setdefault(self.page_size_param, self.page_size)
        if self.cursor_param:
            params.pop(self.cursor_param, None)
        self._params = params
        return dict(params)

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = _decoded(response)
        items = _items(response, body, self.data_key)
        self._next = None
        if self.has_more is not None and not dig(body, self.has_more):
            return items
        if self.next_url is not None:
            self._seen.add(url_key(response.request.url))
            url = dig(body, self.next_url)
            if isinstance(url, str) and url:
                self._remember(url_key(httpx.URL(url)))
                self._next = PageRequest(url=url)
        else:
            token = dig(body, self.cursor)
            if token not in (None, ""):
                self._remember(token)
                assert self.cursor_param is not None
                self._next = PageRequest(params={**self._params, self.cursor_param: token})
        return items

    def next_request(self) -> PageRequest | None:
        return self._next


class LinkHeaderPaginator(Paginator):
    """RFC 8288 (ex-5988) ``Link: <https://…&page=3>; rel="next"`` headers, as GitHub sends them.

    Args:
        data_key: Dotted path of the item list (None: the body is the list).
        page_size, page_size_param: Page size sent with the first page (GitHub: ``per_page``).
        rel: The relation to follow.
    """

    def __init__(self, data_key: str | None = None, *, page_size: int | None = None,
                 page_size_param: str = "per_page", rel: str = "next") -> None:
        super().__init__()
        self.data_key = data_key
        self.page_size = page_size
        self.page_size_param = page_size_param
        self.rel = rel
        self._next: str | None = None

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.page_size:
            params.setdefault(self.page_size_param, self.page_size)
        return params

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = _decoded(response)
        items = _items(response, body, self.data_key)
        self._seen.add(url_key(response.request.url))
        self._next = response.links.get(self.rel, {}).get("url") or None
        if self._next:
            self._remember(url_key(httpx.URL(self._next)))
        return items

    def next_request(self) -> PageRequest | None:
        return PageRequest(url=self._next) if self._next else None


class GraphQLCursorPaginator(Paginator):
    """A GraphQL Relay connection read with POSTs: the query takes a cursor variable, the answer gives
    ``{"data": {<connection>: {"edges": [{"node": …}] | "nodes": [...], "pageInfo": {"hasNextPage",
    "endCursor"}}}}``. The listing is started with the query as its JSON body::

        paginator = GraphQLCursorPaginator("closedConversations", page_size=50)
        async for page in api.paginate("/graphql", None, paginator, method="POST", json={
                "query": "query($first: Int, $after: String) { closedConversations(first: $first, "
                         "after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
                "variables": {}}):
            ...

    Args:
        connection: Dotted path of the connection under ``data``.
        cursor_variable: Variable that takes the cursor (Relay: ``after``).
        page_size, page_size_variable: Page size put in the variables (Relay: ``first``), if given.
    """

    def __init__(self, connection: str, *, cursor_variable: str = "after", page_size: int | None = None,
                 page_size_variable: str = "first") -> None:
        super().__init__()
        self.connection = connection
        self.cursor_variable = cursor_variable
        self.page_size = page_size
        self.page_size_variable = page_size_variable
        self._params: dict[str, Any] = {}
        self._body: dict[str, Any] = {}
        self._next: PageRequest | None = None

    def first_request(self, params: Mapping[str, Any] | None, *, method: str = "POST", json: Any = None
                      ) -> PageRequest:
        if not isinstance(json, Mapping) or not json.get("query"):
            raise ValueError("a GraphQL listing starts with json={'query': ..., 'variables': {...}}")
        variables = dict(json.get("variables") or {})
        if self.page_size:
            variables.setdefault(self.page_size_variable, self.page_size)
        variables.pop(self.cursor_variable, None)
        self._body = {**json, "variables": variables}
        return PageRequest(params=self.start(params) or None, method="POST", json=self._body)

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        self._params = params
        return params

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = json_object(response)
        connection = dig(body, f"data.{self.connection}")
        if not isinstance(connection, Mapping):
            errors = body.get("errors") or []
            said = "; ".join(str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors)
            raise ApiError(method=response.request.method, path=response.request.url.path,
                           status=response.status_code,
                           message=said or f"GraphQL answer has no data.{self.connection}")
        if "edges" in connection:
            items = [edge.get("node") for edge in connection.get("edges") or []]
        else:
            items = list(connection.get("nodes") or [])
        info = connection.get("pageInfo") or {}
        cursor = info.get("endCursor")
        self._next = None
        if info.get("hasNextPage") and cursor:
            self._remember(cursor)
            variables = {**self._body["variables"], self.cursor_variable: cursor}
            self._next = PageRequest(params=self._params or None, method="POST",
                                     json={**self._body, "variables": variables})
        return items

    def next_request(self) -> PageRequest | None:
        return self._next
