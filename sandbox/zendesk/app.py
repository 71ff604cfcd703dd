"""Zendesk Support API emulator, mounted under `/zendesk` (docs/sandbox-zendesk.md).

Three modules: `document` (state document, error shapes), `state` (the account, ticket rules, search, rate
limit, idempotency) and this file (HTTP routes, pagination, Basic auth, the control routes, `build_zendesk`).
Every path answers with and without Zendesk's `.json` suffix. Handlers never await while holding the state
lock, so each call is atomic with respect to the others.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute

from sandbox.budget import add_rate_limit_routes
from sandbox.core import JSONAnswer, Vendor
from sandbox.zendesk.document import ZendeskError, bad_request, not_found
from sandbox.zendesk.state import ZendeskState

__all__ = ["ZendeskState", "build_zendesk"]

MAX_PAGE_SIZE = 100
OFFSET_LIMIT = 10_000  # offset pagination stops at 100 pages of 100 (Zendesk: use cursor pagination beyond)
CURSOR_PARAMS = ("page[size]", "page[after]", "page[before]")


class ZendeskRoute(APIRoute):
    """Answers `ZendeskError` in Zendesk's shapes and adds the rate-limit headers of the call."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except ZendeskError as exc:
                if isinstance(exc.body, str):  # Zendesk's 429 is text/plain
                    response = PlainTextResponse(exc.body, status_code=exc.status)
                else:
                    response = JSONAnswer(exc.body, status_code=exc.status)
                response.headers.update(exc.headers)
            response.headers.update(getattr(request.state, "rate_headers", {}))
            return response

        return route_handler


def _int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not 1 <= int(raw) <= high:
        raise bad_request("InvalidPaginationParameter", f"{name} must be an integer between 1 and {high}")
    return int(raw)


def _root(request: Request) -> str:
    """The emulator's API root as the caller reached it (``http://HOST:PORT/zendesk``)."""
    return str(request.base_url).rstrip("/") + "/zendesk"


