"""`passerelle demo`, part 2: iAdvize conversations archived into Zendesk, through the real path.

Loads an iAdvize site (4242, "Boutique FR") and a Zendesk account into the sandbox, saves the site's install
Block (pointing at the sandbox), opens the site's webhook link, has the iAdvize emulator send its signed
`v2.conversation.closed` webhooks to the gateway and POSTs the agents' signed escalations to
`/hooks/iadvize/4242/escalations`, then runs the `iadvize-archive` flow. Prints one line per conversation
(ticket, kind, requester found or not), then does it all again: the second pass creates nothing.

The gateway reads the link's signing secret from the demo itself (a `SigningSecrets` fed in memory) rather than
from a Prefect Secret block; everything else is what production does. docs/iadvize-zendesk.md, "Demo".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from passerelle.cli.safe_text import untrusted

SITE = "4242"
ZENDESK_EMAIL, ZENDESK_TOKEN = "admin@boutique.example", "demo-zendesk-token"
AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD = 360001, 360002, 360003
ESCALATION_FORM = 20
OPERATORS = [(12, "Ana", "Roy"), (13, "Karim", "Benali"), (14, "Léa", "Martin")]
# (first name, last name, e-mail, has a Zendesk user); the last visitor gave no e-mail
VISITORS = [("Jane", "Doe", "jane@example.com", True), ("Paul", "Durand", "paul@example.com", True),
            ("Zoé", "Nul", "zoe@nowhere.example", False), ("Marc", "Petit", "marc@example.com", True),
            ("Inès", "Faure", "ines@example.com", False), ("Hugo", "Blanc", None, False)]
ESCALATED = {1: (13, "Colis abîmé : renvoyer l'article"), 4: (12, "Demande de remboursement, client fidèle")}
CONVERSATIONS = 8


def _cid(n: int) -> str:
    return f"dec0de00-0000-4000-8000-{n:012d}"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def iadvize_state(now: datetime) -> dict[str, Any]:
    visitors = [{"id": f"0151e000-0000-4000-8000-{i:012d}", "firstName": first, "lastName": last, "email": email}
                for i, (first, last, email, _) in enumerate(VISITORS)]
    conversations = []
    for n in range(CONVERSATIONS):
        closed = now - timedelta(minutes=30 + 7 * n)
        start = closed - timedelta(minutes=6)
        operator = OPERATORS[n % len(OPERATORS)][0]
        conversations.append({
            "id": _cid(n), "projectId": int(SITE), "channel": "CHAT", "visitorId": visitors[n % len(visitors)]["id"],
            "createdAt": _time(start), "closedAt": _time(closed),
            "engagementCampaign": {"id": "9b0e6a8e-3f1e-4d53-9a55-0a5b2b5f0c01", "name": "Soldes de printemps"},
            "messages": [
                {"createdAt": _time(start), "author": "system", "text": "", "pushedTo": operator},
                {"createdAt": _time(start + timedelta(seconds=40)), "author": "visitor",
                 "text": "Bonjour, ma commande n'est pas arrivée"},
                {"createdAt": _time(start + timedelta(seconds=90)), "author": "operator", "operatorId": operator,
                 "text": "Je regarde le suivi du colis"}]})
    return {"projects": [{"id": int(SITE), "name": "Boutique FR", "country": "France"}],
            "operators": [{"id": i, "firstName": f, "lastName": la, "email": f"{f.lower()}@boutique.example"}
                          for i, f, la in OPERATORS],
            "visitors": visitors, "conversations": conversations}


def zendesk_state() -> dict[str, Any]:
    users = [{"id": 1, "name": "Admin Boutique", "email": ZENDESK_EMAIL, "role": "admin"}]
    users += [{"name": f"{first} {last}", "email": email, "role": "end-user"}
              for first, last, email, known in VISITORS if known]
    return {"account": {"subdomain": "boutique"}, "api_tokens": [ZENDESK_TOKEN], "users": users,
            "ticket_fields": [{"id": 1, "type": "subject", "title": "Subject"},
                              {"id": 2, "type": "description", "title": "Description"},
                              {"id": AGENT_FIELD, "type": "text", "title": "iAdvize Agent"},
                              {"id": COUNTRY_FIELD, "type": "text", "title": "iAdvize Country"},
                              {"id": CAMPAIGN_FIELD, "type": "text", "title": "iAdvize Campaign"}],
            "ticket_forms": [{"id": 10, "name": "Default", "default": True, "ticket_field_ids": [1, 2]},
                             {"id": ESCALATION_FORM, "name": "Escalade",
                              "ticket_field_ids": [1, 2, AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD]}]}


def _signed(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json",
            "X-iAdvize-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def _escalation(n: int, now: datetime) -> bytes:
    """What the agent's escalation box POSTs (docs/iadvize-zendesk.md, "Escalation contract")."""
    agent_id, note = ESCALATED[n]
    _, first, last = next(o for o in OPERATORS if o[0] == agent_id)
    return json.dumps({"conversationId": _cid(n), "agent": {"id": agent_id, "firstName": first, "lastName": last},
                       "note": note, "escalatedAt": _time(now - timedelta(minutes=20))}).encode()


