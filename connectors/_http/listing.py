"""Reading listings page by page: the part of :class:`~connectors._http.client.ApiClient` that drives paginators.

Every page is a read, so it is sent as an idempotent call (retried after a lost answer) even when the API
wants a POST for it (a GraphQL query, a search endpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from connectors._http.errors import ApiError
from connectors._http.pagination import NumberedPaginator, PageRequest, Paginator

if TYPE_CHECKING:
    from connectors._http.client import ApiClient

logger = logging.getLogger("passerelle.connectors.http")
T = TypeVar("T")


async def gather_or_cancel(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently and return their results in order; on the first failure cancel the
    others and raise that failure (not an ExceptionGroup)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Listings:
    """Mixin of :class:`ApiClient`: ``paginate`` and ``fetch_all_pages``."""

    def _same_origin(self: ApiClient, url: str) -> httpx.URL:
        """Keep a vendor-given absolute URL on our origin, so the credentials never go elsewhere."""
        target = httpx.URL(url)
        if target.is_relative_url:
            return target
        base = self._http.base_url
        return target.copy_with(scheme=base.scheme, host=base.host, port=base.port)

    def _parse(self: ApiClient, paginator: Paginator, response: httpx.Response, *, follow: bool = True
               ) -> list[dict]:
        try:
            if follow or not isinstance(paginator, NumberedPaginator):
                return paginator.parse(response)
            return paginator.read_page(response)
        except ApiError as exc:
            exc.vendor = self.vendor
            exc.method = response.request.method
            exc.path = self.display_path(response.request.url)
            raise

    async def _walk(self: ApiClient, path: str, paginator: Paginator, page: PageRequest
                    ) -> AsyncIterator[list[dict]]:
        current: PageRequest | None = page
        while current is not None:
            url = self._same_origin(current.url) if current.url else path
            response = await self.request(current.method, url, params=current.params, json=current.json,
                                          idempotent=True)
            items = self._parse(paginator, response)
            current = paginator.next_request()
            yield items

    async def paginate(
        self: ApiClient, path: str, params: Mapping[str, Any] | None, paginator: Paginator, *,
        method: str = "GET", json: Any = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the items of each page in turn.

        Args:
            path: Path of the listing.
            params: Query of the listing (the paginator adds its own parameters).
            paginator: A fresh paginator instance.
            method, json: The first page's method and JSON body (a GraphQL query: ``POST`` and
                ``{"query", "variables"}``; the paginator puts its cursor in the next bodies).

        Example:
            async for page in api.paginate("/groups", None, PageLimitPaginator("groups", limit=100)):
                ...
        """
        first = paginator.first_request(params, method=method, json=json)
        async for items in self._walk(path, paginator, first):
            yield items

    async def fetch_all_pages(
        self: ApiClient, path: str, params: Mapping[str, Any] | None, paginator: Paginator,
        project: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        """Every item of a listing, in order. With a numbered paginator, page 1 gives the total and the
        remaining pages are fetched concurrently (bounded by ``max_concurrency``); otherwise the pages are
        followed one after the other.

        Args:
            project: Applied to each item as its page arrives, so a caller that needs a few fields of a
                large listing never holds every full item at once.

        Returns:
            The (projected) items of all pages, page 1 first.
        """
        keep = project or (lambda item: item)
        if not isinstance(paginator, NumberedPaginator):
            return [keep(item) async for page in self.paginate(path, params, paginator) for item in page]
        query = paginator.start(params)
        first = await self.request("GET", path, params=query)
        items = [keep(item) for item in self._parse(paginator, first)]
        pages = paginator.page_count()
        if pages is None:  # no total given: follow the links
            following = paginator.next_request()
            if following is not None:
                async for page in self._walk(path, paginator, following):
                    items.extend(keep(item) for item in page)
            return items

        async def fetch(number: int) -> list[Any]:
            response = await self.request("GET", path, params=paginator.params_for_page(number))
            return [keep(item) for item in self._parse(paginator, response, follow=False)]

        for page in await gather_or_cancel(fetch(n) for n in range(2, pages + 1)):
            items.extend(page)
        if paginator.total is not None and len(items) != paginator.total:
            logger.info("%s %s: read %d items, total said %d (data changed while reading)",
                        self.vendor, self.display_path(path), len(items), paginator.total)
        return items
