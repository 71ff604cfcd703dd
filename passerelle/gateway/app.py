"""The webhook gateway ASGI app: one receiver per source plug-in, the durable inbox behind them.

    POST /hooks/{source}/{link}   200 {"accepted": n, "duplicates": m}, only once committed to the inbox
                                  404 unknown link · 401 bad token (both before any body is read)
                                  413 body too large · 408 body too slow · 400 not JSON
                                  422 not the vendor's envelope (`field` names it)
                                  503 + Retry-After: store unavailable or locked, or the gateway full
    GET  /healthz                 200 {"status": "ok", "sources": [...]}

Nothing is stored for a call that is not answered 200. See docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from passerelle.gateway.limits import ByteBudget, Hold, MemoryTrimmer, Refusals
from passerelle.gateway.linkcache import LinkCache
from passerelle.gateway.nudge import Emitter, Nudger, PrefectEmitter
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import KnownLink, Source, SourceError, Unauthorized, default_sources
from passerelle.gateway.sqlite import WalCheckpointer, prepare_store
from passerelle.gateway.writer import GroupCommitWriter, StoreUnavailable, store_unique
from passerelle.settings import get_settings

log = logging.getLogger("passerelle.gateway")
JSON = "application/json"


class BodyTooLarge(SourceError):
    status = 413


class BodyTimeout(SourceError):
    status = 408


class GatewayBusy(SourceError):
    """The bodies held at once would exceed PASSERELLE_GATEWAY_MAX_BUFFERED_BYTES: 503, retry later."""

    status = 503


_CLOSE = {"connection": "close"}  # a body too slow to wait for: the connection is not reused


def _answer(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON, headers=headers)


async def read_body(request: Request, limit: int, hold: Hold, timeout: float) -> bytes:
    """The body, refused (413) as soon as it exceeds `limit` bytes (a larger body is never read whole), 408
    unless it all arrives within `timeout` seconds, 503 (`GatewayBusy`) when `hold` cannot take its size
    (the declared Content-Length up front, else chunk by chunk) from the gateway's byte budget."""
    declared = request.headers.get("content-length")
    upfront = declared is not None and declared.isdigit()
    if upfront:
        if int(declared) > limit:
            raise BodyTooLarge(f"the body is {declared} bytes; the limit is {limit}")
        if not hold.take(int(declared)):
            raise GatewayBusy("the gateway holds too many request bodies at once; retry later")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            while True:  # request.receive directly: Request.stream()'s generator costs more than the loop
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body exceeds the limit of {limit} bytes")
                if not upfront and not hold.take(len(chunk)):
                    raise GatewayBusy("the gateway holds too many request bodies at once; retry later")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout:g} s (received {size} bytes); send it "
                          f"at once") from None


def _responses(source: Source) -> dict[int | str, dict[str, Any]]:
    def error(description: str, example: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {JSON: {"example": example}}}

    return {
        200: {"description": "Stored durably (or already stored): `accepted` new deliveries, `duplicates` "
                             "re-deliveries", "content": {JSON: {"example": {"accepted": 1, "duplicates": 0}}}},
        400: error("The body is not JSON", {"detail": "the body is not JSON: unexpected character"}),
        401: error("Missing or wrong link token (checked before the body is read)",
                   {"detail": "missing or wrong link token"}),
        404: error("Unknown link", {"detail": f"unknown link 'x' for source '{source.name}'"}),
        408: error("The body did not arrive within PASSERELLE_GATEWAY_BODY_TIMEOUT_SECONDS",
                   {"detail": "the body did not arrive within 10 s ..."}),
        413: error("Body larger than PASSERELLE_GATEWAY_MAX_BODY_BYTES", {"detail": "the body exceeds ..."}),
        422: error("Not the vendor's envelope; `field` names the missing or invalid field",
                   {"detail": "envelope field 'Context' is missing", "field": "Context"}),
        503: error("Nothing was stored: the inbox is unavailable or locked, or the gateway is full; retry after "
                   "the `Retry-After` header's seconds", {"detail": "the inbox is unavailable, retry later"}),
    }