def offset_page(request: Request, key: str, rows: list[Any], render: Callable[[Any], Any] = dict) -> JSONAnswer:
    """Offset pagination: ``page``, ``per_page`` (≤ 100) → ``{key: [...], next_page, previous_page, count}``."""
    per_page = _int(request, "per_page", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    page = _int(request, "page", 1, 10**9)
    if page * per_page > OFFSET_LIMIT and page > 1:
        raise bad_request("InvalidPaginationParameter", "Offset pagination is limited to the first 10000 "
                          "records; use cursor pagination")
    chunk = rows[(page - 1) * per_page: page * per_page]

    def link(number: int) -> str:
        return str(request.url.include_query_params(page=number, per_page=per_page))

    return JSONAnswer({key: [render(r) for r in chunk],
                       "next_page": link(page + 1) if page * per_page < len(rows) else None,
                       "previous_page": link(page - 1) if page > 1 else None, "count": len(rows)})


def _cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": "id", "v": row_id}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["v"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        value = None
    if not isinstance(value, int):
        raise bad_request("InvalidPaginationParameter", "page[after]/page[before] is not a cursor this API gave")
    return value


def cursor_page(request: Request, key: str, rows: list[Any], render: Callable[[Any], Any] = dict) -> JSONAnswer:
    """Cursor pagination over rows sorted by id: ``page[size]`` (≤ 100), ``page[after]``/``page[before]`` →
    ``{key: [...], meta: {has_more, after_cursor, before_cursor}, links: {next, prev}}``."""
    size = _int(request, "page[size]", MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    after, before = request.query_params.get("page[after]"), request.query_params.get("page[before]")
    if after:
        rest = [r for r in rows if r["id"] > _decode(after)]
        chunk, has_more = rest[:size], len(rest) > size
    elif before:
        rest = [r for r in rows if r["id"] < _decode(before)]
        chunk, has_more = rest[-size:], len(rest) > size
    else:
        chunk, has_more = rows[:size], len(rows) > size
    first, last = (_cursor(chunk[0]["id"]), _cursor(chunk[-1]["id"])) if chunk else (None, None)
    base = request.url.remove_query_params(CURSOR_PARAMS)

    def link(param: str, cursor: str | None) -> str | None:
        return str(base.include_query_params(**{"page[size]": size, param: cursor})) if cursor else None

    return JSONAnswer({key: [render(r) for r in chunk],
                       "meta": {"has_more": has_more, "after_cursor": last, "before_cursor": first},
                       "links": {"next": link("page[after]", last) if has_more else None,
                                 "prev": link("page[before]", first)}})


def listing(request: Request, key: str, rows: list[Any], render: Callable[[Any], Any] = dict, *,
            paged_by_default: bool) -> JSONAnswer:
    """Cursor pages when a ``page[...]`` parameter is given; otherwise offset pages (``paged_by_default``)
    or the whole list in one answer (ticket fields and forms without pagination)."""
    if any(p in request.query_params for p in CURSOR_PARAMS):
        return cursor_page(request, key, rows, render)
    if paged_by_default:
        return offset_page(request, key, rows, render)
    return JSONAnswer({key: [render(r) for r in rows], "next_page": None, "previous_page": None, "count": len(rows)})


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise bad_request("InvalidJSON", "The request body is not valid JSON") from None


def make_router(state: ZendeskState) -> APIRouter:
    async def authenticate(request: Request) -> dict[str, Any]:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            user = password = ""
        email, marker, _ = user.rpartition("/token")
        with state.lock:
            found = (state.authenticate(email, password)
                     if scheme.lower() == "basic" and marker and user.endswith("/token") else None)
            if found is None:
                raise ZendeskError(401, {"error": "Couldn't authenticate you"})
            request.state.rate_headers = state.take()
        return found

    router = APIRouter(route_class=ZendeskRoute, tags=["zendesk"])
    lock = state.lock
    Me = Depends(authenticate)

    def route(method: str, path: str):
        def register(func):
            for each in (path, f"{path}.json"):
                router.add_api_route(each, func, methods=[method], response_model=None)
            return func
        return register

    @route("GET", "/api/v2/users/me")
    async def me(request: Request, user: dict = Me) -> JSONAnswer:
        return JSONAnswer({"user": {**user, "url": f"{_root(request)}/api/v2/users/{user['id']}.json"}})

    @route("GET", "/api/v2/users/search")
    async def search_users(request: Request, _: dict = Me) -> JSONAnswer:
        q = request.query_params
        with lock:  # offset pagination only: page[...] parameters are ignored
            return offset_page(request, "users", state.search_users(q.get("query"), q.get("external_id")))

    @route("GET", "/api/v2/tickets")
    async def list_tickets(request: Request, _: dict = Me) -> JSONAnswer:
        external_id = request.query_params.get("external_id")
        with lock:
            rows = [t for t in state.tickets.values() if external_id is None or t["external_id"] == external_id]
            return listing(request, "tickets", rows, lambda t: state.render_ticket(t, _root(request)),
                           paged_by_default=True)

    @route("POST", "/api/v2/tickets")
    async def create_ticket(request: Request, user: dict = Me) -> JSONAnswer:
        body = await _json_body(request)
        key = request.headers.get("idempotency-key")
        with lock:
            ticket, lookup = state.create_ticket(body, user, key)
            root = _root(request)
            answer = JSONAnswer({"ticket": state.render_ticket(ticket, root)}, status_code=201,
                                headers={"Location": f"{root}/api/v2/tickets/{ticket['id']}.json"})
        if lookup:
            answer.headers["x-idempotency-lookup"] = lookup
        return answer

    def ticket_of(ticket_id: str) -> dict[str, Any]:
        text = ticket_id.removesuffix(".json")
        ticket = state.tickets.get(int(text)) if text.isdigit() else None
        if ticket is None:
            raise not_found()
        return ticket

    @router.get("/api/v2/tickets/{ticket_id}", response_model=None)
    async def show_ticket(ticket_id: str, request: Request, _: dict = Me) -> JSONAnswer:
        with lock:
            return JSONAnswer({"ticket": state.render_ticket(ticket_of(ticket_id), _root(request))})

    @router.put("/api/v2/tickets/{ticket_id}", response_model=None)
    async def update_ticket(ticket_id: str, request: Request, user: dict = Me) -> JSONAnswer:
        body = await _json_body(request)
        with lock:
            ticket = state.update_ticket(ticket_of(ticket_id)["id"], body, user)
            return JSONAnswer({"ticket": state.render_ticket(ticket, _root(request)),
                               "audit": {"ticket_id": ticket["id"], "author_id": user["id"],
                                         "created_at": ticket["updated_at"]}})

    @route("GET", "/api/v2/tickets/{ticket_id}/comments")
    async def ticket_comments(ticket_id: str, request: Request, _: dict = Me) -> JSONAnswer:
        with lock:
            return listing(request, "comments", ticket_of(ticket_id)["comments"], paged_by_default=True)

    @route("GET", "/api/v2/ticket_forms")
    async def ticket_forms(request: Request, _: dict = Me) -> JSONAnswer:
        active = request.query_params.get("active")
        with lock:
            rows = [f for f in state.ticket_forms.values()
                    if active is None or f["active"] == (active.lower() in ("true", "1"))]
            return listing(request, "ticket_forms", rows, lambda f: dict(f, ticket_field_ids=list(
                f["ticket_field_ids"]), url=f"{_root(request)}/api/v2/ticket_forms/{f['id']}.json"),
                paged_by_default=False)

    @route("GET", "/api/v2/ticket_fields")
    async def ticket_fields(request: Request, _: dict = Me) -> JSONAnswer:
        with lock:
            return listing(request, "ticket_fields", list(state.ticket_fields.values()), lambda f: dict(
                f, url=f"{_root(request)}/api/v2/ticket_fields/{f['id']}.json"), paged_by_default=False)

    return router


def make_control(state: ZendeskState) -> APIRouter:
    """`/_sandbox/zendesk/rate-limit`: the account-wide per-minute budget (off by default)."""
    control = APIRouter()
    add_rate_limit_routes(control, "Zendesk", state)
    return control


def build_zendesk() -> Vendor:
    """The Zendesk vendor: the default account (one admin, one API token, the system ticket fields and the
    default form) and its routers."""
    state = ZendeskState()
    return Vendor(name="zendesk", state=state, router=make_router(state), control=make_control(state))
