"""`passerelle demo`, part 3: the example zaps of `zaps/` (docs/zap-examples.md) run against the sandbox.

`run_zap_examples(sandbox_url, console)` saves the credentials Blocks named `default` of the apps the examples use
(each pointing at its emulator, the secrets read from the emulator's state), opens the hooks, and has each vendor
start its example the way it would in production:

- the OKAST emulator posts five platform events (registration, subscription, payment failed, forgot password, free
  copy) to the gateway's `/hooks/okast/default` with the platform's API key;
- the Oxiva emulator, whose Zapier panel holds the one catch-hook URL on its three lines, calls it when a client, a
  commercial activity and a ticket are created;
- a caller GETs the noCRM example's catch hook with `?lead_id=145676`.

Then it switches the examples on in the store (their YAML says `enabled: false`), drains every hook once (the
`passerelle zaps run` sweep) and prints one line per example saying what it did, read back from the emulators (the
Mailchimp member, the SMS and the Slack message, the Zendesk ticket, the sheets' rows, the noCRM lead) and from the
store (a delayed run's resume time). Outside text is printed escaped (passerelle/cli/safe_text.py).

The gateway reads the OKAST key from the demo itself (an in-memory `SigningSecrets`), as demo_iadvize.py does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from passerelle.cli.safe_text import untrusted

ZAPS_FOLDER = Path(__file__).resolve().parents[2] / "zaps"
CONNECTION = "default"
EXAMPLES = ("okast-registration-to-mailchimp", "okast-renewal", "okast-payment-failed", "okast-forgot-password",
            "okast-free-copy", "oxiva-to-sheets", "nocrm-lead-follow-up")
OKAST_EVENTS = {"okast-registration-to-mailchimp": ("new_registration", "lea.roy@example.org"),
                "okast-renewal": ("new_subscription", "samir.haddad@example.org"),
                "okast-payment-failed": ("payment_failed", "chloe.martin@example.org"),
                "okast-forgot-password": ("forgot_password", "lea.roy@example.org"),
                "okast-free-copy": ("new_free_copy", "chloe.martin@example.org")}
SHEET_TABS = {"Clients": ["Type", "Société", "Reçu le"],
              "Activités": ["Type", "Société", "Activité (ccom_id)", "Reçu le"],
              "Tickets": ["Type", "Société", "Ticket (sticket_id)", "Reçu le"]}
NOCRM_LEAD = 145676
OXIVA_DOSSIER, OXIVA_SOCIETE = "demo", "11"
SENDER = "OKAST <noreply@okast.example>"


def zaps_folder() -> Path:
    """Where the examples are: ``$PASSERELLE_ZAPS_FOLDER``, else the project's ``zaps/``."""
    return Path(os.environ.get("PASSERELLE_ZAPS_FOLDER") or ZAPS_FOLDER)


def _state(http: httpx.Client, vendor: str) -> dict[str, Any]:
    return http.get(f"/_sandbox/{vendor}/state").raise_for_status().json()


def add_sheet_tabs(http: httpx.Client) -> str:
    """Give the sandbox's spreadsheet the three tabs of oxiva-to-sheets (Clients, Activités, Tickets) with a header
    row each, keeping what it holds; returns its id."""
    state = _state(http, "google-sheets")
    sheet = state["spreadsheets"][0]
    have = {s["title"] for s in sheet["sheets"]}
    sheet["sheets"] += [{"title": title, "rows": [header]} for title, header in SHEET_TABS.items() if title not in have]
    http.put("/_sandbox/google-sheets/state", json=state).raise_for_status()
    return sheet["spreadsheetId"]