def create_app(url: str | None = None, sources: list[Source] | None = None,
               settings: GatewaySettings | None = None, emitter: Emitter | None = None,
               freeze_gc: bool = False) -> GatewayApp:
    """The gateway app.

    Args:
        url: store URL (default: PASSERELLE_DATABASE_URL, else the SQLite file under PASSERELLE_HOME).
        sources: source plug-ins to serve (default: `default_sources()`).
        settings: limits and tuning (default: from PASSERELLE_GATEWAY_* variables).
        emitter: `async emitter(source, link, accepted)` sending a nudge (default: `PrefectEmitter()`).
        freeze_gc: when the gateway owns its process, move everything loaded at start-up out of the
            garbage collector's reach (`gc.freeze()`), which keeps full collections short under load.
    """
    settings = settings or GatewaySettings()
    sources = sources if sources is not None else default_sources()
    store_url = url or get_settings().store_url
    links = LinkCache(store_url, ttl=settings.link_cache_seconds)
    writer = GroupCommitWriter(partial(store_unique, url=store_url), linger=settings.commit_linger_ms / 1000,
                               max_deliveries=settings.commit_max_deliveries)
    budget, refusals, trimmer = ByteBudget(settings.max_buffered_bytes), Refusals(), MemoryTrimmer()
    nudger = Nudger(emitter if emitter is not None else PrefectEmitter(), settings.nudge_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        checkpointer = WalCheckpointer(prepare_store(store_url, settings.sqlite_synchronous,
                                                     settings.store_lock_timeout_seconds), lambda: writer.commits)
        await links.refresh()
        await nudger.prepare()
        await writer.start()
        checkpointer.start()
        trimmer.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        log.info("gateway ready: receivers %s", ", ".join(f"/hooks/{s.name}/{{link}}" for s in sources))
        try:
            yield
        finally:
            await trimmer.stop()
            await writer.stop()
            await checkpointer.stop()
            await nudger.stop()

    app = GatewayApp(title="Passerelle webhook gateway", version="1", lifespan=lifespan,
                     description="Receives vendor webhooks, stores each delivery durably in the inbox before "
                                 "answering 200, and nudges Prefect (docs/webhooks.md).")
    app.state.settings, app.state.links, app.state.writer, app.state.nudger = settings, links, writer, nudger
    app.state.budget = budget

    app.receivers = receivers = {s.name: Receiver(s, settings, links, writer, nudger, budget, refusals)
                                 for s in sources}
    for source in sources:
        app.add_api_route(
            f"/hooks/{source.name}/{{link}}", receivers[source.name].receive,
            methods=["POST"], name=f"receive_{source.name}", summary=source.summary,
            description=source.description, tags=["receivers"], responses=_responses(source),
            response_class=Response,
            openapi_extra={
                "parameters": [{"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                                "description": "the link token (or header X-Passerelle-Token)"}],
                "requestBody": {"required": True, "content": {JSON: {"example": source.example}}},
            })

    @app.get("/healthz", tags=["gateway"], summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "sources": [s.name for s in sources]}

    return app


class Receiver:
    """One source's receiver: `POST /hooks/{source}/{link}` (see the module docstring).

    Order: the link (404) and the caller (401) are checked on the request head, so a caller that fails
    never has its body read; then the body, within the size limit (413), the time limit (408) and the
    gateway's byte budget (503); a `signed` source's signature (401); the envelope (400, 422); the commit.
    """

    def __init__(self, source: Source, settings: GatewaySettings, links: LinkCache, writer: GroupCommitWriter,
                 nudger: Nudger, budget: ByteBudget | None = None, refusals: Refusals | None = None) -> None:
        self.source, self.settings, self.links, self.writer, self.nudger = source, settings, links, writer, nudger
        self.budget = budget if budget is not None else ByteBudget(settings.max_buffered_bytes)
        self.refusals = refusals if refusals is not None else Refusals()
        self.body_limit = (min(settings.max_body_bytes, settings.pre_auth_max_body_bytes) if source.signed
                           else settings.max_body_bytes)
        self.busy = {"retry-after": str(settings.retry_after_seconds)}

    async def _checked(self, check, request: Request, known: KnownLink, *args: Any) -> None:
        try:
            check(request, known, *args)
        except Unauthorized:
            fresh = await self.links.recheck(known)  # the token may have been rotated a moment ago
            if fresh is None:
                raise
            check(request, fresh, *args)

    async def receive(self, request: Request, link: str) -> Response:
        source = self.source
        known = await self.links.get(source.name, link)
        if known is None:
            detail = f"unknown link {link[:64]!r} for source {source.name!r}"
            self.refusals(404, source.name, detail)
            return _answer(404, {"detail": detail})  # the body that follows is discarded, never kept
        hold = self.budget.hold()
        try:
            try:
                await self._checked(source.authenticate, request, known)
                body = await read_body(request, self.body_limit, hold, self.settings.body_timeout_seconds)
                await self._checked(source.verify, request, known, body)  # a no-op unless the source has one
                deliveries = source.parse(body, link)
            except SourceError as exc:
                if exc.status in (400, 422):  # a caller that passed the checks: each is worth a line
                    log.info("%s/%s: %d %s", source.name, link[:64], exc.status, exc.detail)
                else:
                    self.refusals(exc.status, f"{source.name}/{link[:64]}", exc.detail)
                # Answered before the body was read (404, 401, 413, 503): uvicorn discards what follows
                # as it arrives, until the idle limit closes the connection (a lingering close: the caller
                # reads its answer instead of a reset, and a slow one costs no reconnection).
                headers = self.busy if exc.status == 503 else _CLOSE if exc.status == 408 else None
                return _answer(exc.status, exc.body(), headers)
            except ClientDisconnect:
                return _answer(400, {"detail": "the client went away before sending the whole body"})
            try:
                flags = await self.writer.submit(deliveries)
            except StoreUnavailable:
                return _answer(503, {"detail": "the inbox is unavailable, retry later"}, self.busy)
        finally:
            hold.release()
        accepted = sum(flags)
        if accepted:
            self.nudger.notify(source.name, link, accepted)
        return _answer(200, {"accepted": accepted, "duplicates": len(flags) - accepted})


class GatewayApp(FastAPI):
    """The FastAPI app, with receiver calls served before FastAPI's and Starlette's machinery (routing,
    parameter parsing, telemetry checks, middleware: about a third of a call's CPU under load). The
    FastAPI routes stay, for the OpenAPI document and any call the fast path does not catch; both run
    `Receiver.receive`."""

    receivers: dict[str, Receiver]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/hooks/"):
            parts = scope["path"].split("/")
            receiver = self.receivers.get(parts[2]) if len(parts) == 4 and parts[3] else None
            if receiver is not None:
                try:
                    response = await receiver.receive(Request(scope, receive), parts[3])
                except Exception:
                    log.exception("%s/%s: unexpected error", parts[2], parts[3])
                    response = _answer(500, {"detail": "internal error"})
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
