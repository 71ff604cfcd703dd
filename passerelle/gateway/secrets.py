"""Signing secrets of signed sources: one Prefect `Secret` block per link, cached in the gateway's memory.

The store never holds a signing secret: `passerelle hooks secret SOURCE --link L --secret-env VAR` (or
`hooks add … --secret-env VAR`) saves it as the Secret block `secret_block_name(source, link)`
(`hook-<source>-<link>`), and the gateway reads it through Prefect's API the first time a call of that link
arrives, then keeps it for `ttl` seconds (PASSERELLE_GATEWAY_SECRET_CACHE_SECONDS).

- One read for all the calls waiting on the same link; calls of other links do not wait on it.
- A signature that does not match re-reads the secret (at most once a second), so a rotated secret works
  at once.
- A link whose block does not exist (yet) is asked about again at most once a second.
- When Prefect cannot be reached (or takes longer than `timeout`): a cached secret, even past its `ttl`, is
  used; without one the call is answered 503 with Retry-After (`SecretUnavailable`: the vendor retries) and
  one warning is logged (then at most one a minute). A link without a secret block gets 503 the same way,
  with a warning naming the block and the command that creates it. A call is never accepted unverified.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr

from passerelle.gateway.nudge import RateLimitedLog
from passerelle.gateway.sources.base import SourceError

log = logging.getLogger("passerelle.gateway")

SECRET_BLOCK_PREFIX = "hook"
_BLOCK_SAFE = re.compile(r"^[a-z0-9-]+$")

Fetch = Callable[[str], Awaitable[str | None]]
"""`await fetch(block_name)`: the Secret block's text, None when there is no such block; raises when Prefect
cannot be reached."""


def secret_block_name(source: str, link: str) -> str:
    """The Secret block holding a link's signing secret: `hook-<source>-<link>`. Prefect block names are
    lowercase letters, digits and dashes; a link name with other characters (`Club_2`) is lower-cased with
    those replaced by dashes and gets the first 8 hex digits of its SHA-256, so two links never share a block."""
    name = f"{SECRET_BLOCK_PREFIX}-{source}-{link}"
    if _BLOCK_SAFE.match(name):
        return name
    safe = re.sub(r"[^a-z0-9-]", "-", name.lower())
    return f"{safe}-{hashlib.sha256(link.encode()).hexdigest()[:8]}"


class SecretUnavailable(SourceError):
    """The link's signing secret cannot be read now: 503 with Retry-After, nothing read or stored."""

    status = 503


class NoPrefectApi(RuntimeError):
    """No Prefect API is configured (PREFECT_API_URL), so no Secret block can be read."""


@dataclass
class _Entry:
    value: SecretStr | None  # None: no such block
    loaded_at: float


class SigningSecrets:
    """The per-link signing secrets, read through `fetch` (default: `PrefectSecretStore()`); see the module
    docstring."""

    def __init__(self, fetch: Fetch | None = None, ttl: float = 300.0, timeout: float = 10.0,
                 min_refresh: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch = fetch if fetch is not None else PrefectSecretStore()
        self.ttl, self.timeout, self.min_refresh, self.clock = ttl, timeout, min_refresh, clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed_at: dict[str, float] = {}
        self._logs: dict[tuple[str, str], RateLimitedLog] = {}  # one warning a minute per link and trouble
        self.reads = 0  # fetches attempted, for the curious (tests)

    async def get(self, source: str, link: str) -> bytes:
        """The link's secret (from memory while younger than `ttl`); `SecretUnavailable` when there is none
        to be had."""
        name = secret_block_name(source, link)
        entry = self._entries.get(name)
        max_age = self.ttl if entry is None or entry.value is not None else self.min_refresh  # missing: re-ask soon
        if entry is None or self.clock() - entry.loaded_at > max_age:
            entry = await self._load(name, max_age=max_age)
        return self._value(entry, name, source, link)

    async def recheck(self, source: str, link: str) -> bytes | None:
        """After a signature that did not match: the secret re-read when the copy is over `min_refresh`
        seconds old and it changed, else None."""
        name = secret_block_name(source, link)
        before = self._entries.get(name)
        if before is not None and self.clock() - before.loaded_at <= self.min_refresh:
            return None
        try:
            entry = await self._load(name, max_age=self.min_refresh)
        except SecretUnavailable:
            return None
        if entry.value is None or (before is not None and before.value == entry.value):
            return None
        return entry.value.get_secret_value().encode()

    def _value(self, entry: _Entry, name: str, source: str, link: str) -> bytes:
        if entry.value is None:
            self._warn("missing", name, "%s/%s: no signing secret (Prefect Secret block %r): calls get 503 "
                       "until `passerelle hooks secret %s --link %s --secret-env VAR` sets it",
                       source, link, name, source, link)
            raise SecretUnavailable("this link's signing secret is not set yet; retry later")
        return entry.value.get_secret_value().encode()

    async def _load(self, name: str, max_age: float) -> _Entry:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            entry = self._entries.get(name)
            if entry is not None and self.clock() - entry.loaded_at <= max_age:
                return entry  # another call read it while this one waited
            failed = self._failed_at.get(name)
            if failed is not None and self.clock() - failed < self.min_refresh:
                return self._fallback(entry, name, None)  # it failed a moment ago: no new try per call
            self.reads += 1
            try:
                async with asyncio.timeout(self.timeout):
                    value = await self.fetch(name)
            except Exception as exc:  # unreachable, timed out, refused: never a 500, never unverified
                self._failed_at[name] = self.clock()
                return self._fallback(entry, name, exc)
            self._failed_at.pop(name, None)
            entry = self._entries[name] = _Entry(SecretStr(value) if value else None, self.clock())
            return entry

    def _warn(self, trouble: str, name: str, message: str, *args: object) -> None:
        self._logs.setdefault((trouble, name), RateLimitedLog()).warning(message, *args)

    def _fallback(self, entry: _Entry | None, name: str, exc: Exception | None) -> _Entry:
        text = str(exc).splitlines()[0][:200] if exc is not None and str(exc) else ""
        reason = "" if exc is None else f": {type(exc).__name__}{': ' + text if text else ''}"
        if entry is not None:
            if exc is not None:
                self._warn("stale", name, "could not re-read the signing secret %r from Prefect, keeping the "
                           "copy in memory%s", name, reason)
            return entry
        if exc is not None:
            self._warn("cold", name, "could not read the signing secret %r from Prefect: its calls get 503 "
                       "until Prefect answers%s", name, reason)
        raise SecretUnavailable("the link's signing secret cannot be read right now; retry later")


class PrefectSecretStore:
    """Reads Secret blocks through Prefect's API: `api_url`, else the one this process is configured for
    (PREFECT_API_URL; the CLI points it at the stack `passerelle up` started). No API configured: raises
    `NoPrefectApi` (the gateway never starts an ephemeral Prefect server for this)."""

    def __init__(self, api_url: str | None = None) -> None:
        self.api_url = api_url

    async def __call__(self, name: str) -> str | None:
        from prefect.client.orchestration import PrefectClient, get_client
        from prefect.exceptions import ObjectNotFound
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

        if self.api_url:
            client = PrefectClient(self.api_url, api_key=PREFECT_API_KEY.value(),
                                   auth_string=PREFECT_API_AUTH_STRING.value())
        elif PREFECT_API_URL.value():
            client = get_client()
        else:
            raise NoPrefectApi("no Prefect API URL (PREFECT_API_URL): signing secrets cannot be read")
        async with client:
            try:
                document = await client.read_block_document_by_name(name, block_type_slug="secret",
                                                                     include_secrets=True)
            except ObjectNotFound:
                return None
        value = document.data.get("value")
        if not isinstance(value, str):
            raise TypeError(f"the Secret block {name!r} must hold text (a JSON value was saved)")
        return value


async def prepare_prefect() -> None:
    """Import Prefect's client off the event loop (~1 s), before the first signed call needs it."""
    def load() -> None:
        import prefect.client.orchestration  # noqa: F401

    await asyncio.to_thread(load)
