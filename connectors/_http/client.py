"""``ApiClient``: one ``httpx.AsyncClient`` with concurrency and rate limits, retries, error classes, stats.

Vendor clients (``AmiliaClient``, ``CyberimpactClient``) wrap one ``ApiClient`` each and only describe
their endpoints. Secrets live in the ``httpx.Auth`` object; logs and errors show the method and the path
relative to the base URL, never headers or query strings.

Example:
    async with ApiClient("https://api.cyberimpact.com", vendor="Cyberimpact",
                         auth=BearerTokenAuth(token)) as api:
        pong = await api.get_json("/ping")
        print(api.stats.calls)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from tenacity import RetryCallState

from connectors._http.decoding import response_json
from connectors._http.errors import (
    ApiError,
    AuthError,
    RateLimitedError,
    ServerError,
    TransportError,
    error_class_for,
)
from connectors._http.pagination import NumberedPaginator, PageRequest, Paginator
from connectors._http.retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("passerelle.connectors.http")

T = TypeVar("T")
USER_AGENT = "passerelle/0.1 (+https://github.com/passerelle)"


@dataclass
class ClientStats:
    """Counters of one client: every HTTP response (auth calls included), retries, transport failures."""

    calls: int = 0
    retries: int = 0
    transport_errors: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "retries": self.retries, "transport_errors": self.transport_errors,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())}}


def vendor_message(response: httpx.Response) -> tuple[str | None, dict[str, Any]]:
    """The vendor's own error message and field errors from an error response.

    Understands ``{"message", "errors"}`` (Cyberimpact, Laravel-style) and ``{"Message", "ModelState"}``
    (Amilia, ASP.NET Web API); otherwise the start of the body text.
    """
    try:
        body = response_json(response)
    except ValueError:
        text = response.text.strip()[:200]
        return (text or response.reason_phrase or None), {}
    if not isinstance(body, Mapping):
        return None, {}
    message = next((body[k] for k in ("message", "Message", "error_description", "error", "detail")
                    if body.get(k)), None)
    if message is not None and not isinstance(message, str):
        message = str(message)[:200]
    errors = body.get("errors") or body.get("ModelState") or {}
    return message, dict(errors) if isinstance(errors, Mapping) else {}


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


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once per process:
    loading the CA bundle costs 20–90 ms, which every flow run paid again for each vendor client."""
    return httpx.create_ssl_context()


