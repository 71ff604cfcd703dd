"""OKAST emulator: the platform side, which posts its events to a webhook URL (a Passerelle gateway's
`/hooks/okast/{connection}?token=…`) with the platform's API key (docs/connector-okast.md, "The emulator").

OKAST has no public API that Passerelle calls (API-NOTES §7), so `/okast` serves nothing; everything is under the
control API, `/_sandbox/okast`:

    POST /events/send                   render and POST one event, or a burst (`count`), to `url` (default: the
                                        state's webhook.url) with `X-Api-Key: <key>` (default: the platform's)
    POST /events/{event_id}/resend      POST a sent event again, the same bytes (a re-delivery)

State document (`PUT /_sandbox/okast/state`; `{}` gives the default):

    {"platform": {"name": "demo-platform", "api_key": "sandbox-okast-key"},
     "webhook": {"url": null},
     "users": [{"id": "18342", "email": "lea.roy@example.org", "first_name": "Léa", "last_name": "Roy"}, …],
     "sent": [{"event_id", "event", "user_email", "payload", "attempts": [{"status"}…], "delivered"}]}
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sandbox.core import Vendor
from sandbox.okast.events import EVENTS, render

DEFAULT_KEY = "sandbox-okast-key"
MAX_SENT = 20000  # sent events kept in the state (the oldest are dropped)
USERS = [{"id": "18342", "email": "lea.roy@example.org", "first_name": "Léa", "last_name": "Roy"},
         {"id": "18343", "email": "samir.haddad@example.org", "first_name": "Samir", "last_name": "Haddad"},
         {"id": "18344", "email": "chloe.martin@example.org", "first_name": "Chloé", "last_name": "Martin"}]


class OkastState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        unknown = set(document) - {"platform", "webhook", "users", "sent"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; allowed: platform, webhook, users, sent")
        platform = {"name": "demo-platform", "api_key": DEFAULT_KEY, **(document.get("platform") or {})}
        if not isinstance(platform["api_key"], str) or not platform["api_key"]:
            raise ValueError("platform.api_key: a non-empty string")
        webhook = {"url": None, **(document.get("webhook") or {})}
        users = document.get("users", USERS)
        if not isinstance(users, list) or not all(isinstance(u, dict) and isinstance(u.get("email"), str)
                                                  for u in users):
            raise ValueError("users: a list of {id, email, first_name, last_name}")
        sent = document.get("sent", [])
        if not isinstance(sent, list):
            raise ValueError("sent: a list")
        with self.lock:
            self.platform, self.webhook = platform, webhook
            self.users, self.sent = copy.deepcopy(users), copy.deepcopy(sent)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy({"platform": self.platform, "webhook": self.webhook, "users": self.users,
                                  "sent": self.sent})

    def user(self, ref: str | dict[str, Any] | None, n: int) -> dict[str, Any]:
        """A user of the platform: given whole, by id or e-mail, else the state's users in turn."""
        if isinstance(ref, dict):
            return ref
        with self.lock:
            if ref is None:
                if not self.users:
                    raise ValueError("user: the state has no users; give one")
                return self.users[n % len(self.users)]
            for u in self.users:
                if ref in (u.get("id"), u.get("email")):
                    return u
        raise ValueError(f"user: no user {ref!r} in the state (give an id, an e-mail or a whole user)")

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.sent.append(entry)
            del self.sent[:-MAX_SENT]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(..., description="one of the 13 events, e.g. new_registration")
    url: str | None = Field(None, description="where to POST (default: the state's webhook.url)")
    api_key: str | None = Field(None, description="the key sent in X-Api-Key (default: the platform's)")
    user: str | dict[str, Any] | None = Field(None, description="a user of the state (id or e-mail) or a whole "
                                              "user object; default: the state's users in turn")
    fields: dict[str, Any] = Field({}, description="values that replace the rendered ones (e.g. a fixed event_id)")
    count: int = Field(1, ge=1, le=5000, description="how many events (a burst), each with its own event_id")
    concurrency: int = Field(8, ge=1, le=64, description="calls in flight at once during a burst")
    retryDelays: list[float] = Field([], max_length=10, description="seconds before each retry of a failed call "  # noqa: N815
                                     "(OKAST documents none: none by default)")
    timeout: float = Field(10.0, gt=0, le=120, description="seconds to wait for each answer")


