"""The webhook gateway ASGI app: one receiver per source plug-in, the durable inbox behind them.

    POST /hooks/{source}/{link}   200 {"accepted": n, "duplicates": m}, only once committed to the inbox
    (GET too, for sources that     404 unknown link · 401 bad token (both before any body is read)
     list it; /{token}/ after      401 bad or missing signature, or a timestamp outside the window
     the link for sources with     413 body too large · 408 body too slow · 400 not JSON · 415 body type
     `token_in_path`; /{subpath}   422 not the vendor's envelope (`field` names it)
     after it for a source's
     `subpaths`, e.g.
     /hooks/iadvize/{link}/escalations)
                                  503 + Retry-After: store unavailable or locked, the gateway full, or a
                                      signing secret Prefect cannot give now
                                  a handshake (challenge) is answered as the source says, nothing stored
    GET  /healthz                 200 {"status": "ok", "sources": [...]}

Nothing is stored for a call that is not answered 200. See docs/webhooks.md; the receiver is in receiver.py.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from passerelle.gateway.limits import ByteBudget, MemoryTrimmer, Refusals
from passerelle.gateway.linkcache import LinkCache
from passerelle.gateway.nudge import Emitter, Nudger, PrefectEmitter
from passerelle.gateway.receiver import JSON, Receiver, answer
from passerelle.gateway.secrets import SigningSecrets, prepare_prefect
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources import Source, default_sources
from passerelle.gateway.sqlite import CommitLock, WalCheckpointer, prepare_store
from passerelle.gateway.writer import GroupCommitWriter, store_unique
from passerelle.settings import get_settings

log = logging.getLogger("passerelle.gateway")
_FAST_METHODS = frozenset({"POST", "GET"})


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
        503: error("Nothing was stored: the inbox is unavailable or locked, or the gateway is full, or the link's "
                   "signing secret cannot be read now; retry after the `Retry-After` header's seconds",
                   {"detail": "the inbox is unavailable, retry later"}),
        **({415: error("A body type the source does not take", {"detail": "a text/plain body is not accepted "
                                                                          "here; send ..."})}
           if source.media_types != ("application/json",) else {}),
        **({401: error("Missing or wrong link token (checked before the body is read), or a signature that "
                       "does not match the call (or a timestamp outside the window)",
                       {"detail": "X-Signature does not match the call: wrong signing secret, or ..."})}
           if source.signed else {}),
    }


def _openapi_extra(source: Source, method: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": [
        {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "the link token (or header X-Passerelle-Token" +
                        (", or the path segment after the link)" if source.token_in_path else ")")}]}
    if method != "GET":
        extra["requestBody"] = {"required": "GET" not in source.methods, "content": {  # else query-only calls
            media: ({"example": source.example} if media == JSON else {}) for media in source.media_types}}
    return extra


def sub_sources(source: Source) -> dict[str, Source]:
    """A source's `subpaths` (optional): `{subpath: source}` served at `/hooks/{name}/{link}/{subpath}` with the
    links, URL tokens and signing secrets of `name` (iAdvize's escalations). A subpath source has the same name."""
    subs = dict(getattr(source, "subpaths", None) or {})
    for subpath, sub in subs.items():
        if sub.name != source.name or not subpath or "/" in subpath or source.token_in_path:
            raise ValueError(f"source {source.name!r}: subpath {subpath!r} must be one path segment served by a "
                             f"source of the same name, on a source without token_in_path")
    return subs


def _serve(app: FastAPI, source: Source, receiver: Receiver, path: str, route_name: str) -> str:
    """The documented FastAPI routes of one receiver (calls normally take the fast path, `GatewayApp`); what
    it serves, for the log."""
    for method in source.methods:
        common = {"methods": [method], "summary": source.summary, "description": source.description,
                  "tags": ["receivers"], "responses": _responses(source), "response_class": Response,
                  "openapi_extra": _openapi_extra(source, method)}
        app.add_api_route(path, receiver.endpoint, name=f"receive_{route_name}_{method.lower()}", **common)
        if source.token_in_path:
            app.add_api_route(f"{path}/{{token}}", receiver.endpoint_with_token,
                              name=f"receive_{route_name}_{method.lower()}_path_token", **common)
    return f"{'|'.join(source.methods)} {path}"


def create_app(url: str | None = None, sources: list[Source] | None = None,
               settings: GatewaySettings | None = None, emitter: Emitter | None = None,
               freeze_gc: bool = False, secrets: SigningSecrets | None = None, process_index: int = 0) -> GatewayApp:
    """The gateway app.

    Args:
        url: store URL (default: PASSERELLE_DATABASE_URL, else the SQLite file under PASSERELLE_HOME).
        sources: source plug-ins to serve (default: `default_sources()`).
        settings: limits and tuning (default: from PASSERELLE_GATEWAY_* variables).
        emitter: `async emitter(source, link, accepted)` sending a nudge (default: `PrefectEmitter()`).
        freeze_gc: when the gateway owns its process, move everything loaded at start-up out of the
            garbage collector's reach (`gc.freeze()`), which keeps full collections short under load.
        secrets: signing secrets of signed sources (default: read from Prefect Secret blocks, cached for
            PASSERELLE_GATEWAY_SECRET_CACHE_SECONDS).
        process_index: which of `settings.processes` gateway processes this is; the first one alone runs
            the SQLite store's WAL checkpoints.
    """
    settings = settings or GatewaySettings()
    sources = sources if sources is not None else default_sources()
    store_url = url or get_settings().store_url
    secrets = secrets if secrets is not None else SigningSecrets(ttl=settings.secret_cache_seconds,
                                                                 timeout=settings.secret_timeout_seconds)
    links = LinkCache(store_url, ttl=settings.link_cache_seconds)
    store = partial(store_unique, url=store_url)
    commit_lock = (CommitLock.for_store(store_url, settings.store_lock_timeout_seconds) if settings.processes > 1
                   else None)  # several processes on one SQLite file take turns (sqlite.py)
    writer = GroupCommitWriter(commit_lock.wrap(store) if commit_lock else store,
                               linger=settings.commit_linger_ms / 1000, max_deliveries=settings.commit_max_deliveries)
    budget, refusals, trimmer = ByteBudget(settings.max_buffered_bytes), Refusals(), MemoryTrimmer()
    nudger = Nudger(emitter if emitter is not None else PrefectEmitter(), settings.nudge_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        checkpointer = WalCheckpointer(prepare_store(store_url, settings.sqlite_synchronous,
                                                     settings.store_lock_timeout_seconds), lambda: writer.commits)
        await links.refresh()
        await nudger.prepare()
        if any(s.signature is not None for s in sources):
            await prepare_prefect()  # the first signed call then does not wait for Prefect's import
        await writer.start()
        if process_index == 0:
            checkpointer.start()
        trimmer.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        log.info("gateway ready%s: receivers %s", f" (process {process_index + 1} of {settings.processes})"
                 if settings.processes > 1 else "", ", ".join(served))
        try:
            yield
        finally:
            await trimmer.stop()
            await writer.stop()
            await checkpointer.stop()
            await nudger.stop()
            if commit_lock is not None:
                commit_lock.close()

    app = GatewayApp(title="Passerelle webhook gateway", version="1", lifespan=lifespan,
                     description="Receives vendor webhooks, stores each delivery durably in the inbox before "
                                 "answering 200, and nudges Prefect (docs/webhooks.md).")
    app.state.settings, app.state.links, app.state.writer, app.state.nudger = settings, links, writer, nudger
    app.state.budget, app.state.secrets = budget, secrets

    def receiver(source: Source) -> Receiver:
        return Receiver(source, settings, links, writer, nudger, budget, refusals, secrets)

    app.receivers = receivers = {}  # "name", and "name/subpath" for a source's subpaths
    served: list[str] = []
    for source in sources:
        receivers[source.name] = receiver(source)
        served.append(_serve(app, source, receivers[source.name], f"/hooks/{source.name}/{{link}}", source.name))
        for subpath, sub in sub_sources(source).items():
            key = receivers[f"{source.name}/{subpath}"] = receiver(sub)
            served.append(_serve(app, sub, key, f"/hooks/{source.name}/{{link}}/{subpath}",
                                 f"{source.name}_{subpath}"))

    @app.get("/healthz", tags=["gateway"], summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "sources": [s.name for s in sources]}

    return app


def route(receivers: dict[str, Receiver], method: str, path: str) -> tuple[Receiver, str, str | None] | None:
    """The receiver, link and path token of `/hooks/{source}/{link}[/]`, of a source's subpath
    `/hooks/{source}/{link}/{subpath}[/]` (receivers keyed `source/subpath`) or, for a source with
    `token_in_path`, `/hooks/{source}/{link}/{token}[/]`; None for anything else."""
    parts = path.split("/")
    receiver = receivers.get(parts[2]) if len(parts) >= 4 and parts[3] else None
    if receiver is None:
        return None
    n = len(parts)
    if n == 4 or (n == 5 and not parts[4]):
        return (receiver, parts[3], None) if method in receiver.methods else None
    if parts[4] and (n == 5 or (n == 6 and not parts[5])):
        sub = receivers.get(f"{parts[2]}/{parts[4]}")
        if sub is not None:
            return (sub, parts[3], None) if method in sub.methods else None
    if method not in receiver.methods:
        return None
    if receiver.source.token_in_path and parts[4] and (n == 5 or (n == 6 and not parts[5])):
        return receiver, parts[3], parts[4]
    return None


class GatewayApp(FastAPI):
    """The FastAPI app, with receiver calls served before FastAPI's and Starlette's machinery (routing,
    parameter parsing, telemetry checks, middleware: about a third of a call's CPU under load). The
    FastAPI routes stay, for the OpenAPI document and any call the fast path does not catch; both run
    `Receiver.receive`."""

    receivers: dict[str, Receiver]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in _FAST_METHODS and scope["path"].startswith("/hooks/"):
            found = route(self.receivers, scope["method"], scope["path"])
            if found is not None:
                receiver, link, token = found
                try:
                    response = await receiver.receive(Request(scope, receive), link, token)
                except Exception:
                    log.exception("%s/%s: unexpected error", receiver.source.name, link[:64])
                    response = answer(500, {"detail": "internal error"})
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