async def save_connections(sandbox_url: str, name: str = CONNECTION) -> dict[str, Any]:
    """Save, under `name`, the credentials Block of each app the examples use, pointing at the sandbox (credentials
    read from each emulator's state; the SMTP sink started). Returns the sink (host, ports) and the OKAST key."""
    from connectors.google_sheets import GoogleSheetsCredentials
    from connectors.mailchimp.credentials import MailchimpCredentials
    from connectors.nocrm.credentials import NocrmCredentials
    from connectors.okast import OkastCredentials
    from connectors.slack.credentials import SlackCredentials
    from connectors.smtp import SmtpCredentials
    from connectors.twilio.credentials import TwilioCredentials
    from connectors.zendesk.credentials import ZendeskCredentials

    with httpx.Client(base_url=sandbox_url, timeout=30) as http:
        okast, zendesk, nocrm = _state(http, "okast"), _state(http, "zendesk"), _state(http, "nocrm")
        twilio, slack = _state(http, "twilio")["accounts"][0], _state(http, "slack")["webhooks"][0]
        smtp_user = _state(http, "smtp")["users"][0]
        sink = http.post("/_sandbox/smtp/start").raise_for_status().json()
        add_sheet_tabs(http)
        sheets_key = http.post("/_sandbox/google-sheets/keys", json={}).raise_for_status().json()
        mailchimp_key = _state(http, "mailchimp")["api_keys"][0]
    admin = next(u for u in zendesk["users"] if u.get("role") == "admin")
    blocks = [
        OkastCredentials(api_key=okast["platform"]["api_key"]),
        MailchimpCredentials(api_key=mailchimp_key, base_url=f"{sandbox_url}/mailchimp"),
        SmtpCredentials(host=sink["host"], port=sink["port"], security="starttls", username=smtp_user["username"],
                        password=smtp_user["password"], default_sender=SENDER, ca_certificate=sink["certificate"]),
        TwilioCredentials(account_sid=twilio["sid"], auth_token=twilio["auth_token"], base_url=f"{sandbox_url}/twilio"),
        SlackCredentials(webhook_url=f"https://hooks.slack.com/services/{slack['team_id']}/{slack['webhook_id']}/"
                         f"{slack['token']}", base_url=f"{sandbox_url}/slack"),
        ZendeskCredentials(domain=f"https://{zendesk['account']['subdomain']}.zendesk.com", email=admin["email"],
                           api_token=zendesk["api_tokens"][0], base_url=f"{sandbox_url}/zendesk"),
        GoogleSheetsCredentials(service_account_key=json.dumps(sheets_key), base_url=f"{sandbox_url}/google-sheets"),
        NocrmCredentials(account=nocrm["account"]["subdomain"], api_key=nocrm["api_keys"][0],
                         base_url=f"{sandbox_url}/nocrm"),
    ]
    for block in blocks:
        await block.asave(name, overwrite=True)
    return {"sink": sink, "okast_key": okast["platform"]["api_key"]}


@contextmanager
def example_gateway(okast_key: str, connection: str = CONNECTION) -> Iterator[dict[str, str]]:
    """The gateway on a real socket with the examples' links open (OKAST `connection`, the two catch hooks; tokens
    rotated); yields their URLs: ``okast``, ``oxiva-to-sheets``, ``nocrm-lead-follow-up``. The OKAST key is the
    link's secret, given from memory instead of a Prefect Secret block."""
    from passerelle.gateway.app import create_app as create_gateway
    from passerelle.gateway.secrets import SigningSecrets, secret_block_name
    from passerelle.gateway.server import GatewayServer
    from passerelle.store.links import create_link

    async def drained_below(source: str, link: str, accepted: int) -> None:
        """The caller drains the hooks itself; no Prefect nudge needed."""

    async def okast_secret(name: str) -> str | None:
        return okast_key if name == secret_block_name("okast", connection) else None

    okast_token = create_link("okast", connection)
    catch = {hook: create_link("catch", hook) for hook in ("oxiva-to-sheets", "nocrm-lead-follow-up")}
    with GatewayServer(create_gateway(emitter=drained_below, secrets=SigningSecrets(fetch=okast_secret))) as gateway:
        yield {"okast": f"{gateway.url}/hooks/okast/{connection}?token={okast_token}",
               **{hook: f"{gateway.url}/hooks/catch/{hook}/{token}/" for hook, token in catch.items()}}


