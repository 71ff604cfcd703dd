"""What keeps hostile or broken clients from exhausting the gateway (docs/webhooks.md, "Floods").

- `ByteBudget`: request bodies held at once, all calls together. A call reserves its declared
  `Content-Length` before reading (a chunked body, chunk by chunk) and gives it back when answered; past the
  budget it is answered 503 with `Retry-After` and nothing of it is read.
- `MemoryTrimmer`: hands the heap pages a flood's short-lived buffers leave free back to the OS, so the
  gateway's memory returns to its baseline after a flood (glibc keeps them otherwise).
- `guarded_protocol(...)`: uvicorn's h11 protocol with a cap on open connections (past it, a connection is
  answered 503 with `Retry-After` as soon as its request line arrives, and closed) and an idle limit (a
  connection that has not sent a complete request head within `idle_timeout` of opening, or of its
  previous answer, is closed: slow-header clients cannot hold connections open, and the rest of a body
  answered before it was read — 401, 404, 413 — is discarded as it arrives for that long at most).

The body's own time limit is the receiver's (`read_body`); the caller is checked before any body is read
(`Receiver.receive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
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


class MemoryTrimmer:
    """`malloc_trim(0)` every `interval` seconds, off the event loop (glibc only; elsewhere it does nothing).

    A flood allocates many short-lived buffers (a socket read takes up to 256 KB, then shrinks; parsers and
    bodies), and glibc keeps the freed pages in its heap: without a trim, hundreds of MB stay resident after
    the flood. A trim of a quiet heap costs well under a millisecond."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval, self.trims = interval, 0
        self._task: asyncio.Task | None = None
        name = ctypes.util.find_library("c")
        try:
            self._trim = ctypes.CDLL(name).malloc_trim if name else None
        except (OSError, AttributeError):
            self._trim = None

    def trim(self) -> None:
        if self._trim is not None:
            self._trim(0)
            self.trims += 1

    def start(self) -> None:
        if self._trim is not None:
            self._task = asyncio.create_task(self._run(), name="malloc-trim")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.trim)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


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

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.cycle is None or self.cycle.response_complete:  # (not a pipelined request under way)
                self._disarm()
                self._arm()  # the next request head, within the idle limit; a body still arriving is discarded

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
