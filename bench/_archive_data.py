"""Generated data of the archival bench (bench/archive.py): an iAdvize site with closed conversations, the Zendesk
account whose end users some visitors are, and the inbox deliveries the gateway would store for them.

Only the standard library at module level (the Delivery class is imported where it is used).

Per set of conversations (one set per phase, ids distinct across phases): a third of the visitors give an
e-mail that a Zendesk end user has, a third an e-mail no user has, a third none; ``escalated`` of them (10 % by
default) are escalated by their agent as well as closed, half with the escalation delivered before the closed
event and half after.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SITE = "4242"
COUNTRY = "France"
ADMIN_EMAIL = "admin@passerelle.dev"
ZENDESK_TOKEN = "sandbox-zendesk-token"
AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD, PRIORITY_FIELD = 360001, 360002, 360003, 360004
DEFAULT_FORM, ARCHIVE_FORM, ESCALATION_FORM = 10, 30, 20
OPERATORS = [{"id": 100 + i, "firstName": first, "lastName": last, "email": f"{first.lower()}@boutique.example"}
             for i, (first, last) in enumerate((("Ana", "Roy"), ("Marc", "Tremblay"), ("Léa", "Gagnon"),
                                                ("Paul", "Côté"), ("Zoé", "Martin"), ("Hugo", "Bernard")))]
CAMPAIGNS = [{"id": str(uuid.UUID(int=i + 1)), "name": name}
             for i, name in enumerate(("Spring sale", "Checkout help", "Returns", "New customers"))]
LINES = ("Hello, my parcel never arrived", "Let me check the tracking number for you",
         "It was ordered on Monday", "I see it is held at the depot; I will ask them to deliver it tomorrow",
         "Thank you!", "Anything else I can do?", "No, that is all", "Have a nice day")


@dataclass
class ConversationSet:
    """One phase's conversations, what iAdvize and Zendesk hold for them, and their inbox deliveries."""

    label: str
    ids: list[str] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    visitors: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)        # Zendesk end users (matching visitors)
    escalated: set[str] = field(default_factory=set)
    deliveries: list[Any] = field(default_factory=list)

    @property
    def with_user(self) -> int:
        return len(self.users)


