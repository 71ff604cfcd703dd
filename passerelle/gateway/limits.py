"""What keeps hostile or broken clients from exhausting the gateway (docs/webhooks.md, "Floods").

- `ByteBudget`: request bodies held at once, all calls together. A call reserves its declared
  `Content-Length` before reading (a chunked body, chunk by chunk) and gives it back when answered; past the
  budget it is answered 503 with `Retry-After` and nothing of it is read.
- `guarded_protocol(...)`: uvicorn's h11 protocol with a cap on open connections (past it, a connection is
  answered 503 with `Retry-After` as soon as its request line arrives, and closed) and an idle limit (a
  connection that has not sent a complete request head within `idle_timeout` of opening, or of its
  previous answer, is closed: slow-header clients cannot hold connections open).

The body's own time limit is the receiver's (`read_body`); the caller is checked before any body is read
(`Receiver.receive`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("passerelle.gateway")


class ByteBudget:
    """Bytes of request bodies held by the gateway at once (event-loop only: no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.peak, self.refused = limit, 0, 0, 0

    def hold(self) -> Hold:
        return Hold(self)


class Hold:
    """One call's share of the budget, given back by `release()` (idempotent)."""

    __slots__ = ("budget", "size")

    def __init__(self, budget: ByteBudget) -> None:
        self.budget, self.size = budget, 0

    def take(self, n: int) -> bool:
        budget = self.budget
        if budget.used + n > budget.limit:
            budget.refused += 1
            return False
        budget.used += n
        self.size += n
        if budget.used > budget.peak:
            budget.peak = budget.used
        return True

    def release(self) -> None:
        self.budget.used -= self.size
        self.size = 0


class Refusals:
    """Logs the refusals anyone can cause at will (404, 401, 408, 413, 503: a flood would otherwise write a
    line per call): the first at once, then at most one line per `interval` seconds with the counts since."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval, self.counts, self.last = interval, Counter(), float("-inf")

    def __call__(self, status: int, where: str, detail: str) -> None:
        self.counts[status] += 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            since = ", ".join(f"{n} × {code}" for code, n in sorted(self.counts.items()))
            log.info("%s: %d %s (refused since the last such line: %s)", where, status, detail, since)
            self.counts.clear()
            self.last = now


def over_capacity_app(retry_after: int):
    """An ASGI app answering 503 with `Retry-After` and closing, without reading the body."""
    body = orjson.dumps({"detail": "the gateway has too many open connections; retry later"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(retry_after).encode()), (b"connection", b"close")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class _Warner:
    """At most one warning a minute."""

    def __init__(self) -> None:
        self.last = float("-inf")

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self.last >= 60:
            self.last = now
            log.warning(message, *args)


def guarded_protocol(max_connections: int, idle_timeout: float, retry_after: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a connection cap and an idle limit (see the module docstring)."""
    refuse = over_capacity_app(retry_after)
    warn = _Warner()

    class GuardedH11Protocol(H11Protocol):
        _idle: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self.app = refuse  # answered 503 at its request line, never given to the gateway
                warn("more than %d open connections: new ones are answered 503 "
                     "(PASSERELLE_GATEWAY_MAX_CONNECTIONS)", max_connections)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            super().data_received(data)
            if self.cycle is not cycle:  # a request head is complete: its body has the receiver's limit
                self._disarm()
            elif self._idle is None and (cycle is None or cycle.response_complete):
                self._arm()  # the first bytes of the next request of a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._idle = self.loop.call_later(idle_timeout, self._idle_expired)

        def _disarm(self) -> None:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None

        def _idle_expired(self) -> None:
            self._idle = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol
