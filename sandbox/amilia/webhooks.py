"""The Amilia emulator's webhook sender: `POST /_sandbox/amilia/webhooks/fire` (docs/sandbox-amilia.md).

Amilia POSTs one envelope per call, `{"OrganizationId", "Context", "Action", "Name", "EventTime", "Payload"}`,
and retries a failed delivery at a regular interval (for ~72 h). Here a test names the events; the emulator
renders each envelope from its *current* state, as the API would answer, and posts them in order, one at a
time, retrying each on a non-2xx answer or a connection error every `retry_interval` seconds, up to
`max_attempts`. An envelope is rendered once, so its retries carry the same bytes (as Amilia's do).

Payloads: Person/Account/Program/Activity Create|Update → the object as `GET …/{id}` answers it; their
Delete → `{"Id": "<id>"}` only (a string, as Amilia's thin payloads); Registration Create|Update|Delete →
the registration as the API renders it (Delete forces `IsCancelled: true`); MembershipPurchased Create → the
membership-person row of `GET /memberships/{id}/persons`. Anything else: give the whole envelope.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sandbox.amilia import render
from sandbox.amilia.state import AmiliaData, AmiliaState

ACTIONS = ("Create", "Update", "Delete")


class FireEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Context: str | None = Field(None, description="Person, Account, Registration, MembershipPurchased, "
                                "Program or Activity (others: give `envelope`)")
    Action: str | None = Field(None, description="Create, Update or Delete")
    Id: int | str | None = Field(None, description="the object's id (not for MembershipPurchased)")
    PersonId: int | None = Field(None, description="MembershipPurchased: the holder")
    MembershipId: int | None = Field(None, description="MembershipPurchased: which membership (default: "
                                     "the person's latest purchase)")
    envelope: dict[str, Any] | None = Field(None, description="a whole envelope, sent verbatim")


class FireRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="the subscription's URL (e.g. a gateway receiver with its token)")
    events: list[FireEvent] = Field(..., min_length=1)
    retry_interval: float = Field(1.0, ge=0, le=3600, description="seconds between attempts of a delivery")
    max_attempts: int = Field(5, ge=1, le=10000, description="attempts per delivery (Amilia: ~72 h worth)")
    name: str = Field("Passerelle", description="the subscription's name, sent as the envelope's `Name`")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds to wait for each answer")


def event_time(data: AmiliaData) -> str:
    """Now, in UTC, on the emulator's clock date: `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    now = datetime.now(UTC)
    return f"{data.clock().isoformat()}T{now:%H:%M:%S.%f}Z"


def _find(index: dict[int, Any], raw: int | str | None, what: str) -> Any:
    try:
        key = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} needs a numeric Id, got {raw!r}") from None
    if key not in index:
        raise ValueError(f"{what} {key} is not in the emulator's state")
    return index[key]


def render_payload(data: AmiliaData, e: FireEvent) -> dict[str, Any]:
    context, action = e.Context, e.Action
    if action not in ACTIONS:
        raise ValueError(f"Action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if context in ("Person", "Account", "Program", "Activity"):
        if action == "Delete":
            if e.Id is None:
                raise ValueError(f"{context} Delete needs an Id")
            return {"Id": str(e.Id)}
        index, show = {"Person": (data.person_by_id, render.person), "Account": (data.account_by_id, render.account),
                       "Program": (data.program_by_id, render.program),
                       "Activity": (data.activity_by_id, render.activity)}[context]
        return show(data, _find(index, e.Id, context))
    if context == "Registration":
        registration = render.registration(data, _find({r["Id"]: r for r in data.registrations}, e.Id, context))
        if action == "Delete":
            registration["IsCancelled"] = True
        return registration
    if context == "MembershipPurchased":
        if action != "Create":
            raise ValueError("only MembershipPurchased Create is emulated; give an envelope for others")
        rows = [mp for mp in data.membership_persons if mp["PersonId"] == e.PersonId
                and (e.MembershipId is None or mp["MembershipId"] == e.MembershipId)]
        if not rows:
            raise ValueError(f"no membership purchase of person {e.PersonId} (membership {e.MembershipId}) "
                             f"in the emulator's state")
        latest = max(rows, key=lambda mp: mp["PurchasedDate"])
        return render.membership_person(data, latest, data.clock().isoformat())
    raise ValueError(f"Context {context!r} is not emulated; give the whole envelope as {{\"envelope\": {{...}}}}")


def render_envelope(data: AmiliaData, e: FireEvent, name: str) -> dict[str, Any]:
    if e.envelope is not None:
        return e.envelope
    return {"OrganizationId": data.organization["Id"], "Context": e.Context, "Action": e.Action, "Name": name,
            "EventTime": event_time(data), "Payload": render_payload(data, e)}


async def deliver(client: httpx.AsyncClient, url: str, body: bytes, retry_interval: float,
                  max_attempts: int) -> dict[str, Any]:
    """POST `body` until a 2xx answer or `max_attempts`; the outcome of the last attempt."""
    outcome: dict[str, Any] = {}
    for attempt in range(1, max_attempts + 1):
        try:
            response = await client.post(url, content=body,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
            outcome = {"status": response.status_code, "attempts": attempt}
            if response.is_success:
                return outcome
        except httpx.HTTPError as exc:
            outcome = {"status": None, "attempts": attempt, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if attempt < max_attempts:
            await asyncio.sleep(retry_interval)
    return outcome


def build_webhook_router(state: AmiliaState) -> APIRouter:
    """Control routes of the Amilia emulator, mounted under `/_sandbox/amilia`."""
    router = APIRouter()

    @router.post("/webhooks/fire", summary="Send Amilia webhook deliveries rendered from the current state")
    async def fire(request: FireRequest) -> dict[str, Any]:
        data = state.data
        envelopes = []
        for i, event in enumerate(request.events):  # render all first: a bad event sends nothing
            try:
                envelopes.append(render_envelope(data, event, request.name))
            except ValueError as exc:
                raise HTTPException(422, f"events[{i}]: {exc}") from None
        results = []
        async with httpx.AsyncClient(timeout=request.timeout) as client:
            for envelope in envelopes:
                body = json.dumps(envelope, ensure_ascii=False).encode()
                results.append(await deliver(client, request.url, body, request.retry_interval,
                                             request.max_attempts))
        sent = sum(1 for r in results if r["status"] is not None and 200 <= r["status"] < 300)
        return {"sent": sent, "failed": len(results) - sent, "results": results}

    return router
