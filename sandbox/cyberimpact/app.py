"""Cyberimpact REST API emulator, mounted under `/cyberimpact` (see docs/contracts.md and docs/sandbox.md).

The emulator is split in five modules: `cyberimpact_model` (constants, validation), `cyberimpact_state`
(the account in memory), `cyberimpact_document` (the state document of the control API),
`cyberimpact_batches` (batches) and this file (HTTP routes, `build_cyberimpact`).

Handlers are `async def` and never await while they hold the state lock, so each call is atomic with
respect to the others; the lock only guards against the control API, whose plain `def` routes run in
FastAPI's thread pool. Answers are built as `JSONAnswer` directly (orjson, no `jsonable_encoder`
pass), which keeps large member pages cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.core import JSONAnswer, Vendor
from sandbox.cyberimpact.batches import create_batch, poll_batch
from sandbox.cyberimpact.model import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiError,
    FieldError,
    invalid,
)
from sandbox.cyberimpact.state import MEMBER_SORTS, CyberimpactState, consent_of

__all__ = ["CyberimpactState", "build_cyberimpact"]

STATUSES = ("active", "unsubscribed", "all")
ID_SORTS = ("id_asc", "id_desc")


class CyberimpactRoute(APIRoute):
    """Answers ApiError (raised by handlers or the auth dependency) as `{"message", "errors"}`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONAnswer(exc.body(), status_code=exc.status)
            except RequestValidationError as exc:
                errors: dict[str, list[str]] = {}
                for err in exc.errors():
                    where = ".".join(str(p) for p in err["loc"][1:]) or "body"
                    errors.setdefault(where, []).append(err["msg"])
                return JSONAnswer({"message": "The given data was invalid.", "errors": errors},
                                    status_code=422)

        return route_handler


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise invalid(name, f"The {name} must be an integer between {low} and {high}.")
    return int(raw)


def _choice(request: Request, name: str, default: str, allowed: tuple[str, ...] | Any) -> str:
    value = request.query_params.get(name) or default
    if value not in allowed:
        raise invalid(name, f"The selected {name} is invalid; one of: {', '.join(allowed)}.")
    return value


def _page(request: Request, rows: list[Any], plural: str, sort: str,
          render: Callable[[Any], Any] | None = None) -> JSONAnswer:
    page = _int_param(request, "page", 1, 1, 10**9)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    chunk = rows[(page - 1) * limit: page * limit]
    items = [render(r) for r in chunk] if render else chunk
    return JSONAnswer({plural: items, "totalCount": len(rows), "page": page, "limit": limit, "sort": sort})


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(422, "The request body must be a JSON object.", {"body": ["Expected an object."]})
    return body