def deliver_events(sandbox_url: str, urls: dict[str, str], marker: str | None = None) -> dict[str, Any]:
    """One event per example, sent by the vendor's emulator (OKAST, Oxiva) or a caller (noCRM's hook). Returns what
    each sender answered. A catch hook stores an identical call once, and a fresh sandbox gives the same ids again:
    `marker` (default: the time) is added to the catch calls so that a demo run again on the same store runs again."""
    marker = marker or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    sent: dict[str, Any] = {}
    with httpx.Client(base_url=sandbox_url, timeout=60) as http:
        for zap_id, (event, user) in OKAST_EVENTS.items():
            sent[zap_id] = http.post("/_sandbox/okast/events/send", json={
                "event": event, "url": urls["okast"], "user": user}).raise_for_status().json()
        hook = f"{urls['oxiva-to-sheets']}?demo={marker}"
        http.put(f"/_sandbox/oxiva/dossiers/{OXIVA_DOSSIER}/zapier", json={
            "urls": {"client": hook, "ticket": hook, "activity": hook}, "active": True, "suspended": False,
        }).raise_for_status()
        base = f"/_sandbox/oxiva/dossiers/{OXIVA_DOSSIER}/societes"
        sent["oxiva-to-sheets"] = [
            http.post(base, json={"raison_sociale": "Fromagerie Vidal", "ville": "Annecy"}).raise_for_status().json(),
            http.post(f"{base}/{OXIVA_SOCIETE}/activites", json={"ccom_type": "call", "ccom_sujet": "Relance devis"}
                      ).raise_for_status().json(),
            http.post(f"{base}/{OXIVA_SOCIETE}/tickets", json={"sticket_sujet": "Caisse bloquée"}
                      ).raise_for_status().json()]
    answer = httpx.get(urls["nocrm-lead-follow-up"], params={"lead_id": NOCRM_LEAD, "demo": marker}, timeout=30)
    sent["nocrm-lead-follow-up"] = {"status": answer.status_code}
    return sent


def enable_examples(url: str | None = None) -> None:
    """Switch the examples on in the store (their files keep `enabled: false`)."""
    from passerelle.zaps.runs import set_enabled

    for zap_id in EXAMPLES:
        set_enabled(zap_id, True, url=url)


async def drain_examples(folder: Path | None = None) -> Any:
    """Drain every hook with calls waiting, the examples read from `folder` (`passerelle zaps run`'s sweep)."""
    from passerelle.engine import DrainOptions
    from passerelle.zaps.runner import ZapHandler
    from passerelle.zaps.sweep import sweep

    options = DrainOptions(batch_size=100, max_seconds=120, linger=0.2, poll=0.05)
    return await sweep("demo-zaps", options=options,
                       handler_factory=functools.partial(ZapHandler, folder=folder or zaps_folder()))


# -- what each example did, read back -------------------------------------------------------------------------
def _latest(zap_id: str) -> Any:
    found = _runs(zap_id, 1)
    return found[0] if found else None


def _not_done(zap_id: str, run: Any, wanted: str = "ok") -> str | None:
    if run is None:
        return f"{zap_id}: no run (the event did not arrive)"
    if run.status != wanted:
        return f"{zap_id}: run {run.id} {run.status}: {run.error or 'no error recorded'}"
    return None


def _day(run: Any) -> str:
    """The day a delayed run goes on (UTC, as the store keeps it)."""
    return run.resume_at.strftime("%Y-%m-%d")


def _undelivered(zap_id: str, sent: Any) -> str | None:
    """Why this demo's event of `zap_id` did not reach the gateway, or None."""
    if zap_id in OKAST_EVENTS and not sent.get("delivered"):
        return f"{zap_id}: the gateway did not accept OKAST's event (answers: {sent.get('statuses')})"
    if zap_id == "oxiva-to-sheets" and any(c["hook"].get("status") != 200 for c in sent):
        return f"{zap_id}: the hook refused Oxiva's calls: {[c['hook'] for c in sent]}"
    if zap_id == "nocrm-lead-follow-up" and sent.get("status") != 200:
        return f"{zap_id}: the hook answered {sent.get('status')}"
    return None


