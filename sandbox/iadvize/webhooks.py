"""The iAdvize emulator's webhook sender and control routes, under `/_sandbox/iadvize` (docs/sandbox-iadvize.md).

`POST /webhooks/send` renders one `v2.conversation.closed` or `v2.conversation.pushed` event from the current
state, as iAdvize documents it (iadvize/documentation `docs/webhooks.md`), and POSTs it to the URL with
iAdvize's headers: `X-iAdvize-Delivery` (a new UUID per attempt), `X-iAdvize-CorrelationId` (one UUID per
event, the same on retries) and `X-iAdvize-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with the
webhook's secret. A non-2xx answer or a connection error is retried twice, after 10 s then 20 s (iAdvize's
policy; `retryDelays` shrinks it for tests). The body is rendered once, so every attempt carries the same
bytes (and `sentAt` is the first attempt's time). The route answers once the last attempt is done.

`DELETE /tokens` revokes every access token (the next call answers 401 `invalid_token`, as after an expiry).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sandbox.iadvize.document import stamp

if TYPE_CHECKING:
    from sandbox.iadvize.state import IadvizeState

EVENT_TYPES = ("v2.conversation.closed", "v2.conversation.pushed")


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eventType: Literal["v2.conversation.closed", "v2.conversation.pushed"]  # noqa: N815 - iAdvize's names
    conversationId: str = Field(..., description="a conversation of the state")  # noqa: N815
    url: str | None = Field(None, description="where to POST (default: the state's webhook.url)")
    secret: str | None = Field(None, description="signing secret (default: the state's webhook.secret)")
    operatorId: int | None = Field(None, description="pushed: the operator who received the conversation "  # noqa: N815
                                   "(default: the last push of its transcript)")
    retryDelays: list[float] = Field([10.0, 20.0], max_length=10,  # noqa: N815
                                     description="seconds before each retry (iAdvize: 10 then 20)")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds to wait for each answer")


def signature(secret: str, body: bytes) -> str:
    """`X-iAdvize-Signature` of a POST: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _operator_ids(conversation: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    for m in conversation["messages"]:
        for candidate in (m["pushedTo"], m["operatorId"]):
            if candidate is not None and candidate not in ids:
                ids.append(candidate)
    return ids


def render_event(state: IadvizeState, request: SendRequest, now: datetime) -> dict[str, Any]:
    """The event's payload from the current state (ValueError naming what is missing)."""
    with state.lock:
        conversation = state.conversations.get(_uuid(request.conversationId))
        if conversation is None:
            raise ValueError(f"conversationId: no conversation {request.conversationId!r} in the state")
        visitor = state.visitors.get(conversation["visitorId"] or "") or {}
        payload: dict[str, Any] = {
            "eventId": str(uuid.uuid4()), "eventType": request.eventType,
            "platform": state.doc["account"]["platform"], "projectId": conversation["projectId"],
            "clientId": state.doc["account"]["clientId"], "conversationId": conversation["id"],
        }
        if request.eventType == "v2.conversation.closed":
            if conversation["closedAt"] is None:
                raise ValueError(f"conversationId: conversation {conversation['id']} is not closed (no closedAt)")
            payload["operatorIds"] = _operator_ids(conversation)
            created = conversation["closedAt"]
        else:
            pushes = [m for m in conversation["messages"] if m["pushedTo"] is not None]
            operator = request.operatorId if request.operatorId is not None else (
                pushes[-1]["pushedTo"] if pushes else None)
            if operator is None or operator not in state.operators:
                raise ValueError("operatorId: give the operator who received the conversation (its transcript "
                                 "records no push)" if operator is None else f"operatorId: no operator {operator}")
            payload["operatorId"] = operator
            created = pushes[-1]["createdAt"] if pushes else conversation["createdAt"]
        payload.update({"visitorExternalId": visitor.get("externalId"), "channel": conversation["channel"],
                        "createdAt": created, "sentAt": stamp(now)})
        return payload


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


async def deliver(url: str, body: bytes, secret: str, delays: list[float], timeout: float) -> dict[str, Any]:
    """POST `body` until a 2xx answer, retrying after each of `delays`; what every attempt got."""
    correlation = str(uuid.uuid4())
    attempts: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        for n in range(len(delays) + 1):
            if n:
                await asyncio.sleep(delays[n - 1])
            delivery = str(uuid.uuid4())
            headers = {"Content-Type": "application/json", "X-iAdvize-Delivery": delivery,
                       "X-iAdvize-CorrelationId": correlation, "X-iAdvize-Signature": signature(secret, body)}
            try:
                response = await client.post(url, content=body, headers=headers)
                attempts.append({"delivery": delivery, "status": response.status_code})
                if response.is_success:
                    break
            except httpx.HTTPError as exc:
                attempts.append({"delivery": delivery, "status": None, "error": f"{type(exc).__name__}: {exc}"[:300]})
    delivered = attempts[-1]["status"] is not None and 200 <= attempts[-1]["status"] < 300
    return {"correlationId": correlation, "delivered": delivered, "attempts": attempts}


def build_control_router(state: IadvizeState) -> APIRouter:
    """Control routes of the iAdvize emulator, mounted under `/_sandbox/iadvize`."""
    router = APIRouter()

    @router.post("/webhooks/send", summary="Send one signed iAdvize webhook event, with iAdvize's retries")
    async def send(request: SendRequest) -> dict[str, Any]:
        webhook = state.dump()["webhook"]
        url, secret = request.url or webhook["url"], request.secret or webhook["secret"]
        if not url or not secret:
            raise HTTPException(422, "url and secret: give them in the request or in the state's webhook")
        if any(d < 0 or d > 3600 for d in request.retryDelays):
            raise HTTPException(422, "retryDelays: each delay is between 0 and 3600 seconds")
        try:
            payload = render_event(state, request, datetime.now(UTC))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        body = json.dumps(payload, ensure_ascii=False).encode()
        outcome = await deliver(url, body, secret, request.retryDelays, request.timeout)
        return {"eventId": payload["eventId"], "payload": payload, **outcome}

    @router.delete("/tokens", summary="Revoke every access token (the next call answers 401 invalid_token)")
    def revoke() -> dict[str, Any]:
        return {"revoked": state.revoke_tokens()}

    return router