def _deliver(sandbox_url: str, gateway_url: str, token: str, secret: str, now: datetime) -> dict[str, int]:
    """Every conversation's closed webhook (sent by the iAdvize emulator) and the escalations, to the gateway."""
    import httpx

    hooks = f"{gateway_url}/hooks/iadvize/{SITE}"
    sent = {"webhooks": 0, "escalations": 0, "refused": 0}
    with httpx.Client(timeout=60) as client:
        for n in ESCALATED:  # the agents escalate while closing, before iAdvize's webhook
            answer = client.post(f"{hooks}/escalations", params={"token": token}, content=_escalation(n, now),
                                 headers=_signed(secret, _escalation(n, now)))
            sent["escalations" if answer.is_success else "refused"] += 1
        for n in range(CONVERSATIONS):
            result = client.post(f"{sandbox_url}/_sandbox/iadvize/webhooks/send", json={
                "eventType": "v2.conversation.closed", "conversationId": _cid(n), "url": f"{hooks}?token={token}",
                "secret": secret, "retryDelays": [0.5, 1.0]}).json()
            sent["webhooks" if result.get("delivered") else "refused"] += 1
    return sent


def _save_install(sandbox_url: str) -> None:
    import httpx

    from tasks.iadvize_zendesk.install import IadvizeZendeskInstall, install_block_name

    login = httpx.post(f"{sandbox_url}/iadvize/oauth2/token", timeout=30, data={
        "grant_type": "password", "username": "demo@passerelle.dev", "password": "demo-password"})
    login.raise_for_status()
    IadvizeZendeskInstall(
        site=SITE, zendesk_domain="https://boutique.zendesk.com", zendesk_email=ZENDESK_EMAIL,
        zendesk_api_key=ZENDESK_TOKEN, iadvize_rest_api_key="demo-rest-key",
        iadvize_graphql_token=login.json()["access_token"], zendesk_base_url=f"{sandbox_url}/zendesk",
        iadvize_base_url=f"{sandbox_url}/iadvize", site_country="France", auto_archive=True, escalation=True,
        escalation_form_id=ESCALATION_FORM, escalation_note_label="Synthèse de la demande client en une ligne",
    ).save(install_block_name(SITE), overwrite=True)


