"""Slack incoming-webhooks emulator, mounted under ``/slack`` (docs/connector-slack.md, "The emulator").

``POST /slack/services/{team_id}/{webhook_id}/{token}`` stands for ``https://hooks.slack.com/services/…``: a JSON
body (or the legacy form field ``payload``) answers ``200`` ``ok`` in plain text; errors are Slack's plain-text
codes with their statuses, and ``429`` with ``Retry-After`` past the webhook's rate.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from sandbox.core import Vendor
from sandbox.slack.state import SlackError, SlackState

__all__ = ["SlackState", "build_slack"]


async def _payload(request: Request) -> Any:
    """The message a webhook call carries: the JSON body, or the JSON of the form field ``payload``."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(raw.decode("utf-8", "replace"))
        raw = (fields.get("payload") or [""])[0].encode()
    try:
        return json.loads(raw)
    except ValueError:
        return None


def make_router(state: SlackState) -> APIRouter:
    router = APIRouter(tags=["slack"])

    @router.post("/services/{team_id}/{webhook_id}/{token}", response_class=PlainTextResponse)
    async def incoming_webhook(team_id: str, webhook_id: str, token: str, request: Request) -> PlainTextResponse:
        payload = await _payload(request)
        try:
            state.receive(team_id, webhook_id, token, payload)
        except SlackError as exc:
            return PlainTextResponse(exc.code, status_code=exc.status, headers=exc.headers)
        return PlainTextResponse("ok")

    return router


def make_control(state: SlackState) -> APIRouter:
    control = APIRouter()

    @control.get("/messages", summary="Messages the Slack webhooks received, oldest first")
    def messages(since: int = 0) -> dict[str, Any]:
        with state.lock:
            return {"total": len(state.messages), "messages": [dict(m) for m in state.messages[since:]]}

    return control


def build_slack() -> Vendor:
    """The Slack incoming-webhooks emulator (discovered by ``sandbox.app.default_vendors``)."""
    state = SlackState()
    return Vendor(name="slack", state=state, router=make_router(state), control=make_control(state))