def _stamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(label: str, count: int, rng: random.Random, escalated_share: float = 0.1,
             closed_before: datetime | None = None) -> ConversationSet:
    """`count` closed conversations of site SITE (messages 4 to 8, one or two agents), their visitors, the
    Zendesk end users of a third of them, and the deliveries (closed events, escalations)."""
    out = ConversationSet(label)
    end = closed_before or datetime.now(UTC) - timedelta(minutes=30)
    for n in range(count):
        cid, vid = _uuid(rng), _uuid(rng)
        kind = n % 3  # 0: a Zendesk user has the e-mail, 1: nobody has it, 2: no e-mail
        email = None if kind == 2 else f"{label}-visitor-{n}@{'example.com' if kind == 0 else 'nowhere.example'}"
        out.visitors.append({"id": vid, "firstName": f"Visitor{n}", "lastName": label.capitalize(),
                             "email": email, "country": "FR", "externalId": None})
        if kind == 0:
            out.users.append({"name": f"Visitor{n} {label.capitalize()}", "email": email, "role": "end-user"})
        closed = end - timedelta(seconds=n * 7)
        start = closed - timedelta(minutes=rng.randint(3, 15))
        agent = rng.choice(OPERATORS)["id"]
        messages: list[dict[str, Any]] = [{"createdAt": _stamp(start), "author": "system", "text": "",
                                           "pushedTo": agent}]
        for i, text in enumerate(LINES[:rng.randint(4, 8)]):
            when = _stamp(start + timedelta(seconds=20 * (i + 1)))
            messages.append({"createdAt": when, "author": "visitor", "text": text} if i % 2 == 0 else
                            {"createdAt": when, "author": "operator", "operatorId": agent, "text": text})
        out.conversations.append({
            "id": cid, "projectId": int(SITE), "channel": "CHAT", "visitorId": vid, "createdAt": _stamp(start),
            "closedAt": _stamp(closed), "engagementCampaign": rng.choice(CAMPAIGNS), "targetingRule": None,
            "messages": messages})
        out.ids.append(cid)
    picked = rng.sample(out.ids, int(count * escalated_share))
    out.escalated = set(picked)
    first = set(picked[: len(picked) // 2])  # these have their escalation delivered before the closed event
    agents = {c["id"]: next(m for m in c["messages"] if m["author"] == "system")["pushedTo"]
              for c in out.conversations}
    for cid in out.ids:
        events = [closed_delivery(cid)]
        if cid in out.escalated:
            escalation = escalation_delivery(cid, agents[cid])
            events = [escalation, *events] if cid in first else [*events, escalation]
        out.deliveries.extend(events)
    return out


def closed_delivery(cid: str) -> Any:
    from passerelle.store.inbox import Delivery

    correlation = str(uuid.uuid5(uuid.NAMESPACE_URL, f"closed:{cid}"))
    return Delivery(source="iadvize", link=SITE, event_id=f"x-iadvize-correlationid:{correlation}",
                    event_type="v2.conversation.closed", entity_key=f"conversation:{cid}",
                    payload={"eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"event:{cid}")),
                             "eventType": "v2.conversation.closed", "platform": "ha", "projectId": int(SITE),
                             "clientId": 335, "conversationId": cid, "channel": "CHAT"})


def escalation_delivery(cid: str, agent_id: int) -> Any:
    from passerelle.store.inbox import Delivery

    agent = next(o for o in OPERATORS if o["id"] == agent_id)
    return Delivery(source="iadvize", link=SITE, event_id=f"escalation:{cid}", event_type="escalation",
                    entity_key=f"conversation:{cid}",
                    payload={"conversationId": cid,
                             "agent": {k: agent[k] for k in ("id", "firstName", "lastName")},
                             "note": "Synthèse : colis abîmé, renvoyer l'article",
                             "fields": [{"id": PRIORITY_FIELD, "value": "high"}],
                             "escalatedAt": _stamp(datetime.now(UTC))})


def iadvize_state(sets: list[ConversationSet]) -> dict[str, Any]:
    return {"projects": [{"id": int(SITE), "name": "Boutique", "country": COUNTRY}], "operators": OPERATORS,
            "visitors": [v for s in sets for v in s.visitors],
            "conversations": [c for s in sets for c in s.conversations]}


def zendesk_state(sets: list[ConversationSet]) -> dict[str, Any]:
    """Admin (the API user), every set's end users, the three iAdvize fields and a priority field; forms: the
    default (no iAdvize field), the archive form (Agent, Campaign) and the escalation form (all four)."""
    users = [{"id": 1, "name": "Admin", "email": ADMIN_EMAIL, "role": "admin"}]
    users += [dict(u, id=i + 2) for i, u in enumerate(u for s in sets for u in s.users)]
    return {"users": users,
            "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"},
                              {"id": 2, "type": "description", "title": "Description"},
                              {"id": AGENT_FIELD, "type": "text", "title": "iAdvize Agent"},
                              {"id": COUNTRY_FIELD, "type": "text", "title": "iAdvize Country"},
                              {"id": CAMPAIGN_FIELD, "type": "text", "title": "iAdvize Campaign"},
                              {"id": PRIORITY_FIELD, "type": "text", "title": "Customer priority"}],
            "ticket_forms": [{"id": DEFAULT_FORM, "name": "Default", "default": True, "ticket_field_ids": [1, 2]},
                             {"id": ARCHIVE_FORM, "name": "Archive",
                              "ticket_field_ids": [1, 2, AGENT_FIELD, CAMPAIGN_FIELD]},
                             {"id": ESCALATION_FORM, "name": "Escalation",
                              "ticket_field_ids": [1, 2, AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD,
                                                   PRIORITY_FIELD]}]}


def check_tickets(tickets: list[dict[str, Any]], wanted: ConversationSet) -> dict[str, Any]:
    """Tickets per conversation of the set, by ``external_id``: every one must have exactly one; escalated
    ones are open on the escalation form, the others solved."""
    per: dict[str, list[dict[str, Any]]] = {}
    for ticket in tickets:
        per.setdefault(str(ticket.get("external_id")), []).append(ticket)
    counts = [len(per.get(f"iadvize-conversation-{cid}", [])) for cid in wanted.ids]
    wrong_status = 0
    for cid in wanted.ids:
        for ticket in per.get(f"iadvize-conversation-{cid}", []):
            expected = ("open", ESCALATION_FORM) if cid in wanted.escalated else ("solved", ARCHIVE_FORM)
            wrong_status += (ticket["status"], ticket["ticket_form_id"]) != expected
    return {"conversations": len(wanted.ids), "exactly_one": sum(c == 1 for c in counts),
            "missing": sum(c == 0 for c in counts), "duplicated": sum(c > 1 for c in counts),
            "max_per_conversation": max(counts, default=0), "wrong_status_or_form": wrong_status}
