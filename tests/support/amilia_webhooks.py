"""Amilia webhook envelopes as the emulator renders them, and the inbox rows the gateway stores them as
(docs/amilia-webhooks.md, "What lands in the inbox")."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from passerelle.store.inbox import Delivery, InboxEvent, store_deliveries
from tests.support.amilia_org import Org

ORG_ID = 8008


def envelope(context: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"OrganizationId": ORG_ID, "Context": context, "Action": action, "Name": f"{context}{action}",
            "EventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "Payload": payload}


def entity_key(context: str, payload: dict[str, Any]) -> str:
    if context == "Registration":
        person = payload.get("Person")
        return f"person:{person['Id']}" if isinstance(person, dict) else f"registration:{payload['Id']}"
    if context == "MembershipPurchased":
        return f"person:{payload['PersonId']}"
    return f"{context.lower()}:{payload['Id']}"


def delivery(link: str, env: dict[str, Any]) -> Delivery:
    body = json.dumps(env, ensure_ascii=False).encode()
    return Delivery(source="amilia", link=link, event_id=hashlib.sha256(body).hexdigest(),
                    event_type=f"{env['Context']}.{env['Action']}",
                    entity_key=entity_key(env["Context"], env["Payload"]), payload=env)


def deliver(link: str, *envelopes: dict[str, Any]) -> list[bool]:
    return store_deliveries([delivery(link, e) for e in envelopes])


# --- envelopes from the factory's records (the API's own shapes) --------------------------------------
def person_event(person: dict[str, Any], action: str = "Create") -> dict[str, Any]:
    payload = {"Id": str(person["Id"])} if action == "Delete" else dict(person)
    return envelope("Person", action, payload)


def account_event(org: Org, account_id: int, action: str = "Delete") -> dict[str, Any]:
    if action == "Delete":
        return envelope("Account", action, {"Id": str(account_id)})
    return envelope("Account", action, next(a for a in org.api_accounts() if a["Id"] == account_id))


def registration_event(reg: dict[str, Any], action: str = "Create") -> dict[str, Any]:
    payload = dict(reg)
    if action == "Delete":
        payload["IsCancelled"] = True
    return envelope("Registration", action, payload)


def membership_event(row: dict[str, Any], action: str = "Create") -> dict[str, Any]:
    keys = ("PersonId", "AccountId", "MembershipId", "MembershipName", "PurchasedDate", "EffectiveDate",
            "ExpirationDate")
    return envelope("MembershipPurchased", action, {k: row[k] for k in keys})


def events(link: str) -> list[InboxEvent]:
    from passerelle.store.inbox import list_events

    return sorted(list_events(link=link, limit=10_000), key=lambda e: e.id)