async def deliver(client: httpx.AsyncClient, url: str, body: bytes, key: str, delays: list[float]) -> list[dict]:
    attempts: list[dict[str, Any]] = []
    for n in range(len(delays) + 1):
        if n:
            await asyncio.sleep(delays[n - 1])
        try:
            answer = await client.post(url, content=body, headers={"Content-Type": "application/json",
                                                                    "X-Api-Key": key})
            attempts.append({"status": answer.status_code})
            if answer.is_success:
                break
        except httpx.HTTPError as exc:
            attempts.append({"status": None, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return attempts


def build_control(state: OkastState) -> APIRouter:
    control = APIRouter()

    async def post_all(url: str, key: str, payloads: list[dict[str, Any]], request: SendRequest) -> list[dict]:
        gate = asyncio.Semaphore(request.concurrency)
        async with httpx.AsyncClient(timeout=request.timeout) as client:
            async def one(payload: dict[str, Any]) -> dict[str, Any]:
                body = json.dumps(payload, ensure_ascii=False).encode()
                async with gate:
                    attempts = await deliver(client, url, body, key, request.retryDelays)
                status = attempts[-1]["status"]
                entry = {"event_id": payload.get("event_id"), "event": payload.get("event"),
                         "user_email": (payload.get("user") or {}).get("email"), "payload": payload,
                         "attempts": attempts, "delivered": status is not None and 200 <= status < 300}
                state.record(entry)
                return entry

            return list(await asyncio.gather(*(one(p) for p in payloads)))

    @control.post("/events/send", summary="Send an OKAST event (or a burst) to a webhook URL with the API key")
    async def send(request: SendRequest) -> dict[str, Any]:
        if request.event not in EVENTS:
            raise HTTPException(422, f"event: {request.event!r} is not an OKAST event; use one of {', '.join(EVENTS)}")
        with state.lock:
            url = request.url or state.webhook.get("url")
            key = request.api_key if request.api_key is not None else state.platform["api_key"]
            base = len(state.sent)
        if not url:
            raise HTTPException(422, "url: give it in the request or in the state's webhook.url")
        if any(d < 0 or d > 3600 for d in request.retryDelays):
            raise HTTPException(422, "retryDelays: each delay is between 0 and 3600 seconds")
        now = datetime.now(UTC)
        try:
            payloads = [render(request.event, state.user(request.user, base + i), now, base + i, request.fields)
                        for i in range(request.count)]
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        sent = await post_all(url, key, payloads, request)
        delivered = sum(e["delivered"] for e in sent)
        statuses: dict[str, int] = {}
        for e in sent:
            statuses[str(e["attempts"][-1]["status"])] = statuses.get(str(e["attempts"][-1]["status"]), 0) + 1
        out: dict[str, Any] = {"sent": len(sent), "delivered": delivered, "statuses": statuses}
        if request.count == 1:
            out.update(payload=sent[0]["payload"], attempts=sent[0]["attempts"])
        return out

    @control.post("/events/{event_id}/resend", summary="POST a sent event again (same bytes, same event_id)")
    async def resend(event_id: str, url: str | None = None, api_key: str | None = None) -> dict[str, Any]:
        with state.lock:
            found = next((e for e in reversed(state.sent) if e.get("event_id") == event_id), None)
            target = url or state.webhook.get("url")
            key = api_key if api_key is not None else state.platform["api_key"]
        if found is None:
            raise HTTPException(404, f"event_id: no sent event {event_id!r}")
        if not target:
            raise HTTPException(422, "url: give it as a query parameter or in the state's webhook.url")
        request = SendRequest(event=found["event"], url=target)
        [entry] = await post_all(target, key, [found["payload"]], request)
        return {"event_id": event_id, "attempts": entry["attempts"], "delivered": entry["delivered"]}

    return control


def build_okast() -> Vendor:
    """The OKAST vendor: the platform `demo-platform` (API key `sandbox-okast-key`), three users, nothing sent."""
    state = OkastState()
    return Vendor(name="okast", state=state, router=APIRouter(), control=build_control(state))