class ApiClient:
    """An async HTTP client for one vendor account.

    Args:
        base_url: Root of the API (``https://api.cyberimpact.com``; a sandbox URL in tests).
        vendor: Display name used in errors and logs.
        auth: The ``httpx.Auth`` holding the secrets.
        credential: What the credentials are called in messages ("API token").
        auth_hint: Appended to auth errors ("Check the token in the 'cyberimpact-credentials/x' block.").
        max_concurrency: Requests in flight at once (a semaphore; also sizes the connection pool).
        rate_limit: Optional ceiling in requests per second (aiolimiter).
        retry: The :class:`RetryPolicy` (default: 6 attempts, 60 s total wait).
        timeout: httpx timeout (seconds or ``httpx.Timeout``).
        headers: Extra default headers.
        transport: An httpx transport, to inject a mock or an ASGI app.
        sleep: Coroutine used between retries (tests pass a fake).
    """

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        auth: httpx.Auth | None = None,
        credential: str = "credentials",
        auth_hint: str | None = None,
        max_concurrency: int = 8,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.vendor = vendor
        self.credential = credential
        self.auth_hint = auth_hint
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self.stats = ClientStats()
        self._sleep = sleep
        self._slots = asyncio.Semaphore(max_concurrency)
        # A bucket of max(1, rate) calls refilled at `rate_limit` per second (below 1/s: one per period).
        self._limiter = (AsyncLimiter(max(1.0, rate_limit), max(1.0, rate_limit) / rate_limit)
                         if rate_limit else None)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            transport=transport,
            verify=_tls_context(),
            event_hooks={"response": [self._count_response]},
        )
        self._base_path = self._http.base_url.path.rstrip("/")

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vendor={self.vendor!r}, base_url={self.base_url!r})"

    # -- core ------------------------------------------------------------------------------------
    async def _count_response(self, response: httpx.Response) -> None:
        self.stats.calls += 1
        self.stats.by_status[response.status_code] += 1

    def display_path(self, url: httpx.URL | str) -> str:
        """Path of ``url`` relative to the base URL, without query string."""
        path = httpx.URL(str(url)).path
        if self._base_path and path.startswith(self._base_path):
            path = path[len(self._base_path):] or "/"
        return path if path.startswith("/") else f"/{path}"

    def _before_sleep(self, method: str, url: str) -> Callable[[RetryCallState], None]:
        def log(state: RetryCallState) -> None:
            self.stats.retries += 1
            outcome = state.outcome
            if outcome is not None and outcome.failed:
                exc = outcome.exception()
                why = type(exc).__name__
            else:
                why = str(outcome.result().status_code) if outcome is not None else "?"
            logger.info("%s %s %s failed (%s); retry %d in %.2fs", self.vendor, method,
                        self.display_path(url), why, state.attempt_number, state.upcoming_sleep)

        return log

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call with limits and retries; return the 2xx response or raise a classified ApiError.

        Args:
            method: HTTP method.
            url: Path relative to the base URL (``/members``) or an absolute URL on the same origin.
            params: Query parameters.
            json: JSON body.
            headers: Extra headers for this call.

        Returns:
            The successful ``httpx.Response`` (body already read).

        Raises:
            AuthError, NotFoundError, ValidationError, RateLimitedError, ServerError, TransportError,
            ApiError (another status).
        """
        attempts = 0

        async def once() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            async with self._slots:
                if self._limiter is not None:
                    await self._limiter.acquire()
                try:
                    return await self._http.request(method, url, params=params, json=json, headers=headers)
                except httpx.TransportError:
                    self.stats.transport_errors += 1
                    raise

        retrying = self.retry.retrying(before_sleep=self._before_sleep(method, str(url)), sleep=self._sleep)
        try:
            response = await retrying(once)
        except httpx.TransportError as exc:
            raise TransportError(
                vendor=self.vendor, method=method, path=self.display_path(url),
                message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                hint=f"Check the base URL ({self.base_url}) and the network.", attempts=attempts,
            ) from exc
        if response.is_success:
            return response
        raise self.error_for(response, attempts=attempts)

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        """The classified error for a failed response."""
        cls = error_class_for(response.status_code)
        message, errors = vendor_message(response)
        kwargs: dict[str, Any] = dict(
            vendor=self.vendor, status=response.status_code, method=response.request.method,
            path=self.display_path(response.request.url), message=message, errors=errors, attempts=attempts,
        )
        if cls is AuthError:
            return AuthError(credential=self.credential, hint=self.auth_hint, **kwargs)
        if cls is RateLimitedError:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.retry.max_total_wait:
                hint = (f"It asked to wait {retry_after:g} s, more than the {self.retry.max_total_wait:g} s "
                        "retry budget; try again later.")
            else:
                hint = "Lower max_concurrency or set a rate limit, or try again later."
            return RateLimitedError(retry_after=retry_after, hint=hint, **kwargs)
        if cls is ServerError:
            return ServerError(hint="The service may be down or overloaded; try again later.", **kwargs)
        return cls(**kwargs)

    # -- JSON helpers ----------------------------------------------------------------------------
    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        return response_json(response)

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON (None for an empty body)."""
        return self._json(await self.request("GET", url, params=params))

    async def post_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and decode the answer."""
        return self._json(await self.request("POST", url, json=json, params=params))

    async def put_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """PUT a JSON body and decode the answer."""
        return self._json(await self.request("PUT", url, json=json, params=params))

    async def patch_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """PATCH a JSON body and decode the answer."""
        return self._json(await self.request("PATCH", url, json=json, params=params))

    async def delete(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """DELETE and decode the answer (None for an empty body)."""
        return self._json(await self.request("DELETE", url, params=params))

    # -- pagination ------------------------------------------------------------------------------
    def _same_origin(self, url: str) -> httpx.URL:
        """Keep a vendor-given absolute URL on our origin, so the credentials never go elsewhere."""
        target = httpx.URL(url)
        if target.is_relative_url:
            return target
        base = self._http.base_url
        return target.copy_with(scheme=base.scheme, host=base.host, port=base.port)

    def _parse(self, paginator: Paginator, response: httpx.Response, *, follow: bool = True) -> list[dict]:
        try:
            if follow or not isinstance(paginator, NumberedPaginator):
                return paginator.parse(response)
            return paginator.read_page(response)
        except ApiError as exc:
            exc.vendor = self.vendor
            exc.method = response.request.method
            exc.path = self.display_path(response.request.url)
            raise

    async def _walk(self, path: str, paginator: Paginator, page: PageRequest) -> AsyncIterator[list[dict]]:
        current: PageRequest | None = page
        while current is not None:
            url = self._same_origin(current.url) if current.url else path
            response = await self.request("GET", url, params=current.params)
            items = self._parse(paginator, response)
            current = paginator.next_request()
            yield items

    async def paginate(
        self, path: str, params: Mapping[str, Any] | None, paginator: Paginator
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the items of each page in turn.

        Args:
            path: Path of the listing.
            params: Query of the listing (the paginator adds its own parameters).
            paginator: A fresh paginator instance.

        Example:
            async for page in api.paginate("/groups", None, PageLimitPaginator("groups", limit=100)):
                ...
        """
        async for items in self._walk(path, paginator, PageRequest(params=paginator.start(params))):
            yield items

    async def fetch_all_pages(
        self, path: str, params: Mapping[str, Any] | None, paginator: Paginator,
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


class VendorClient:
    """Base of the vendor clients: owns one :class:`ApiClient` (``self.api``) and its lifecycle.

    Example:
        async with AmiliaCredentials(...).client() as amilia:   # closed on exit
            print(amilia.stats.calls)
    """

    api: ApiClient

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.api.aclose()

    @property
    def stats(self) -> ClientStats:
        return self.api.stats