def _describe(zap_id: str, states: dict[str, dict[str, Any]], sent: dict[str, Any]) -> str:
    if problem := _undelivered(zap_id, sent[zap_id]):
        return problem
    run = _latest(zap_id)
    email = OKAST_EVENTS.get(zap_id, (None, ""))[1]
    if zap_id == "okast-registration-to-mailchimp":
        if problem := _not_done(zap_id, run):
            return problem
        audience = states["mailchimp"]["lists"][0]
        member = next(m for m in audience["members"] if m["email_address"] == email)
        fields = member["merge_fields"]
        return (f"{zap_id}: member {email} added to list {audience['id']} ({audience['name']}), {member['status']} "
                f"(FNAME {fields.get('FNAME')}, LNAME {fields.get('LNAME')})")
    if zap_id in ("okast-renewal", "okast-free-copy"):
        if problem := _not_done(zap_id, run, "delayed"):
            return problem
        if zap_id == "okast-renewal":
            return f"{zap_id}: renewal reminder to {email} delayed until {_day(run)} (364 days after the subscription)"
        member = next(m for m in states["mailchimp"]["lists"][0]["members"] if m["email_address"] == email)
        return (f"{zap_id}: {email} tagged {', '.join(member['tags'])} in Mailchimp; the "
                f"follow-up e-mail is delayed until {_day(run)}")
    if zap_id == "okast-payment-failed":
        if problem := _not_done(zap_id, run):
            return problem
        sms, message = states["twilio"]["messages"][-1], states["slack"]["messages"][-1]
        return (f"{zap_id}: SMS {sms['sid']} to {sms['to']} ({sms['status']}) and a Slack message in "
                f"{message['channel']} about {email}")
    if zap_id == "okast-forgot-password":
        if problem := _not_done(zap_id, run):
            return problem
        ticket = states["zendesk"]["tickets"][-1]
        return f"{zap_id}: Zendesk ticket #{ticket['id']} \"{ticket['subject']}\" ({ticket['status']})"
    if zap_id == "oxiva-to-sheets":
        calls = len(sent.get(zap_id, []))
        runs = _runs(zap_id, calls)  # this demo's: one per call
        if problem := _not_done(zap_id, next((r for r in runs if r.status != "ok"), runs[0] if runs else None)):
            return problem
        tabs = {s["title"]: len(s["rows"]) - 1 for s in states["google-sheets"]["spreadsheets"][0]["sheets"]
                if s["title"] in SHEET_TABS}
        return f"{zap_id}: {calls} Oxiva calls routed to " + ", ".join(f"{n} row(s) in {t}" for t, n in tabs.items())
    if problem := _not_done(zap_id, run):
        return problem
    lead = next(x for x in states["nocrm"]["leads"] if x["id"] == NOCRM_LEAD)
    owner = next(u for u in states["nocrm"]["users"] if u["id"] == lead["user_id"])
    step = next(s for s in states["nocrm"]["steps"] if s["id"] == lead["step_id"])
    mail = lead["emails"][-1]
    return (f"{zap_id}: lead {lead['id']} assigned to {owner['firstname']} {owner['lastname']}, e-mail "
            f"\"{mail['subject']}\" sent to {mail['to']}, moved to step {step['name']}, {lead['status']} until "
            f"{lead['remind_date']}")


def _runs(zap_id: str, limit: int) -> list[Any]:
    from passerelle.zaps.runs import list_runs

    return list_runs(zap=zap_id, limit=max(1, limit))


def run_zap_examples(sandbox_url: str, console: Console) -> list[str]:
    """Run every example zap once against the running sandbox and print (and return) one line per example."""
    console.print(f"\nExample zaps ({len(EXAMPLES)}, from {zaps_folder()}): Blocks '{CONNECTION}' saved for OKAST, "
                  "Mailchimp, SMTP, Twilio, Slack, Zendesk, Google Sheets and noCRM, pointing at the sandbox",
                  markup=False, highlight=False)
    saved = asyncio.run(save_connections(sandbox_url))
    enable_examples()
    with example_gateway(saved["okast_key"]) as urls:
        sent = deliver_events(sandbox_url, urls)
    asyncio.run(drain_examples())
    with httpx.Client(base_url=sandbox_url, timeout=30) as http:
        states = {v: _state(http, v) for v in ("mailchimp", "twilio", "slack", "zendesk", "google-sheets", "nocrm")}
    lines = [_describe(zap_id, states, sent) for zap_id in EXAMPLES]
    for line in lines:
        console.print(untrusted(line))
    return lines
