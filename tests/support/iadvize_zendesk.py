"""An iAdvize site and its Zendesk account in the sandbox, for the archival tests (tests/flows, tests/tasks).

Site 4242 ("Boutique", France); agent Ana Roy (12); four closed conversations: JANE's visitor has a Zendesk
user, NOMAIL's visitor gave no e-mail, STRANGER's e-mail matches no user, ESC is the one agents escalate.
Zendesk: admin (id 1, the API user), Jane (end user), the three iAdvize fields; forms: the default one (no
iAdvize field), ARCHIVE_FORM (Agent and Campaign, no Country), ESCALATION_FORM (all three, plus PRIORITY_FIELD
for the escalation's own values).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

SITE = "4242"
AGENT = {"id": 12, "firstName": "Ana", "lastName": "Roy"}
JANE, NOMAIL, STRANGER, ESC, ESC2 = (f"4c8c7408-f73c-42cd-89e9-afbbee7d902{i}" for i in range(5))
JANE_EMAIL = "jane@example.com"
JANE_USER = 2
AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD, PRIORITY_FIELD = 360001, 360002, 360003, 360004
ARCHIVE_FORM, ESCALATION_FORM = 30, 20
ZENDESK_TOKEN = "sandbox-zendesk-token"
ZENDESK_ADMIN = "admin@passerelle.dev"
CLOSED_AT = datetime(2026, 3, 15, 14, 3, tzinfo=UTC)


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def conversation(cid: str, visitor: str | None, minutes_ago: int) -> dict[str, Any]:
    closed = CLOSED_AT - timedelta(minutes=minutes_ago)
    start = closed - timedelta(minutes=5)
    return {"id": cid, "projectId": int(SITE), "channel": "CHAT", "visitorId": visitor,
            "createdAt": _time(start), "closedAt": _time(closed),
            "engagementCampaign": {"id": "9b0e6a8e-3f1e-4d53-9a55-0a5b2b5f0c01", "name": "Spring sale"},
            "messages": [
                {"createdAt": _time(start), "author": "system", "text": "", "pushedTo": 12},
                {"createdAt": _time(start + timedelta(seconds=30)), "author": "visitor",
                 "text": "My parcel never arrived"},
                {"createdAt": _time(start + timedelta(seconds=60)), "author": "operator", "operatorId": 12,
                 "text": "Let me check the tracking number"}]}


def iadvize_state() -> dict[str, Any]:
    visitors = [
        {"id": "b1f1c1a0-0000-4000-8000-000000000001", "firstName": "Jane", "lastName": "Doe",
         "email": JANE_EMAIL},
        {"id": "b1f1c1a0-0000-4000-8000-000000000002", "firstName": "Paul", "lastName": None, "email": None},
        {"id": "b1f1c1a0-0000-4000-8000-000000000003", "firstName": "Zoé", "lastName": "Nul",
         "email": "zoe@nowhere.example"},
    ]
    return {"projects": [{"id": int(SITE), "name": "Boutique", "country": "France"}],
            "operators": [{"id": 12, "firstName": "Ana", "lastName": "Roy", "email": "ana@boutique.example"}],
            "visitors": visitors,
            "conversations": [conversation(JANE, visitors[0]["id"], 50), conversation(NOMAIL, visitors[1]["id"], 40),
                              conversation(STRANGER, visitors[2]["id"], 30), conversation(ESC, visitors[0]["id"], 20),
                              conversation(ESC2, visitors[1]["id"], 10)]}


def zendesk_state() -> dict[str, Any]:
    return {"users": [{"id": 1, "name": "Admin", "email": ZENDESK_ADMIN, "role": "admin"},
                      {"id": JANE_USER, "name": "Jane Doe", "email": JANE_EMAIL, "role": "end-user"}],
            "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"},
                              {"id": 2, "type": "description", "title": "Description"},
                              {"id": AGENT_FIELD, "type": "text", "title": "iAdvize Agent"},
                              {"id": COUNTRY_FIELD, "type": "text", "title": "iAdvize Country"},
                              {"id": CAMPAIGN_FIELD, "type": "text", "title": "iAdvize Campaign"},
                              {"id": PRIORITY_FIELD, "type": "text", "title": "Customer priority"}],
            "ticket_forms": [{"id": 10, "name": "Default", "default": True, "ticket_field_ids": [1, 2]},
                             {"id": ARCHIVE_FORM, "name": "Archive",
                              "ticket_field_ids": [1, 2, AGENT_FIELD, CAMPAIGN_FIELD]},
                             {"id": ESCALATION_FORM, "name": "Escalation",
                              "ticket_field_ids": [1, 2, AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD,
                                                   PRIORITY_FIELD]}]}


def load(sandbox_url: str) -> None:
    for vendor, doc in (("iadvize", iadvize_state()), ("zendesk", zendesk_state())):
        httpx.put(f"{sandbox_url}/_sandbox/{vendor}/state", json=doc, timeout=30).raise_for_status()


def graphql_token(iadvize_url: str) -> str:
    """A bearer token of the sandbox's default login (what iAdvize's support would hand out)."""
    answer = httpx.post(f"{iadvize_url}/oauth2/token", data={"grant_type": "password", "username":
                        "demo@passerelle.dev", "password": "demo-password"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def closed_delivery(cid: str, event_id: str | None = None):
    from passerelle.store.inbox import Delivery

    return Delivery(source="iadvize", link=SITE, event_id=event_id or f"corr-{cid}",
                    event_type="v2.conversation.closed", entity_key=f"conversation:{cid}",
                    payload={"eventId": event_id or f"evt-{cid}", "eventType": "v2.conversation.closed",
                             "platform": "ha", "projectId": int(SITE), "clientId": 335, "conversationId": cid,
                             "channel": "CHAT", "operatorIds": [12]})


def escalation_delivery(cid: str, note: str = "Refund the parcel", fields: list | None = None):
    from passerelle.store.inbox import Delivery

    return Delivery(source="iadvize", link=SITE, event_id=f"escalation:{cid}", event_type="escalation",
                    entity_key=f"conversation:{cid}",
                    payload={"conversationId": cid, "agent": AGENT, "note": note,
                             "fields": fields if fields is not None else [{"id": PRIORITY_FIELD, "value": "high"}],
                             "escalatedAt": "2026-03-15T14:03:22Z"})


def tickets(sandbox_url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{sandbox_url}/_sandbox/zendesk/state", timeout=30).json()["tickets"]


def ticket_of(sandbox_url: str, cid: str) -> dict[str, Any]:
    found = [t for t in tickets(sandbox_url) if t["external_id"] == f"iadvize-conversation-{cid}"]
    assert len(found) == 1, f"{len(found)} tickets for conversation {cid}"
    return found[0]


def field_value(ticket: dict[str, Any], field_id: int) -> Any:
    return next(c["value"] for c in ticket["custom_fields"] if c["id"] == field_id)
