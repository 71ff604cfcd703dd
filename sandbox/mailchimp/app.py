"""Mailchimp Marketing API v3 emulator, mounted under `/mailchimp` (the sandbox's stand-in for
`https://<dc>.api.mailchimp.com/3.0`; docs/connector-mailchimp.md, "Emulator").

Three modules: `document` (state document, problem+json errors), `state` (audiences, members, tags and their
rules) and this file (routes, Basic auth, the rate-limit switch, control routes, `build_mailchimp`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.budget import add_rate_limit_routes
from sandbox.core import JSONAnswer, Vendor
from sandbox.mailchimp.document import MailchimpError, invalid
from sandbox.mailchimp.state import MailchimpState

__all__ = ["MailchimpState", "build_mailchimp"]

PROBLEM = "application/problem+json; charset=utf-8"
MAX_COUNT = 1000


class MailchimpRoute(APIRoute):
    """Answers `MailchimpError` as `application/problem+json`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except MailchimpError as exc:
                return Response(json.dumps(exc.body()), status_code=exc.status, media_type=PROBLEM,
                                headers=exc.headers)

        return route_handler


def _page(request: Request) -> tuple[int, int]:
    """``count`` (default 10, at most 1000) and ``offset`` (default 0)."""
    values = []
    for name, default in (("count", 10), ("offset", 0)):
        raw = request.query_params.get(name, "")
        if raw == "":
            values.append(default)
        elif raw.isdigit():
            values.append(int(raw))
        else:
            raise invalid((name, "This value should be of type integer."))
    return min(values[0], MAX_COUNT), values[1]


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise MailchimpError(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.") from None


def make_router(state: MailchimpState) -> APIRouter:
    router = APIRouter(route_class=MailchimpRoute, tags=["mailchimp"])
    lock = state.lock

    def authenticate(request: Request) -> None:
        """HTTP Basic, any user name, an API key of the account as the password; then the rate budget."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if not encoded:
            raise MailchimpError(401, "API Key Missing", "Your request did not include an API key.")
        try:
            _, _, key = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            key = ""
        with lock:
            if scheme.lower() != "basic" or key not in state.api_keys:
                raise MailchimpError(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to "
                                     "access the wrong datacenter.")
            wait = state.budget.take()
        if wait is not None:
            raise MailchimpError(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous "
                                 "connections.", headers={"Retry-After": f"{wait:g}"})

    @router.get("/ping", response_model=None)
    async def ping(request: Request) -> JSONAnswer:
        authenticate(request)
        return JSONAnswer({"health_status": "Everything's Chimpy!"})

    @router.get("/lists/{list_id}", response_model=None)
    async def get_list(list_id: str, request: Request) -> JSONAnswer:
        authenticate(request)
        with lock:
            return JSONAnswer(state.render_list(state.audience(list_id)))

    @router.get("/lists/{list_id}/members", response_model=None)
    async def list_members(list_id: str, request: Request) -> JSONAnswer:
        authenticate(request)
        count, offset = _page(request)
        status = request.query_params.get("status")
        with lock:
            rows = [m for m in state.audience(list_id)["members"].values() if status in (None, m["status"])]
            return JSONAnswer({"members": [state.render_member(list_id, m) for m in rows[offset:offset + count]],
                               "list_id": list_id, "total_items": len(rows), "_links": []})

    @router.get("/lists/{list_id}/members/{subscriber_hash}", response_model=None)
    async def get_member(list_id: str, subscriber_hash: str, request: Request) -> JSONAnswer:
        authenticate(request)
        with lock:
            return JSONAnswer(state.render_member(list_id, state.member(list_id, subscriber_hash)))

    @router.put("/lists/{list_id}/members/{subscriber_hash}", response_model=None)
    async def put_member(list_id: str, subscriber_hash: str, request: Request) -> JSONAnswer:
        authenticate(request)
        body = await _json(request)
        skip = request.query_params.get("skip_merge_validation", "false").lower() == "true"
        with lock:
            member = state.upsert(list_id, subscriber_hash, body, skip)
            return JSONAnswer(state.render_member(list_id, member))

    @router.get("/lists/{list_id}/members/{subscriber_hash}/tags", response_model=None)
    async def get_tags(list_id: str, subscriber_hash: str, request: Request) -> JSONAnswer:
        authenticate(request)
        count, offset = _page(request)
        with lock:
            tags = state.member(list_id, subscriber_hash)["tags"]
            return JSONAnswer({"tags": [dict(t) for t in tags[offset:offset + count]], "total_items": len(tags),
                               "_links": []})

    @router.post("/lists/{list_id}/members/{subscriber_hash}/tags", response_model=None)
    async def post_tags(list_id: str, subscriber_hash: str, request: Request) -> Response:
        authenticate(request)
        body = await _json(request)
        with lock:
            state.set_tags(list_id, subscriber_hash, body)
        return Response(status_code=204)

    return router


def make_control(state: MailchimpState) -> APIRouter:
    """`/_sandbox/mailchimp/rate-limit`: a request budget per window, answered 429 once spent (off by default).

    The live API limits simultaneous connections (10 per user) rather than a rate, and sends no rate-limit
    headers; the emulator's budget is a simpler stand-in that also sends `Retry-After`."""
    control = APIRouter()

    add_rate_limit_routes(control, "Mailchimp", state)

    return control


def build_mailchimp() -> Vendor:
    """The Mailchimp vendor: one API key (`sandbox-mailchimp-key-us21`), one audience (`8e3b1f0c2a`) with the
    FNAME, LNAME and PHONE merge fields, no members."""
    state = MailchimpState()
    return Vendor(name="mailchimp", state=state, router=make_router(state), control=make_control(state))
