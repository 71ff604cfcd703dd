"""Oxiva emulator, mounted under `/oxiva`: `http://HOST:PORT/oxiva/appli/api/oxiva/v2.0` replaces
`https://www.oxiva.cloud/appli/api/oxiva/v2.0` (docs/connector-oxiva.md, "The emulator").

    GET /appli/api/oxiva/v2.0/version/?dossier=&token=             {"version": "2.0", "dossier": "demo"}
    GET /appli/api/oxiva/v2.0/societe/?dossier=&token=&id=11        the société
        …&activites=Y                                               with its commercial activities ("activites")
        …&tickets=Y                                                 with its tickets ("tickets")

Every call needs the `dossier` and `token` query parameters (401 `missing_credentials` / `invalid_credentials`),
an activated API (403 `api_disabled`); `societe/` an `id` (400 `missing_parameter` / `invalid_parameter`) of a
société of the dossier (404 `not_found`). Errors answer `{"error", "message"}` (Oxiva publishes no error shape:
ours). Only GET is served (405). The sandbox's fault switches add 429 + Retry-After, 5xx and latency.

Control routes (under `/_sandbox/oxiva`), the Oxiva side of the seed's Zapier panel:

    PUT  /dossiers/{dossier}/zapier                         {active, suspended, urls: {client, ticket, activity}}
    POST /dossiers/{dossier}/societes                       create a client; Oxiva calls the "client" URL ?id=
    POST /dossiers/{dossier}/societes/{id}/activites        create an activity; calls "activity" ?id=&ccom_id=
    POST /dossiers/{dossier}/societes/{id}/tickets          create a ticket; calls "ticket" ?id=&sticket_id=

Each call Oxiva makes is a GET of the panel's URL with the ids and `url=<that URL>` appended (the seed's
`…/?id=11&sticket_id=810&url=https://hooks.zapier.com/hooks/catch/xxxxxx/xxxxxx/`); none while the panel is
inactive or "Suspendre l'utilisation de Zapier" is ticked. What was called is kept in the state's `calls`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.core import JSONAnswer, Vendor
from sandbox.oxiva.state import OxivaError, OxivaState, zapier_panel

__all__ = ["OxivaState", "build_oxiva"]
ROOT = "/appli/api/oxiva/v2.0"
OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


class OxivaRoute(APIRoute):
    """Answers an :class:`OxivaError` as `{"error", "message"}` with its status."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except OxivaError as exc:
                return JSONAnswer(exc.body, status_code=exc.status)

        return route_handler


def make_router(state: OxivaState) -> APIRouter:
    router = APIRouter(route_class=OxivaRoute, tags=["oxiva"])

    def opened(request: Request) -> dict[str, Any]:
        q = request.query_params
        return state.authenticate(q.get("dossier"), q.get("token"))

    async def version(request: Request) -> JSONAnswer:
        with state.lock:
            dossier = opened(request)
            return JSONAnswer({"version": state.version, "dossier": dossier["dossier"]})

    async def societe(request: Request) -> JSONAnswer:
        q = request.query_params
        with state.lock:
            found = state.societe(opened(request), q.get("id"))
            return JSONAnswer(state.render(found, q.get("activites") == "Y", q.get("tickets") == "Y"))

    async def wrong_method(request: Request) -> JSONAnswer:
        raise OxivaError(405, "method_not_allowed", f"{request.method} n'est pas accepté: l'API répond en GET")

    for path, handler in ((f"{ROOT}/version", version), (f"{ROOT}/societe", societe)):
        for variant in (path, f"{path}/"):
            router.add_api_route(variant, handler, methods=["GET"], response_model=None,
                                 include_in_schema=variant.endswith("/"))
            router.add_api_route(variant, wrong_method, methods=OTHER_METHODS, response_model=None,
                                 include_in_schema=False)

    @router.api_route(f"{ROOT}/{{rest:path}}", methods=["GET", *OTHER_METHODS], response_model=None,
                      include_in_schema=False)
    async def unknown(rest: str, request: Request) -> JSONAnswer:
        with state.lock:
            opened(request)
        raise OxivaError(404, "not_found", f"Ressource inconnue: {rest[:80]}")

    return router


def hook_url(url: str, params: dict[str, str]) -> str:
    """The panel's URL with Oxiva's parameters appended, `url=` last (the seed's example)."""
    query = urlencode({**params, "url": url})
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def call_hook(state: OxivaState, dossier: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
    """GET the panel's URL for `kind` (as Oxiva's cURL does), unless the panel is off; record what happened."""
    with state.lock:
        zapier = state.dossier(dossier)["zapier"]
        url = zapier["urls"].get(kind)
        reason = ("the Zapier module is not active" if not zapier["active"] else
                  "Zapier use is suspended" if zapier["suspended"] else
                  f"no webhook URL for {kind}" if not url else None)
    record: dict[str, Any] = {"dossier": dossier, "kind": kind, "params": params, "called": reason is None}
    if reason is not None:
        record["reason"] = reason
    else:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.get(hook_url(url, params))
            record["status"] = answer.status_code
        except httpx.HTTPError as exc:
            record.update(status=None, error=f"{type(exc).__name__}: {exc}"[:300])
    with state.lock:
        state.calls.append(record)
    return record


def make_control(state: OxivaState) -> APIRouter:
    control = APIRouter()

    def known(dossier: str) -> None:
        try:
            state.dossier(dossier)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None

    @control.put("/dossiers/{dossier}/zapier", summary="Set the dossier's Zapier panel (URLs, active, suspended)")
    def put_zapier(dossier: str, panel: dict[str, Any] = Body(...)) -> dict[str, Any]:
        with state.lock:
            known(dossier)
            try:
                state.dossier(dossier)["zapier"] = zapier_panel(panel, "zapier")
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            return state.dossier(dossier)["zapier"]

    async def create(dossier: str, kind: str, fields: dict[str, Any], societe_id: str | None = None) -> dict[str, Any]:
        with state.lock:
            known(dossier)
            try:
                record, params = state.create(dossier, kind, fields, societe_id)
            except OxivaError as exc:
                raise HTTPException(exc.status, exc.message) from None
        return {kind: record, "hook": await call_hook(state, dossier, kind, params)}

    @control.post("/dossiers/{dossier}/societes", summary="Create a client; Oxiva calls the panel's client URL")
    async def new_client(dossier: str, fields: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        return await create(dossier, "client", fields or {})

    @control.post("/dossiers/{dossier}/societes/{societe_id}/activites",
                  summary="Create a commercial activity; Oxiva calls the panel's activity URL")
    async def new_activity(dossier: str, societe_id: str,
                           fields: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        return await create(dossier, "activity", fields or {}, societe_id)

    @control.post("/dossiers/{dossier}/societes/{societe_id}/tickets",
                  summary="Create a ticket; Oxiva calls the panel's ticket URL")
    async def new_ticket(dossier: str, societe_id: str,
                         fields: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        return await create(dossier, "ticket", fields or {}, societe_id)

    return control


def build_oxiva() -> Vendor:
    """The Oxiva vendor: the default dossier `demo` (token `sandbox-oxiva-token`) and its routers."""
    state = OxivaState()
    return Vendor(name="oxiva", state=state, router=make_router(state), control=make_control(state))
