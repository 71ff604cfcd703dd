"""The events an OKAST platform sends, rendered as OKAST would (docs/contracts.md, "OKAST": the payload of each of
the 13 events). The sandbox stands in for OKAST and imports nothing of the product, so the contract is written
here a second time; tests/connectors/test_okast.py checks both copies carry the same fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Fields = Callable[[datetime, int], dict[str, Any]]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offer(n: int, kind: str) -> dict[str, Any]:
    if kind == "subscription":
        return {"id": "off_12", "name": "Abonnement annuel", "kind": "subscription", "period": "yearly"}
    titles = ("Le Voyage de Chihiro", "Les Enfants du Paradis", "Jour de fête", "La Grande Illusion")
    return {"id": f"vod_{400 + n % 97}", "name": titles[n % len(titles)], "kind": kind, "period": None}


def _person(n: int) -> dict[str, str]:
    return {"email": f"proche{n}@example.org", "first_name": "Marc", "last_name": f"Roy{n}"}


def _payment(now: datetime, n: int, at: str, **extra: Any) -> dict[str, Any]:
    return {"payment_id": f"pay_{7000 + n}", "offer": _offer(n, "subscription"), "amount": 59.99, "currency": "EUR",
            at: stamp(now), **extra}


FIELDS: dict[str, Fields] = {
    "new_registration": lambda now, n: {"registered_at": stamp(now)},
    "new_subscription": lambda now, n: {
        "subscription_id": f"sub_{5000 + n}", "offer": _offer(n, "subscription"), "amount": 59.99, "currency": "EUR",
        "started_at": stamp(now), "renews_at": stamp(now + timedelta(days=365))},
    "new_purchase": lambda now, n: {
        "purchase_id": f"pur_{9000 + n}", "offer": _offer(n, "rental"), "amount": 3.99, "currency": "EUR",
        "purchased_at": stamp(now), "expires_at": stamp(now + timedelta(hours=48))},
    "subscription_cancelled": lambda now, n: {
        "subscription_id": f"sub_{5000 + n}", "offer": _offer(n, "subscription"), "cancelled_at": stamp(now),
        "ends_at": stamp(now + timedelta(days=200))},
    "forgot_password": lambda now, n: {"requested_at": stamp(now)},
    "new_gift": lambda now, n: {
        "gift_id": f"gft_{300 + n}", "offer": _offer(n, "subscription"), "amount": 59.99, "currency": "EUR",
        "recipient": _person(n), "purchased_at": stamp(now)},
    "gift_confirmation": lambda now, n: {
        "gift_id": f"gft_{300 + n}", "offer": _offer(n, "subscription"), "giver": _person(n),
        "activated_at": stamp(now)},
    "payment_confirmation": lambda now, n: _payment(now, n, "paid_at"),
    "payment_failed": lambda now, n: _payment(now, n, "failed_at", reason="card_declined"),
    "payment_incomplete": lambda now, n: _payment(now, n, "created_at", reason="authentication_required"),
    "new_free_copy": lambda now, n: {
        "free_copy_id": f"fc_{200 + n}", "offer": _offer(n, "content"), "granted_at": stamp(now),
        "expires_at": stamp(now + timedelta(days=31))},
    "password_created": lambda now, n: {"created_at": stamp(now)},
    "comment_reported": lambda now, n: {
        "comment": {"id": f"com_{60 + n}", "text": "Spoiler dès la première ligne !",
                    "author": {"id": str(20000 + n), **_person(n)}, "posted_at": stamp(now - timedelta(minutes=5))},
        "offer": _offer(n, "content"), "reported_at": stamp(now), "reason": "spoiler"},
}
EVENTS = tuple(FIELDS)


def render(event: str, user: dict[str, Any], now: datetime, n: int, overrides: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """One event's payload: the common fields, the event's own, then `overrides` (a test's chosen values)."""
    if event not in FIELDS:
        raise ValueError(f"event: {event!r} is not an OKAST event; use one of {', '.join(EVENTS)}")
    payload = {"event_id": f"evt_{uuid.uuid4().hex}", "event": event, "occurred_at": stamp(now),
               "user": {k: user.get(k) for k in ("id", "email", "first_name", "last_name")}, **FIELDS[event](now, n)}
    payload.update(overrides or {})
    return payload
