"""`http.request`: the generic HTTP action (Zapier's "Webhooks by Zapier", n8n's HTTP Request node), behind the
SSRF guard (passerelle/zaps/ssrf.py, docs/zaps.md "HTTP action and its guard").

Each hop's host is resolved once and checked; the connection goes to that checked address (the URL's host is
replaced by the address, the `Host` header and the TLS SNI / certificate check keep the name), so a DNS answer
that changes between check and connect cannot reach loopback. Redirects are followed here, hop by hop, each one
checked again, up to `max_redirects`; proxies from the environment are ignored (a proxy would resolve the name
itself).

Failures use the connector kit's errors (connectors/_http/errors.py): nothing sent (refused target, unknown
host, connect error) → `BlockedTarget` / `UnresolvedHost` / `TransportError`; sent but no answer, or a 5xx, for
a call that is not idempotent → `OutcomeUnknown` (never re-sent: a POST may have created something); an
unexpected status → `ApiError` and its subclasses. Retries belong to the runner.

Example:
    out = await http_request("https://api.example.org/contacts", "POST", body={"email": "lea@example.org"})
    out.status, out.body["id"]
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator, model_validator

from connectors._http.client import tls_context
from connectors._http.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    OutcomeUnknown,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from connectors._http.pool import LoopPool
from passerelle.zaps import ssrf
from passerelle.zaps.registry import action

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MAX_RESPONSE_BYTES = 1_048_576
_REDIRECTS = {301, 302, 303, 307, 308}
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


class HttpRequestInput(BaseModel):
    """The inputs of `http.request`, after templates are rendered."""

    model_config = {"extra": "forbid", "hide_input_in_errors": True}  # headers and URLs may hold secrets

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str = Field(description="http:// or https:// URL; private, loopback and metadata targets are refused")
    query: dict[str, str | int | float | bool | list[str | int | float]] = Field(
        default_factory=dict, description="query string parameters, added to the URL's own")
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(None, description="the request body: any JSON value (json), a mapping (form) or a text (raw)")
    body_format: Literal["json", "form", "raw"] = "json"
    timeout: float = Field(30.0, gt=0, le=300, description="seconds, per hop")
    expected_statuses: list[int] = Field(default_factory=lambda: list(range(200, 300)),
                                         description="statuses that are a success; default 200-299")
    idempotency_key_header: str | None = Field(
        None, description="name of a header of `headers` that carries an idempotency key: makes a POST or PATCH "
        "safe to re-send")
    follow_redirects: bool = True
    max_redirects: int = Field(5, ge=0, le=10)
    max_response_bytes: int = Field(MAX_RESPONSE_BYTES, gt=0, le=10 * MAX_RESPONSE_BYTES)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            url = httpx.URL(value.strip())
        except (httpx.InvalidURL, TypeError) as exc:
            problem = _legacy_ip_problem(value) or f"not a URL ({exc}); write e.g. https://api.example.org/path"
            raise ValueError(problem) from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("give a full http:// or https:// URL with a host, e.g. https://api.example.org/path")
        if url.userinfo:
            raise ValueError("credentials in the URL would be logged with it; send them in headers "
                             "(Authorization) instead")
        return str(url)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in _HOP_HEADERS:
                raise ValueError(f"{name}: set by Passerelle from the URL and body; remove it from headers")
        return value

    @field_validator("expected_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if not 100 <= s <= 599]
        if bad or not value:
            raise ValueError(f"{bad or 'an empty list'}: give HTTP statuses between 100 and 599, e.g. [200, 201]")
        return value

    @model_validator(mode="after")
    def _body(self) -> HttpRequestInput:
        if self.body is not None and self.method in ("GET", "HEAD"):
            raise ValueError(f"body: a {self.method} request carries no body; use query, or method POST")
        if self.body_format == "form" and self.body is not None and not isinstance(self.body, dict):
            raise ValueError("body: body_format form needs a mapping of field → value")
        if self.body_format == "raw" and self.body is not None and not isinstance(self.body, str):
            raise ValueError("body: body_format raw needs a text; use body_format json for a JSON value")
        key = self.idempotency_key_header
        if key and not any(n.lower() == key.lower() and v.strip() for n, v in self.headers.items()):
            raise ValueError(f"idempotency_key_header: header {key!r} is not in headers; add it with a key unique "
                             "per event (e.g. the zap run id) or remove idempotency_key_header")
        return self


def _legacy_ip_problem(value: str) -> str | None:
    """For a URL httpx refuses because its host is an IPv4 address in a legacy spelling (`0177.0.0.1`)."""
    try:
        host = urlsplit(value.strip()).hostname or ""
        ip = ssrf.literal_address(host)
    except (ValueError, ssrf.BlockedTarget):
        return None
    if ip is None:
        return None
    reason = ssrf.refusal(ip)
    return f"{host} is an old spelling of {ip}" + (f", which is {reason}" if reason else "") + \
        f"; write the address as {ip}"


class HttpResponseOutput(BaseModel):
    status: int
    headers: dict[str, str] = Field(description="response headers, names in lower case")
    body: Any = Field(None, description="parsed JSON when the response is JSON, else the text (None for HEAD)")
    url: str = Field(description="the final URL, after redirects")
    size: int = Field(description="bytes of body read")
    truncated: bool = Field(False, description="the body was longer than max_response_bytes and was cut")


def is_idempotent(inputs: HttpRequestInput) -> bool:
    """GET/HEAD/PUT/DELETE/OPTIONS are; POST and PATCH only with an idempotency key header."""
    return inputs.method in IDEMPOTENT_METHODS or bool(inputs.idempotency_key_header)


@action("http", "request", title="HTTP request", idempotent=False, idempotent_when=is_idempotent)
async def request(inputs: HttpRequestInput, connection: Any = None) -> HttpResponseOutput:
    """Send one HTTP request (JSON, form or raw body) to a public URL and return its status, headers and body.

    Idempotent for GET, HEAD, PUT, DELETE, OPTIONS; POST and PATCH only with an idempotency key header.
    """
    url = httpx.URL(inputs.url).copy_merge_params(_query(inputs.query)) if inputs.query else httpx.URL(inputs.url)
    method, body, headers = inputs.method, inputs.body, dict(inputs.headers)
    idempotent = is_idempotent(inputs)
    for hop in range(inputs.max_redirects + 1):
        field = "url" if hop == 0 else f"url (redirect {hop})"
        addresses = await ssrf.check_target(url.host, url.port or (443 if url.scheme == "https" else 80),
                                            field=field)
        response, content, truncated = await _send(inputs, url, addresses[0], method, headers, body,
                                                   idempotent or method in IDEMPOTENT_METHODS)
        location = response.headers.get("location")
        if not (inputs.follow_redirects and response.status_code in _REDIRECTS and location):
            return _output(inputs, url, response, content, truncated)
        target = url.join(location)
        if target.scheme not in ("http", "https"):
            raise ApiError(vendor=url.host, status=response.status_code, method=method, path=url.path,
                           message=f"redirect to a {target.scheme}: URL, which is not followed")
        if response.status_code in (301, 302, 303) and method != "HEAD":
            method, body = "GET", None
        if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
            headers = {n: v for n, v in headers.items() if n.lower() not in _CREDENTIAL_HEADERS}
        url = target
    raise ApiError(vendor=url.host, method=method, path=url.path,
                   message=f"more than {inputs.max_redirects} redirects",
                   hint="Point the url at the final address, or raise max_redirects (at most 10).")


def _query(query: dict[str, Any]) -> dict[str, Any]:
    def text(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    return {k: [text(i) for i in v] if isinstance(v, list) else text(v) for k, v in query.items()}


async def _send(inputs: HttpRequestInput, url: httpx.URL, address: Any, method: str, headers: dict[str, str],
                body: Any, idempotent: bool) -> tuple[httpx.Response, bytes, bool]:
    """One hop, to the checked `address`, the name kept in Host and SNI. Returns (response, body, truncated)."""
    pinned = url.copy_with(host=str(address))
    wire_headers = {"Host": url.netloc.decode("ascii"), "User-Agent": "Passerelle-zaps", **headers}
    kwargs: dict[str, Any] = {}
    if body is not None:
        if inputs.body_format == "json":
            kwargs["json"] = body
        elif inputs.body_format == "form":
            kwargs["data"] = {k: v if isinstance(v, list) else str(v) for k, v in body.items()}
        else:
            kwargs["content"] = body.encode("utf-8")
            if not any(n.lower() == "content-type" for n in headers):
                wire_headers["Content-Type"] = "text/plain; charset=utf-8"
    extensions = {"sni_hostname": url.host} if url.scheme == "https" and ssrf.literal_address(url.host) is None \
        else {}
    where = {"vendor": url.host, "method": method, "path": url.path}
    client = _pooled_client(url, address)
    req = client.build_request(method, pinned, headers=wire_headers, extensions=extensions,
                               timeout=inputs.timeout, **kwargs)
    try:
        response = await client.send(req, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise TransportError(message=f"no connection ({type(exc).__name__})", **where) from None
    except httpx.TransportError as exc:  # sent, or partly sent, and no answer
        text = f"no answer arrived ({type(exc).__name__})"
        raise (TransportError if idempotent else OutcomeUnknown)(message=text, **where) from None
    try:
        content, truncated = await _read_capped(response, inputs.max_response_bytes)
    except httpx.TransportError as exc:
        raise (TransportError if idempotent else OutcomeUnknown)(
            message=f"the answer broke off ({type(exc).__name__})", status=response.status_code, **where) \
            from None
    finally:
        await response.aclose()
    if response.status_code not in inputs.expected_statuses and response.status_code not in _REDIRECTS:
        _raise_for_status(response, content, idempotent, where)
    return response, content, truncated


_POOL = LoopPool[httpx.AsyncClient](64)  # one kept client per (scheme, checked address, port, host name)


def _pooled_client(url: httpx.URL, address: Any) -> httpx.AsyncClient:
    """A keep-alive client for one checked target (connectors/_http/pool.py). The key holds the address the guard
    checked and the host name (Host, SNI): a kept connection only ever goes where the guard said it may, with the
    name it was opened for."""
    return _POOL.get((url.scheme, str(address), url.port, url.host), lambda: httpx.AsyncClient(
        trust_env=False, follow_redirects=False, verify=tls_context(),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30)))


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def _raise_for_status(response: httpx.Response, content: bytes, idempotent: bool, where: dict[str, Any]) -> None:
    status = response.status_code
    excerpt = content[:300].decode("utf-8", "replace").strip() or None
    kwargs = {**where, "status": status, "message": excerpt}
    if status in (401, 403):
        raise AuthError(credential="headers", **kwargs)
    if status == 404:
        raise NotFoundError(**kwargs)
    if status in (400, 422):
        raise ValidationError(**kwargs)
    if status == 429 or (status == 503 and "retry-after" in response.headers):
        raise RateLimitedError(**kwargs)
    if status >= 500:
        raise (ServerError if idempotent else OutcomeUnknown)(**kwargs)
    raise ApiError(**kwargs, hint="Add the status to expected_statuses if it is a success for this call.")


def _output(inputs: HttpRequestInput, url: httpx.URL, response: httpx.Response, content: bytes,
            truncated: bool) -> HttpResponseOutput:
    if response.status_code not in inputs.expected_statuses:  # a redirect not followed and not expected
        _raise_for_status(response, content, True, {"vendor": url.host, "method": inputs.method, "path": url.path})
    body: Any = None
    if inputs.method != "HEAD":
        text = content.decode(response.encoding or "utf-8", "replace")
        body = text
        if not truncated and "json" in response.headers.get("content-type", "").lower() and text.strip():
            with contextlib.suppress(ValueError):
                body = json.loads(text)
    headers = {name.lower(): ", ".join(response.headers.get_list(name)) for name in response.headers}
    return HttpResponseOutput(status=response.status_code, headers=headers, body=body, url=str(url),
                              size=len(content), truncated=truncated)


@task(name="http-request", cache_policy=NO_CACHE)
async def http_request(url: str, method: str = "GET", **options: Any) -> HttpResponseOutput:
    """Prefect task: send one HTTP request behind the SSRF guard (see :class:`HttpRequestInput` for `options`:
    query, headers, body, body_format, timeout, expected_statuses, idempotency_key_header, follow_redirects,
    max_redirects, max_response_bytes)."""
    return await request(HttpRequestInput(url=url, method=method, **options))
