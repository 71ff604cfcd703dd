"""The Prefect nudge: a `passerelle.inbox.received` event after deliveries are committed, debounced.

At most one event per (source, link) per `interval` seconds: the first commit after a quiet period is
nudged at once, later ones are folded into one trailing event at the end of the interval (so the tail of
a burst is never left without a nudge). Events are sent by background tasks, never on a request's path,
and a failure (Prefect down, no API configured) only logs a warning, at most once a minute.

The event (a deployment trigger in prefect.yaml listens to it):

    event:    passerelle.inbox.received
    resource: {"prefect.resource.id": "passerelle.inbox.<source>.<link>",
               "passerelle.source": "<source>", "passerelle.link": "<link>"}
    payload:  {"accepted": <new deliveries since the previous nudge>}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("passerelle.gateway")

EVENT = "passerelle.inbox.received"
Emitter = Callable[[str, str, int], Awaitable[None]]


def nudge_resource(source: str, link: str) -> dict[str, str]:
    return {"prefect.resource.id": f"passerelle.inbox.{source}.{link}", "passerelle.source": source,
            "passerelle.link": link}


class RateLimitedLog:
    """A warning at most once per `every` seconds, with the count of those held back."""

    def __init__(self, every: float = 60.0) -> None:
        self.every, self._last, self._held = every, float("-inf"), 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        log.warning(message + (f" ({held} similar warnings held back)" if held else ""), *args)


class PrefectEmitter:
    """Sends nudges over one Prefect events client (websocket), kept open and reopened after a failure.

    Prefect is imported when the gateway starts (`prepare`, off the event loop). Without a Prefect API
    URL (`PREFECT_API_URL` or the active profile) nudging is off: the gateway does not start an ephemeral
    server nobody listens to. We use the events client rather than `prefect.events.emit_event`, which
    queues to a background worker whose failures the caller never sees.
    """

    def __init__(self, timeout: float = 10.0, client_factory: Callable[..., Any] | None = None) -> None:
        """`client_factory(**options)`: an events client (default: Prefect's `get_events_client`)."""
        self.timeout = timeout
        self._client: Any = None
        self._event_cls: Any = None
        self._get_client = client_factory
        self._given_client = client_factory is not None
        self.disabled = False

    async def __call__(self, source: str, link: str, accepted: int) -> None:
        if self.disabled:
            return
        if self._client is None:
            await self._open()
            if self._client is None:
                return
        event = self._event_cls(event=EVENT, resource=nudge_resource(source, link), payload={"accepted": accepted})
        try:
            await asyncio.wait_for(self._client.emit(event), self.timeout)
        except BaseException:
            await self.close()
            raise

    async def prepare(self) -> None:
        """Import Prefect (~1 s, off the event loop) and read its API URL; nudging is off without one."""
        if self._event_cls is not None or self.disabled:
            return

        def load() -> tuple[Any, Any, Any]:
            from prefect.events import Event
            from prefect.events.clients import get_events_client
            from prefect.settings import PREFECT_API_URL

            return Event, get_events_client, PREFECT_API_URL.value()

        self._event_cls, get_events_client, api_url = await asyncio.to_thread(load)
        if self._given_client:
            return
        self._get_client = get_events_client
        if not api_url:
            self.disabled = True
            log.warning("no Prefect API URL (PREFECT_API_URL): inbox nudges are off; drain flows must be "
                        "scheduled or started by hand")

    async def _open(self) -> None:
        await self.prepare()
        if self.disabled:
            return
        client = self._get_client(reconnection_attempts=1)
        await asyncio.wait_for(client.__aenter__(), self.timeout)
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)


class Nudger:
    """Debounces nudges per (source, link); see the module docstring."""

    def __init__(self, emitter: Emitter, interval: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 warn_every: float = 60.0) -> None:
        self.emitter, self.interval, self.clock = emitter, interval, clock
        self._last: dict[tuple[str, str], float] = {}
        self._waiting: dict[tuple[str, str], int] = {}
        self._scheduled: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._warn = RateLimitedLog(warn_every)
        self._backoff: dict[tuple[str, str], float] = {}
        self._stopping = False
        self.sent = 0

    async def prepare(self) -> None:
        """Let the emitter load what it needs before the first call (the gateway does it at start-up)."""
        prepare = getattr(self.emitter, "prepare", None)
        if prepare is not None:
            try:
                await prepare()
            except Exception as exc:
                self._warn.warning("could not prepare Prefect nudges: %s: %s", type(exc).__name__, exc)

    def notify(self, source: str, link: str, accepted: int) -> None:
        """Record `accepted` new deliveries (call on the event loop, after their commit)."""
        key = (source, link)
        self._waiting[key] = self._waiting.get(key, 0) + accepted
        if key not in self._scheduled:
            self._schedule(key)

    def _schedule(self, key: tuple[str, str]) -> None:
        self._scheduled.add(key)
        delay = max(0.0, self._last.get(key, float("-inf")) + self.interval - self.clock())
        task = asyncio.get_running_loop().create_task(self._send(key, delay), name=f"nudge {key[0]}/{key[1]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, key: tuple[str, str], delay: float) -> None:
        accepted = 0
        try:
            if delay:
                await asyncio.sleep(delay)
            accepted = self._waiting.pop(key, 0)
            self._last[key] = self.clock()
            await self.emitter(key[0], key[1], accepted)
            self.sent += 1
            self._backoff.pop(key, None)
        except asyncio.CancelledError:
            self._waiting[key] = self._waiting.get(key, 0) + accepted  # stop() sends it
            raise
        except Exception as exc:
            self._warn.warning("could not nudge Prefect for %s/%s (will retry): %s: %s", key[0], key[1],
                               type(exc).__name__, str(exc)[:200])
            # keep the count for a retry, later and later while Prefect stays unreachable (≤ 60 s apart)
            self._waiting[key] = self._waiting.get(key, 0) + accepted
            previous = self._backoff.get(key)
            backoff = self._backoff[key] = min(60.0, previous * 2 if previous else max(self.interval, 1.0))
            self._last[key] = self.clock() + backoff - self.interval
        finally:
            self._scheduled.discard(key)
            if self._waiting.get(key) and not self._stopping:
                self._schedule(key)

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Cancel the waiting nudges, send one last nudge per link that has news (best effort), close."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for (source, link), accepted in list(self._waiting.items()):
            if accepted:
                try:
                    await asyncio.wait_for(self.emitter(source, link, accepted), flush_timeout)
                    self.sent += 1
                except Exception as exc:
                    self._warn.warning("could not nudge Prefect for %s/%s at shutdown: %s", source, link,
                                       type(exc).__name__)
        self._waiting.clear()
        close = getattr(self.emitter, "close", None)
        if close is not None:
            await close()
