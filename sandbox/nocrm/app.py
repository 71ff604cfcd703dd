"""noCRM.io emulator, mounted under ``/nocrm`` (``http://HOST:PORT/nocrm`` replaces ``https://{account}.nocrm.io``).

Serves the simplified API's lead actions (``GET /api/simple/leads/{lead_id}/{action}``, GET only, as the real
one), ``GET /api/v2/ping`` (the credentials check) and ``GET /api/v2/leads/{lead_id}`` (to read a lead back).
The API key goes in the ``X-API-KEY`` header (noCRM also reads an ``api_key`` parameter); every refusal answers
noCRM's ``{"error", "message", "type"}``. Modules: ``document`` (state document, errors), ``state`` (the
account, auth, rate limit, answers), ``rules`` (each action's rule) and this file (routes, ``build_nocrm``).
Handlers never await while holding the state lock, so each call is atomic with respect to the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.budget import add_rate_limit_routes
from sandbox.core import JSONAnswer, Vendor
from sandbox.nocrm.document import NocrmError
from sandbox.nocrm.rules import RULES, Rule
from sandbox.nocrm.state import NocrmState

__all__ = ["NocrmState", "build_nocrm"]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class NocrmRoute(APIRoute):
    """Answers a :class:`NocrmError` in noCRM's shape, with its headers (429: ``API-RETRY-AFTER``)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NocrmError as exc:
                return JSONAnswer(exc.body, status_code=exc.status, headers=exc.headers)

        return route_handler


def make_router(state: NocrmState) -> APIRouter:
    def authenticate(request: Request) -> dict[str, Any]:
        key = request.headers.get("x-api-key") or request.query_params.get("api_key")
        with state.lock:
            user = state.authenticate(key)
            state.take()
        return user

    router = APIRouter(route_class=NocrmRoute, tags=["nocrm"])
    Me = Depends(authenticate)

    @router.get("/api/v2/ping", response_model=None)
    async def ping(_: dict = Me) -> JSONAnswer:
        return JSONAnswer({"status": 200, "message": "Your API key is correct."})

    @router.get("/api/v2/leads/{lead_id}", response_model=None)
    async def show_lead(lead_id: str, _: dict = Me) -> JSONAnswer:
        with state.lock:
            return JSONAnswer(state.render_lead(state.lead(lead_id)))

    def simple(path: str, rule: Rule) -> None:
        async def run(lead_id: str, request: Request, user: dict = Me) -> JSONAnswer:
            with state.lock:
                return JSONAnswer(rule(state, state.lead(lead_id), request.query_params, user))

        run.__name__ = f"simple_{path.replace('/', '_')}"
        router.add_api_route(f"/api/simple/leads/{{lead_id}}/{path}", run, methods=["GET"], response_model=None,
                             summary=f"Simplified API: {path}")

    for path, rule in RULES.items():
        simple(path, rule)

    @router.api_route("/api/{rest:path}", methods=ALL_METHODS, response_model=None, include_in_schema=False)
    async def unknown(rest: str, request: Request, _: dict = Me) -> JSONAnswer:
        raise NocrmError(404, "not_found", f"No route for {request.method} /api/{rest} (the simplified API takes "
                                           "GET only)")

    return router


def make_control(state: NocrmState) -> APIRouter:
    """``/_sandbox/nocrm/rate-limit``: a per-minute request budget (off by default), answered 429 beyond."""
    control = APIRouter()
    add_rate_limit_routes(control, "noCRM", state)
    return control


def build_nocrm() -> Vendor:
    """The noCRM vendor: the demo account (``sandbox.nocrm.document.default_document``) and its routers."""
    state = NocrmState()
    return Vendor(name="nocrm", state=state, router=make_router(state), control=make_control(state))