def _pass(sandbox_url: str, token: str, secret: str, now: datetime) -> tuple[dict[str, int], dict[str, Any]]:
    import asyncio

    from flows.conversation_archive import archive_conversations
    from passerelle.gateway.app import create_app as create_gateway
    from passerelle.gateway.secrets import SigningSecrets
    from passerelle.gateway.server import GatewayServer

    async def drained_below(source: str, link: str, accepted: int) -> None:
        """The demo runs the archive flow itself just below; no Prefect nudge needed."""

    async def demo_secret(name: str) -> str | None:
        return secret

    with GatewayServer(create_gateway(emitter=drained_below, secrets=SigningSecrets(fetch=demo_secret))) as gw:
        sent = _deliver(sandbox_url, gw.url, token, secret, now)
    report = asyncio.run(archive_conversations(site=SITE, max_seconds=30))
    return sent, report


def _zendesk_tickets(sandbox_url: str) -> dict[str, dict[str, Any]]:
    import httpx

    state = httpx.get(f"{sandbox_url}/_sandbox/zendesk/state", timeout=30).json()
    return {t["external_id"]: t for t in state["tickets"] if t.get("external_id")}


def _print_tickets(console: Console, sandbox_url: str) -> None:
    from passerelle.store.conversation_tickets import tickets_for

    records = tickets_for(SITE, [_cid(n) for n in range(CONVERSATIONS)])
    zendesk = _zendesk_tickets(sandbox_url)
    table = Table(title=f"iAdvize site {SITE} → Zendesk: one ticket per conversation", title_justify="left")
    for column in ("conversation", "visitor", "ticket", "kind", "status", "requester"):
        table.add_column(column)
    for n in range(CONVERSATIONS):
        record = records.get(_cid(n))
        first, last, email, _ = VISITORS[n % len(VISITORS)]
        ticket = zendesk.get(f"iadvize-conversation-{_cid(n)}", {})
        requester = "—" if record is None else "found by e-mail" if record.requester_found else \
            "no user: the API user" if email else "no e-mail: the API user"
        table.add_row(untrusted(_cid(n)), untrusted(f"{first} {last}"),
                      untrusted(ticket.get("id", "none")), untrusted(record.kind if record else "none"),
                      untrusted(ticket.get("status", "")), untrusted(requester))
    console.print(table)


def iadvize_demo(console: Console, sandbox_url: str) -> None:
    """Archive a batch of sandbox iAdvize conversations (some escalated) into the sandbox Zendesk, twice."""
    import httpx

    from passerelle.store.links import create_link

    now = datetime.now(UTC).replace(microsecond=0)
    for vendor, document in (("iadvize", iadvize_state(now)), ("zendesk", zendesk_state())):
        httpx.put(f"{sandbox_url}/_sandbox/{vendor}/state", json=document, timeout=30).raise_for_status()
    console.print(f"\niAdvize → Zendesk: site {SITE} with {CONVERSATIONS} closed conversations, "
                  f"{len(ESCALATED)} escalated by their agent; install Block 'site-{SITE}' saved (auto-archive "
                  f"and escalation on)", highlight=False)
    _save_install(sandbox_url)
    token, secret = create_link("iadvize", SITE), secrets.token_urlsafe(24)
    sent, report = _pass(sandbox_url, token, secret, now)
    console.print(f"The gateway took {sent['webhooks']} signed webhooks and {sent['escalations']} escalations "
                  f"({sent['refused']} refused); the iadvize-archive flow created {report.get('tickets_created', 0)}"
                  f" tickets ({report.get('requesters_found', 0)} with the visitor's Zendesk user as requester)",
                  highlight=False)
    _print_tickets(console, sandbox_url)
    before = len(_zendesk_tickets(sandbox_url))
    sent, again = _pass(sandbox_url, token, secret, now)
    made = len(_zendesk_tickets(sandbox_url)) - before
    skipped = ", ".join(f"{count} {reason}" for reason, count in again.get("skipped", {}).items()) or "none"
    console.print(untrusted(f"Second pass: {sent['webhooks']} webhooks re-sent, {sent['escalations']} escalations "
                            f"re-sent (duplicates acknowledged, not stored); {again.get('tickets_created', 0)} "
                            f"tickets created, {made} new in Zendesk (skipped: {skipped}). A second pass "
                            f"creates nothing."))
