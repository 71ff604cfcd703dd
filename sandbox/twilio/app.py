"""Twilio REST API emulator, mounted under `/twilio` (the sandbox's stand-in for `https://api.twilio.com`;
docs/connector-twilio.md, "Emulator").

Three modules: `document` (state document, error shape), `state` (accounts, messages, the send rules) and this
file (routes, Basic auth, form bodies, `next_page_uri` pagination, the rate-limit switch, `build_twilio`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.budget import add_rate_limit_routes
from sandbox.core import JSONAnswer, Vendor
from sandbox.twilio.document import SID, TwilioError, bad_request, not_found
from sandbox.twilio.state import API, TwilioState

__all__ = ["TwilioState", "build_twilio"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


class TwilioRoute(APIRoute):
    """Answers `TwilioError` in Twilio's shape."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except TwilioError as exc:
                return JSONAnswer(exc.body(), status_code=exc.status, headers=exc.headers)

        return route_handler


async def _form(request: Request) -> dict[str, str]:
    """The form fields of a POST (the first value of each; a JSON body carries none, as at Twilio)."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    fields: dict[str, str] = {}
    for name, value in parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(20001, f"Invalid {name}: must be an integer between {low} and {high}")
    return int(raw)


def make_router(state: TwilioState) -> APIRouter:
    router = APIRouter(route_class=TwilioRoute, tags=["twilio"])
    lock = state.lock

    def account_of(request: Request, account_sid: str) -> dict[str, Any]:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            user = password = ""
        with lock:
            if scheme.lower() != "basic":
                raise TwilioError(401, 20003, "Authenticate")
            account = state.authenticate(user, password, account_sid)
            wait = state.budget.take()
        if wait is not None:
            raise TwilioError(429, 20429, "Too Many Requests", headers={"Retry-After": f"{wait:g}"})
        return account

    @router.get("/2010-04-01/Accounts/{account_sid}.json", response_model=None)
    async def fetch_account(account_sid: str, request: Request) -> JSONAnswer:
        account = account_of(request, account_sid)
        uri = f"{API}/Accounts/{account['sid']}.json"
        return JSONAnswer({"sid": account["sid"], "friendly_name": account["friendly_name"],
                           "status": account["status"], "type": "Full", "owner_account_sid": account["sid"],
                           "date_created": account["date_created"], "date_updated": account["date_created"],
                           "uri": uri, "subresource_uris": {
                               "messages": f"{API}/Accounts/{account['sid']}/Messages.json"}})

    @router.post("/2010-04-01/Accounts/{account_sid}/Messages.json", response_model=None)
    async def create_message(account_sid: str, request: Request) -> JSONAnswer:
        account = account_of(request, account_sid)
        form = await _form(request)
        with lock:
            if account["status"] != "active":
                raise TwilioError(401, 20005, "Account not active")
            message = state.send(account, form)
            return JSONAnswer(state.render(message), status_code=201)

    @router.get("/2010-04-01/Accounts/{account_sid}/Messages.json", response_model=None)
    async def list_messages(account_sid: str, request: Request) -> JSONAnswer:
        account_of(request, account_sid)
        q = request.query_params
        size = _int(request, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = _int(request, "Page", 0, 0, 10**6)
        filters = {k: q[k] for k in ("To", "From", "DateSent") if q.get(k)}
        with lock:
            rows = state.messages_of(account_sid, q.get("To"), q.get("From"), q.get("DateSent"))
            token = q.get("PageToken")
            if token:
                after = next((i for i, m in enumerate(rows) if f"PA{m['sid']}" == token), None)
                if after is None:
                    raise bad_request(20001, "Invalid PageToken")
                start = after + 1
            else:
                start = page * size
            chunk = rows[start:start + size]
            base = f"{API}/Accounts/{account_sid}/Messages.json"

            def uri(number: int, page_token: str | None = None) -> str:
                query = {**filters, "PageSize": size, "Page": number}
                if page_token:
                    query["PageToken"] = page_token
                return f"{base}?{urlencode(query)}"

            more = start + size < len(rows)
            return JSONAnswer({"messages": [state.render(m) for m in chunk], "page": page, "page_size": size,
                               "start": start, "end": start + max(len(chunk), 1) - 1, "uri": uri(page, token),
                               "first_page_uri": uri(0),
                               "next_page_uri": uri(page + 1, f"PA{chunk[-1]['sid']}") if more and chunk else None,
                               "previous_page_uri": uri(page - 1) if page > 0 else None})

    @router.get("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json", response_model=None)
    async def fetch_message(account_sid: str, sid: str, request: Request) -> JSONAnswer:
        account_of(request, account_sid)
        with lock:
            message = state.message(account_sid, sid) if SID["SM"].fullmatch(sid) else None
            if message is None:
                raise not_found(request.url.path.removeprefix("/twilio"))
            return JSONAnswer(state.render(message))

    return router


def make_control(state: TwilioState) -> APIRouter:
    """`/_sandbox/twilio/rate-limit`: a request budget per window, answered 429 (code 20429) with Retry-After."""
    control = APIRouter()

    add_rate_limit_routes(control, "Twilio", state)

    return control


def build_twilio() -> Vendor:
    """The Twilio vendor: one active account (`AC00000000000000000000000000000001`, Auth Token
    `sandbox-twilio-auth-token`) owning +15005550006 and the Messaging Service `MG00000000000000000000000000000001`."""
    state = TwilioState()
    return Vendor(name="twilio", state=state, router=make_router(state), control=make_control(state))