def make_router(state: CyberimpactState) -> APIRouter:
    async def authenticate(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in state.tokens:
            raise ApiError(401, "Unauthenticated.")

    router = APIRouter(route_class=CyberimpactRoute, dependencies=[Depends(authenticate)],
                       tags=["cyberimpact"])
    lock = state.lock

    # --- account ----------------------------------------------------------------------------------------

    @router.get("/ping")
    async def ping() -> JSONAnswer:
        return JSONAnswer({"ping": "pong"})

    @router.get("/account")
    async def account() -> JSONAnswer:
        with lock:
            return JSONAnswer(dict(state.account))

    # --- members ----------------------------------------------------------------------------------------

    def member_page(request: Request, group_id: int | None = None) -> JSONAnswer:
        status = _choice(request, "status", "active", STATUSES)
        sort = _choice(request, "sort", "id_asc", MEMBER_SORTS)
        return _page(request, state.member_list(status, sort, group_id), "members", sort)

    @router.get("/members")
    async def list_members(request: Request) -> JSONAnswer:
        with lock:
            return member_page(request)

    @router.post("/members")
    async def create_member(request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.create_member(body), status_code=201)

    @router.get("/members/unsubscribed")
    async def list_unsubscribed(request: Request) -> JSONAnswer:
        with lock:
            sort = _choice(request, "sort", "id_asc", MEMBER_SORTS)
            return _page(request, state.member_list("unsubscribed", sort), "members", sort)

    @router.post("/members/unsubscribed/{key}")
    async def unsubscribe(key: str) -> JSONAnswer:
        with lock:
            m = state.member(key)
            state.unsubscribe(m)
            return JSONAnswer(m)

    @router.get("/members/{key}")
    async def get_member(key: str) -> JSONAnswer:
        with lock:
            return JSONAnswer(state.member(key))

    @router.patch("/members/{key}")
    async def patch_member(key: str, request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.patch_member(state.member(key), body))

    @router.delete("/members/{key}")
    async def delete_member(key: str) -> JSONAnswer:
        with lock:
            m = state.member(key)
            out = dict(m)
            state.delete_member(m)
            return JSONAnswer(out)

    @router.get("/members/{key}/consent")
    async def get_consent(key: str) -> JSONAnswer:
        with lock:
            return JSONAnswer(consent_of(state.member(key)))

    @router.put("/members/{key}/consent")
    async def put_consent(key: str, request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.put_consent(state.member(key), body))

    def member_groups(request: Request, m: dict[str, Any]) -> JSONAnswer:
        sort = _choice(request, "sort", "id_asc", ID_SORTS)
        rows = [state.groups[g] for g in m["groups"] if g in state.groups]
        return _page(request, rows[::-1] if sort == "id_desc" else rows, "groups", sort, state.group_out)

    @router.get("/members/{key}/groups")
    async def get_member_groups(key: str, request: Request) -> JSONAnswer:
        with lock:
            return member_groups(request, state.member(key))

    async def write_member_groups(key: str, request: Request, mode: str) -> JSONAnswer:
        body = await _body(request)
        with lock:
            m = state.member(key)
            try:
                if mode == "replace" and "groups" not in body:
                    raise FieldError("groups", "The groups field is required.")
                ids = state.static_groups(body.get("groups"))
            except FieldError as exc:
                raise exc.api() from None
            state.set_member_groups(m, ids, mode)
            return member_groups(request, m)

    @router.post("/members/{key}/groups")
    async def add_member_groups(key: str, request: Request) -> JSONAnswer:
        return await write_member_groups(key, request, "add")

    @router.put("/members/{key}/groups")
    async def replace_member_groups(key: str, request: Request) -> JSONAnswer:
        return await write_member_groups(key, request, "replace")

    @router.delete("/members/{key}/groups/{group_id}")
    async def remove_member_group(key: str, group_id: str, request: Request) -> JSONAnswer:
        with lock:
            m = state.member(key)
            g = state.group(group_id)
            if g["isDynamic"]:
                raise invalid("groupId", f"The group {g['id']} is dynamic; its members are computed.")
            state.set_member_groups(m, [g["id"]], "remove")
            return member_groups(request, m)

    # --- custom fields ----------------------------------------------------------------------------------

    @router.get("/customfields")
    async def list_custom_fields(request: Request) -> JSONAnswer:
        with lock:
            sort = _choice(request, "sort", "id_asc", ID_SORTS)
            rows = [dict(f) for f in state.custom_fields.values()]
            return _page(request, rows[::-1] if sort == "id_desc" else rows, "customFields", sort)

    @router.post("/customfields")
    async def create_custom_field(request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(dict(state.create_custom_field(body)), status_code=201)

    # --- groups -----------------------------------------------------------------------------------------

    @router.get("/groups")
    async def list_groups(request: Request) -> JSONAnswer:
        with lock:
            sort = _choice(request, "sort", "id_asc", ID_SORTS)
            rows = list(state.groups.values())
            return _page(request, rows[::-1] if sort == "id_desc" else rows, "groups", sort, state.group_out)

    @router.post("/groups")
    async def create_group(request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.group_out(state.create_group(body)), status_code=201)

    @router.get("/groups/{group_id}")
    async def get_group(group_id: str) -> JSONAnswer:
        with lock:
            return JSONAnswer(state.group_out(state.group(group_id)))

    @router.patch("/groups/{group_id}")
    async def patch_group(group_id: str, request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.group_out(state.update_group(state.group(group_id), body, False)))

    @router.put("/groups/{group_id}")
    async def put_group(group_id: str, request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(state.group_out(state.update_group(state.group(group_id), body, True)))

    @router.delete("/groups/{group_id}")
    async def delete_group(group_id: str) -> JSONAnswer:
        with lock:
            g = state.group(group_id)
            out = state.group_out(g)
            state.delete_group(g)
            return JSONAnswer(out)

    @router.get("/groups/{group_id}/members")
    async def group_members(group_id: str, request: Request) -> JSONAnswer:
        with lock:
            return member_page(request, state.group(group_id)["id"])

    # --- batches ----------------------------------------------------------------------------------------

    @router.post("/batches")
    async def post_batch(request: Request) -> JSONAnswer:
        body = await _body(request)
        with lock:
            return JSONAnswer(create_batch(state, body), status_code=201)

    @router.get("/batches/{batch_id}")
    async def get_batch(batch_id: str, request: Request) -> JSONAnswer:
        show = request.query_params.get("showErrorDetails", "").lower() in ("true", "1", "yes")
        with lock:
            return JSONAnswer(poll_batch(state, batch_id, show))

    return router


def build_cyberimpact() -> Vendor:
    """The Cyberimpact vendor: a fresh default account (one token, no members) and its router."""
    state = CyberimpactState()
    return Vendor(name="cyberimpact", state=state, router=make_router(state))
