"""Google Sheets API v4 emulator, mounted under `/google-sheets` (the sandbox's stand-in for
`https://sheets.googleapis.com`), with the OAuth token endpoint at `/google-sheets/token` (for
`https://oauth2.googleapis.com/token`); docs/connector-google-sheets.md, "Emulator".

Modules: `a1` (ranges), `document` (state document, error shapes), `accounts` (service accounts, the JWT grant,
access tokens), `state` (spreadsheets, values.append / values.get) and this file (routes, the rate-limit
switch, control routes, `build_google_sheets`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.budget import add_rate_limit_routes
from sandbox.core import JSONAnswer, Vendor
from sandbox.google_sheets.accounts import GOOGLE_TOKEN_URI, READ_SCOPES, WRITE_SCOPES, generate_account, key_file
from sandbox.google_sheets.document import GoogleError, OAuthError, invalid_argument, parse_account
from sandbox.google_sheets.state import RENDER, SheetsState

__all__ = ["SheetsState", "build_google_sheets"]

PREFIX = "/google-sheets"
QUOTA = ("Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of "
         "service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.")


class GoogleRoute(APIRoute):
    """Answers `GoogleError` and `OAuthError` in Google's shapes."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except GoogleError as exc:
                return JSONAnswer(exc.body(), status_code=exc.code, headers=exc.headers)
            except OAuthError as exc:
                return JSONAnswer(exc.body(), status_code=exc.code)

        return route_handler


def mask(value: Any, fields: str | None) -> Any:
    """Apply a partial-response ``fields`` mask (``spreadsheetId,properties.title,sheets.properties``)."""
    if not fields:
        return value
    tree: dict[str, Any] = {}
    for path in fields.split(","):
        node = tree
        for part in path.strip().split("."):
            node = node.setdefault(part, {})

    def keep(item: Any, node: dict[str, Any]) -> Any:
        if not node:
            return item
        if isinstance(item, list):
            return [keep(i, node) for i in item]
        if isinstance(item, dict):
            return {k: keep(v, node[k]) for k, v in item.items() if k in node}
        return item

    return keep(value, tree)


def make_router(state: SheetsState) -> APIRouter:
    router = APIRouter(route_class=GoogleRoute, tags=["google-sheets"])
    lock = state.lock

    def caller(request: Request, write: bool) -> str:
        with lock:
            email = state.tokens.bearer(request.headers.get("authorization", ""),
                                        WRITE_SCOPES if write else READ_SCOPES)
            wait = state.budget.take()
        if wait is not None:
            raise GoogleError(429, "RESOURCE_EXHAUSTED", QUOTA, headers={"Retry-After": f"{wait:g}"})
        return email

    @router.post("/token", response_model=None)
    async def token(request: Request) -> JSONAnswer:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        audiences = {GOOGLE_TOKEN_URI, str(request.url.replace(query=""))}
        with lock:
            answer = state.tokens.exchange(form, state.accounts, audiences, state.token_lifetime)
        return JSONAnswer(answer, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    @router.get("/v4/spreadsheets/{spreadsheet_id}", response_model=None)
    async def get_spreadsheet(spreadsheet_id: str, request: Request) -> JSONAnswer:
        email = caller(request, write=False)
        root = str(request.base_url).rstrip("/") + PREFIX
        with lock:
            found = state.spreadsheet(spreadsheet_id, email, write=False)
            return JSONAnswer(mask(state.render_spreadsheet(found, root), request.query_params.get("fields")))

    @router.get("/v4/spreadsheets/{spreadsheet_id}/values/{target:path}", response_model=None)
    async def get_values(spreadsheet_id: str, target: str, request: Request) -> JSONAnswer:
        email = caller(request, write=False)
        render = request.query_params.get("valueRenderOption", "FORMATTED_VALUE")
        if render not in RENDER:
            raise invalid_argument(f"Invalid valueRenderOption: {render}")
        with lock:
            found = state.spreadsheet(spreadsheet_id, email, write=False)
            return JSONAnswer(state.get_values(found, target, render))

    @router.post("/v4/spreadsheets/{spreadsheet_id}/values/{target:path}", response_model=None)
    async def append(spreadsheet_id: str, target: str, request: Request) -> JSONAnswer:
        if not target.endswith(":append"):
            raise GoogleError(404, "NOT_FOUND", "Requested entity was not found.")
        email = caller(request, write=True)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise invalid_argument("Invalid JSON payload received.") from None
        with lock:
            found = state.spreadsheet(spreadsheet_id, email, write=True)
            return JSONAnswer(state.append(found, target.removesuffix(":append"), dict(request.query_params), body))

    return router


def make_control(state: SheetsState) -> APIRouter:
    """`/_sandbox/google-sheets/…`: `keys` (a service account's JSON key file), `expire-tokens`, `rate-limit`."""
    control = APIRouter()

    @control.post("/keys", summary="A service account's JSON key file (created when the e-mail is new)")
    def keys(request: Request, settings: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        unknown = set(settings) - {"client_email"}
        if unknown:
            raise HTTPException(422, f"unknown keys {sorted(unknown)}; allowed: client_email")
        email = str(settings.get("client_email") or next(iter(state.accounts), "")).lower()
        token_uri = str(request.base_url).rstrip("/") + PREFIX + "/token"
        with state.lock:
            account = state.accounts.get(email)
            if account is None:
                try:
                    account = parse_account(generate_account(email))
                except ValueError as exc:
                    raise HTTPException(422, str(exc)) from exc
                state.accounts[email] = account
            found = key_file(account, token_uri)
        if found is None:
            raise HTTPException(409, f"the sandbox holds no private key for {email}: it was loaded with its public "
                                "key only (keep that key file, or ask for a new e-mail)")
        return found

    @control.post("/expire-tokens", summary="Forget every access token issued (the next call gets a 401)")
    def expire_tokens() -> dict[str, Any]:
        with state.lock:
            return {"expired": state.tokens.expire()}

    add_rate_limit_routes(control, "the Sheets API", state)

    return control


def build_google_sheets() -> Vendor:
    """The Google Sheets vendor: one service account (sandbox@passerelle-sandbox.iam.gserviceaccount.com, its key
    from `POST /_sandbox/google-sheets/keys`), editor of one spreadsheet (`1PasserelleSandboxSpreadsheet…`) with
    an empty `Sheet1`."""
    state = SheetsState()
    return Vendor(name="google-sheets", state=state, router=make_router(state), control=make_control(state))
