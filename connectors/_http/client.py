"""``ApiClient``: one ``httpx.AsyncClient`` with concurrency and rate limits, retries, error classes, stats.

Vendor clients (``AmiliaClient``, ``CyberimpactClient``) wrap one ``ApiClient`` each and only describe
their endpoints. Secrets live in the ``httpx.Auth`` object; logs and errors show the method and the path
relative to the base URL, never headers or query strings. A call that is not safe to repeat is never re-sent
after its answer was lost (:class:`OutcomeUnknown`; the rule is in docs/connectors.md).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from tenacity import RetryCallState

from connectors._http.decoding import response_json
from connectors._http.errors import (
    ApiError,
    AuthError,
    OutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
    error_class_for,
)
from connectors._http.listing import Listings, gather_or_cancel
from connectors._http.retry import RetryPolicy, is_replay_safe, may_have_applied, parse_retry_after

logger = logging.getLogger("passerelle.connectors.http")

__all__ = ["ApiClient", "ClientStats", "VendorClient", "gather_or_cancel", "vendor_message"]
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


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), built once per process:
    loading the CA bundle costs 20–90 ms, which every flow run paid again for each vendor client."""
    return httpx.create_ssl_context()


class ApiClient(Listings):
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
        idempotency_header: The vendor's idempotency-key header (``Idempotency-Key``), if it has one: calls
            given an ``idempotency_key`` send it and become safe to repeat.
        validate_response: Called with every 2xx answer; raises an :class:`ApiError` for APIs that answer
            200 with an error body (Slack's ``{"ok": false}``: see :func:`ok_flag`). The client fills in the
            vendor, method and path.
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
        idempotency_header: str | None = None,
        validate_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.vendor = vendor
        self.credential = credential
        self.auth_hint = auth_hint
        self.idempotency_header = idempotency_header
        self.validate_response = validate_response
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
            verify=tls_context(),
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

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

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
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one call with limits and retries; return the 2xx response or raise a classified ApiError.

        A call that is not safe to repeat (POST and PATCH unless marked, see :func:`is_replay_safe`) is
        retried only after failures that surely did not reach the vendor (connect errors, 429, 503 with
        Retry-After); after a lost answer or a 500/502/504 it raises :class:`OutcomeUnknown`, not re-sent.

        Args:
            method: HTTP method.
            url: Path relative to the base URL (``/members``) or an absolute URL on the same origin.
            params: Query parameters.
            json: JSON body.
            data: Form body (``application/x-www-form-urlencoded``), instead of ``json``.
            headers: Extra headers for this call.
            idempotent: Repeating the call has the effect of one (an upsert by e-mail, a PUT by key): True;
                not (a DELETE that is not): False; None: decided by the method.
            idempotency_key: Sent in the vendor's idempotency header (``idempotency_header``); makes the
                call safe to repeat.

        Returns:
            The successful ``httpx.Response`` (body already read).

        Raises:
            AuthError, NotFoundError, ValidationError, RateLimitedError, ServerError, TransportError,
            OutcomeUnknown, ApiError (another status, or refused by ``validate_response``).
        """
        if idempotency_key:
            if not self.idempotency_header:
                raise ValueError(f"{self.vendor} takes no idempotency key (the connector declares no "
                                 "idempotency_header); mark the call idempotent=True only if repeating it is "
                                 "harmless")
            headers = {**(headers or {}), self.idempotency_header: idempotency_key}
        replay_safe = is_replay_safe(method, idempotent, idempotency_key)
        attempts = 0
        sent: httpx.Request | None = None

        async def once() -> httpx.Response:
            nonlocal attempts, sent
            attempts += 1
            async with self._slots:
                if self._limiter is not None:
                    await self._limiter.acquire()
                sent = self._http.build_request(method, url, params=params, json=json, data=data,
                                                headers=headers)
                try:
                    return await self._http.send(sent)
                except httpx.TransportError:
                    self.stats.transport_errors += 1
                    raise

        retrying = self.retry.retrying(
            before_sleep=self._before_sleep(method, str(url)), sleep=self._sleep,
            may_resend=None if replay_safe else (lambda outcome: not may_have_applied(outcome, sent)))
        try:
            response = await retrying(once)
        except httpx.TransportError as exc:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            where = dict(vendor=self.vendor, method=method, path=self.display_path(url), attempts=attempts)
            if not replay_safe and may_have_applied(exc, sent):
                self._log_unknown(method, url, type(exc).__name__)
                raise OutcomeUnknown(message=f"no answer arrived ({text})", **where) from exc
            raise TransportError(message=text, hint=f"Check the base URL ({self.base_url}) and the network.",
                                 **where) from exc
        if response.is_success:
            if self.validate_response is not None:
                self._validate(response, attempts)
            return response
        error = self.error_for(response, attempts=attempts)
        if not replay_safe and may_have_applied(response, sent):
            self._log_unknown(method, url, str(response.status_code))
            raise OutcomeUnknown(vendor=self.vendor, status=error.status, method=error.method, path=error.path,
                                 message=error.message, errors=error.errors, attempts=attempts) from error
        raise error

    def _log_unknown(self, method: str, url: str | httpx.URL, why: str) -> None:
        logger.warning("%s %s %s failed (%s) after it may have reached %s: outcome unknown, not re-sent",
                       self.vendor, method, self.display_path(url), why, self.vendor)

    def _validate(self, response: httpx.Response, attempts: int) -> None:
        """Run ``validate_response`` on a 2xx answer; name the call in the error it raises."""
        assert self.validate_response is not None
        try:
            self.validate_response(response)
        except ApiError as exc:
            exc.vendor = self.vendor
            exc.method = exc.method or response.request.method
            exc.path = exc.path or self.display_path(response.request.url)
            exc.attempts = attempts
            if isinstance(exc, AuthError):
                exc.credential = self.credential if exc.credential == "credentials" else exc.credential
                exc.hint = exc.hint or self.auth_hint
            raise

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

    async def post_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None, *,
                        idempotent: bool | None = None, idempotency_key: str | None = None) -> Any:
        """POST a JSON body and decode the answer. Not repeated after a lost answer unless ``idempotent``
        or an ``idempotency_key`` says it may be (see :meth:`request`)."""
        return self._json(await self.request("POST", url, json=json, params=params, idempotent=idempotent,
                                             idempotency_key=idempotency_key))

    async def put_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None, *,
                       idempotent: bool | None = None) -> Any:
        """PUT a JSON body and decode the answer."""
        return self._json(await self.request("PUT", url, json=json, params=params, idempotent=idempotent))

    async def patch_json(self, url: str, json: Any = None, params: Mapping[str, Any] | None = None, *,
                         idempotent: bool | None = None, idempotency_key: str | None = None) -> Any:
        """PATCH a JSON body and decode the answer (repeated only if marked, as :meth:`post_json`)."""
        return self._json(await self.request("PATCH", url, json=json, params=params, idempotent=idempotent,
                                             idempotency_key=idempotency_key))

    async def delete(self, url: str, params: Mapping[str, Any] | None = None, *,
                     idempotent: bool | None = None) -> Any:
        """DELETE and decode the answer (None for an empty body). ``idempotent=False`` for a vendor whose
        DELETE removes one more thing each time."""
        return self._json(await self.request("DELETE", url, params=params, idempotent=idempotent))


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
    def is_closed(self) -> bool:
        return self.api.is_closed

    @property
    def stats(self) -> ClientStats:
        return self.api.stats
