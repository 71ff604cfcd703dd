"""The example zaps of zaps/ (issue 12, "Example zaps"), each run end to end against the sandbox over real sockets:
the Blocks named `default` saved under the run's Prefect test server and pointing at the emulators, the event sent
by the vendor's emulator through the gateway (OKAST's source with the platform's key; Oxiva's and the noCRM
caller's GETs of a catch hook), the hooks drained as `passerelle zaps run` does, and the effect read back from the
emulator's state. Delays: the run ends delayed with its resume time; time is then moved forward (the resumer's
`wake_due(now)`, and the runner's clock) and the e-mail is read back from the SMTP sink.

Also: every example validates, and `passerelle zaps test <id> --sample` renders each step of it, calling nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from passerelle.cli import demo_zaps
from passerelle.cli.main import app
from passerelle.settings import reset_settings_cache
from passerelle.store.inbox import list_events
from passerelle.zaps import execute
from passerelle.zaps.resume import wake_due
from passerelle.zaps.runs import get_run, list_runs
from passerelle.zaps.spec import load_zap

ZAPS = demo_zaps.ZAPS_FOLDER
PARIS = ZoneInfo("Europe/Paris")  # the examples write dates in Paris time
LEA = {"id": "90001", "email": "Lea.Tremblay@Example.org", "first_name": "Léa", "last_name": "Tremblay"}
cli = CliRunner()
pytestmark = pytest.mark.prefect


@dataclass
class World:
    """The sandbox, the gateway's hook URLs and what a test needs to send, drain and read back."""

    url: str
    hooks: dict[str, str]
    http: httpx.Client

    def okast(self, event: str, user: Any, **fields: Any) -> dict[str, Any]:
        """OKAST's emulator posts one event to the gateway with the platform's key; returns its payload."""
        sent = self.http.post("/_sandbox/okast/events/send", json={
            "event": event, "url": self.hooks["okast"], "user": user, "fields": fields}).raise_for_status().json()
        assert sent["delivered"] == 1, sent
        return sent["payload"]

    async def drain(self) -> None:
        await demo_zaps.drain_examples(ZAPS)

    def state(self, vendor: str) -> dict[str, Any]:
        return self.http.get(f"/_sandbox/{vendor}/state").raise_for_status().json()

    def mails(self) -> list[dict[str, Any]]:
        return self.http.get("/_sandbox/smtp/messages").raise_for_status().json()["messages"]


@pytest.fixture
async def world(sandbox, prefect_server, tmp_path, monkeypatch) -> AsyncIterator[World]:
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PASSERELLE_ZAPS_FOLDER", raising=False)
    reset_settings_cache()
    saved = await demo_zaps.save_connections(sandbox.url)
    demo_zaps.enable_examples()  # the files say `enabled: false`; `passerelle zaps enable` does this
    with httpx.Client(base_url=sandbox.url, timeout=60) as http, demo_zaps.example_gateway(saved["okast_key"]) as hooks:
        yield World(sandbox.url, hooks, http)
        http.post("/_sandbox/smtp/stop")
    reset_settings_cache()


def only_run(zap_id: str) -> Any:
    [run] = list_runs(zap=zap_id)
    return run


def move_clock_to(moment: dt.datetime, monkeypatch) -> None:
    """The runner's clock at `moment` (a delay step compares its time with now)."""
    offset = moment - dt.datetime.now(dt.UTC)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN206 - datetime's own signature
            return dt.datetime.now(tz) + offset

    monkeypatch.setattr(execute, "dt", types.SimpleNamespace(datetime=Later, UTC=dt.UTC, timedelta=dt.timedelta))


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- OKAST → Mailchimp ----------------------------------------------------------------------------------------
async def test_a_new_registration_becomes_a_member_of_the_list_with_first_and_last_name(world: World) -> None:
    world.okast("new_registration", LEA)
    await world.drain()
    world.okast("new_registration", {**LEA, "first_name": "Léa-Marie"})  # she registers again: one member, updated
    await world.drain()
    assert [r.status for r in list_runs(zap="okast-registration-to-mailchimp")] == ["ok", "ok"]
    [audience] = world.state("mailchimp")["lists"]
    [member] = audience["members"]
    assert audience["id"] == "8e3b1f0c2a" and member["email_address"].lower() == "lea.tremblay@example.org"
    assert member["status"] == "subscribed"
    assert (member["merge_fields"]["FNAME"], member["merge_fields"]["LNAME"]) == ("Léa-Marie", "Tremblay")
    digest = hashlib.md5(b"lea.tremblay@example.org").hexdigest()  # noqa: S324 - Mailchimp's member key
    puts = [r for r in world.http.get("/_sandbox/mailchimp/requests").json()["requests"] if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == [f"/mailchimp/lists/8e3b1f0c2a/members/{digest}"] * 2


# -- OKAST new subscription → e-mail 364 days later (annual only) ---------------------------------------------
async def test_an_annual_subscription_gets_its_renewal_e_mail_364_days_later(world: World, monkeypatch) -> None:
    yearly = world.okast("new_subscription", LEA)
    world.okast("new_subscription", "samir.haddad@example.org",
                offer={"id": "off_3", "name": "Abonnement mensuel", "kind": "subscription", "period": "monthly"})
    await world.drain()
    runs = {user_of(r): r for r in list_runs(zap="okast-renewal")}
    assert runs["samir.haddad@example.org"].status == "filtered"  # monthly: no reminder
    run = runs[LEA["email"]]
    assert run.status == "delayed"
    assert aware(run.resume_at) == (utc(yearly["started_at"]).astimezone(PARIS) + dt.timedelta(days=364))  # wall time
    assert world.mails() == [] and wake_due() == {}  # nothing is due yet

    later = aware(run.resume_at) + dt.timedelta(minutes=1)
    assert wake_due(later) == {("okast", "default"): 1}
    move_clock_to(later, monkeypatch)
    await world.drain()
    assert {user_of(r): r.status for r in list_runs(zap="okast-renewal")} == {
        LEA["email"]: "ok", "samir.haddad@example.org": "filtered"}
    [mail] = world.mails()
    renews = utc(yearly["renews_at"]).astimezone(PARIS).strftime("%d/%m/%Y")
    assert mail["envelope_to"] == [LEA["email"]]
    assert mail["subject"] == f"Votre abonnement « {yearly['offer']['name']} » se renouvelle le {renews}"
    assert mail["text"].startswith("Bonjour Léa,") and renews in mail["text"]


def user_of(run: Any) -> str:
    """The e-mail of the user whose OKAST event started `run` (the inbox row as stored)."""
    return next(e.payload["user"]["email"] for e in list_events(source="okast", limit=1000) if e.id == run.inbox_id)


# -- OKAST payment failed → SMS and Slack to the customer team ------------------------------------------------
async def test_a_failed_payment_texts_and_tells_the_customer_team_on_slack(world: World) -> None:
    payload = world.okast("payment_failed", "chloe.martin@example.org")
    await world.drain()
    assert only_run("okast-payment-failed").status == "ok"
    [sms] = world.state("twilio")["messages"]
    assert (sms["to"], sms["from"]) == ("+15145550100", "+15005550006")
    assert "Chloé Martin" in sms["body"] and "chloe.martin@example.org" in sms["body"]
    assert "59,99\u00a0€" in sms["body"]  # the amount in fr-FR: a no-break space before the symbol
    [message] = world.state("slack")["messages"]
    assert message["channel"] == "#general"
    assert "chloe.martin@example.org" in message["text"] and payload["reason"] in message["text"]


# -- OKAST forgot password → Zendesk ticket -------------------------------------------------------------------
async def test_a_forgotten_password_opens_one_zendesk_ticket_for_the_after_sales_team(world: World) -> None:
    payload = world.okast("forgot_password", LEA)
    again = world.http.post(f"/_sandbox/okast/events/{payload['event_id']}/resend",
                            params={"url": world.hooks["okast"]}).raise_for_status().json()
    assert again["delivered"]  # OKAST sent it twice: the gateway kept one
    await world.drain()
    assert only_run("okast-forgot-password").status == "ok"
    zendesk = world.state("zendesk")
    [ticket] = zendesk["tickets"]
    requester = next(u for u in zendesk["users"] if u["id"] == ticket["requester_id"])
    assert requester["email"].lower() == LEA["email"].lower()
    assert ticket["subject"] == f"Mot de passe oublié : {LEA['email']}"
    assert ticket["external_id"] == f"okast-{payload['event_id']}"
    assert {"okast", "mot-de-passe-oublie"} <= set(ticket["tags"]) and ticket["type"] == "question"
    [note] = ticket["comments"]
    assert note["public"] is False and "Léa Tremblay" in note["body"]


# -- OKAST new free copy → Mailchimp tag, then an e-mail 3 days later -----------------------------------------
async def test_a_free_copy_tags_the_user_and_sends_an_e_mail_three_days_later(world: World, monkeypatch) -> None:
    world.okast("new_registration", LEA)  # already a subscriber: keeps that status
    await world.drain()
    copy = world.okast("new_free_copy", LEA)
    world.okast("new_free_copy", "samir.haddad@example.org")  # not in the list yet
    await world.drain()
    members = {m["email_address"].lower(): m for m in world.state("mailchimp")["lists"][0]["members"]}
    assert members["lea.tremblay@example.org"]["status"] == "subscribed"
    assert members["samir.haddad@example.org"]["status"] == "transactional"
    assert all(m["tags"] == ["copie-gratuite"] for m in members.values())
    runs = list_runs(zap="okast-free-copy")
    assert [r.status for r in runs] == ["delayed", "delayed"] and world.mails() == []
    for run in runs:
        received = get_run(run.id)[0].started_at
        assert abs(aware(run.resume_at) - aware(received) - dt.timedelta(days=3)) < dt.timedelta(minutes=1)

    later = max(aware(r.resume_at) for r in runs) + dt.timedelta(minutes=1)
    assert wake_due(later) == {("okast", "default"): 2}
    move_clock_to(later, monkeypatch)
    await world.drain()
    assert [r.status for r in list_runs(zap="okast-free-copy")] == ["ok", "ok"]
    mails = {m["envelope_to"][0].lower(): m for m in world.mails()}
    assert set(mails) == {"lea.tremblay@example.org", "samir.haddad@example.org"}
    assert mails["lea.tremblay@example.org"]["subject"] == f"Vous avez aimé « {copy['offer']['name']} » ?"


# -- Oxiva catch hook → paths → three sheets ------------------------------------------------------------------
async def test_oxivas_calls_are_routed_by_kind_to_three_sheets(world: World) -> None:
    hook = world.hooks["oxiva-to-sheets"]
    world.http.put("/_sandbox/oxiva/dossiers/demo/zapier", json={
        "urls": {"client": hook, "ticket": hook, "activity": hook}, "active": True, "suspended": False,
    }).raise_for_status()
    base = "/_sandbox/oxiva/dossiers/demo/societes"
    client = world.http.post(base, json={"raison_sociale": "Fromagerie Vidal"}).raise_for_status().json()
    activity = world.http.post(f"{base}/11/activites", json={"ccom_sujet": "Relance"}).raise_for_status().json()
    ticket = world.http.post(f"{base}/11/tickets", json={"sticket_sujet": "Caisse"}).raise_for_status().json()
    assert [r["hook"]["status"] for r in (client, activity, ticket)] == [200, 200, 200]
    started = dt.datetime.now(dt.UTC)
    await world.drain()
    assert [r.status for r in list_runs(zap="oxiva-to-sheets")] == ["ok"] * 3
    tabs = {s["title"]: s["rows"] for s in world.state("google-sheets")["spreadsheets"][0]["sheets"]}
    rows = {title: tabs[title][1:] for title in demo_zaps.SHEET_TABS}
    assert all(tabs[title][0] == header for title, header in demo_zaps.SHEET_TABS.items())  # headers kept
    assert [r[:2] for r in rows["Clients"]] == [["client", str(client["client"]["id"])]]
    assert [r[:3] for r in rows["Activités"]] == [["activité", "11", str(activity["activity"]["ccom_id"])]]
    assert [r[:3] for r in rows["Tickets"]] == [["ticket", "11", str(ticket["ticket"]["sticket_id"])]]
    for row in (rows["Clients"][0], rows["Activités"][0], rows["Tickets"][0]):
        when = dt.datetime.strptime(row[-1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)
        assert abs(when - started) < dt.timedelta(minutes=2)  # the time received, Paris time


# -- noCRM: assign, template e-mail, next step, standby 15 days -----------------------------------------------
def lead(world: World, lead_id: int) -> dict[str, Any]:
    return next(x for x in world.state("nocrm")["leads"] if x["id"] == lead_id)


async def test_the_nocrm_example_assigns_mails_moves_and_puts_the_lead_on_standby(world: World) -> None:
    answer = httpx.get(world.hooks["nocrm-lead-follow-up"], params={"lead_id": 145676}, timeout=30)
    assert answer.status_code == 200
    await world.drain()
    assert only_run("nocrm-lead-follow-up").status == "ok"
    after = lead(world, 145676)
    assert after["user_id"] == 2  # Rana Haddad, rana@passerelle.dev
    [mail] = after["emails"]
    assert (mail["to"], mail["email_template_id"]) == ("marie@boulangerie-dupont.fr", 12)
    assert mail["subject"] == "Bienvenue chez Passerelle, Marie Dupont"
    assert after["step_id"] == 22  # Entrant (21) → Contacté, the next step of the pipeline
    today = dt.datetime.now(dt.UTC).date()
    assert after["status"] == "standby"
    assert after["remind_date"][:10] in {str(today + dt.timedelta(days=15)), str(today + dt.timedelta(days=16))}


async def test_a_refused_template_e_mail_stops_the_nocrm_example_before_next_step_and_standby(world: World) -> None:
    httpx.get(world.hooks["nocrm-lead-follow-up"], params={"id": 145678}, timeout=30).raise_for_status()
    await world.drain()
    run = only_run("nocrm-lead-follow-up")
    assert run.status == "failed" and run.error.startswith("steps[2]: "), run.error  # the e-mail step, named
    assert "the lead has no e-mail address" in run.error and "Add the contact's e-mail address" in run.error
    after = lead(world, 145678)  # the lead has no e-mail address (the seed's third refusal)
    assert after["user_id"] == 2 and after["emails"] == []
    assert (after["step_id"], after["status"]) == (21, "todo")


# -- validate and test --sample -------------------------------------------------------------------------------
def test_every_example_validates() -> None:
    result = cli.invoke(app, ["zaps", "validate", str(ZAPS)])
    assert result.exit_code == 0, result.output
    for zap_id in demo_zaps.EXAMPLES:
        assert f"  {zap_id}\n" in result.output
        assert load_zap(ZAPS / f"{zap_id}.yaml").enabled is False


@pytest.mark.parametrize("zap_id", demo_zaps.EXAMPLES)
def test_zaps_test_sample_renders_every_step_and_calls_nothing(zap_id: str) -> None:
    result = cli.invoke(app, ["zaps", "test", zap_id, "--sample", "--folder", str(ZAPS)])
    assert result.exit_code == 0, result.output
    body, last = result.output.rsplit("\n}\n", 1)
    assert last == f"{zap_id}: ok (nothing was called)\n"
    rendered = json.loads(body + "\n}")
    zap = load_zap(ZAPS / f"{zap_id}.yaml")
    expected = [s.id for s in zap.steps]
    if zap_id == "oxiva-to-sheets":  # the sample is a ticket call: the ticket branch only
        expected = ["received", "route", "ticket_row"]
    assert [s["id"] for s in rendered["steps"]] == expected
    for step in rendered["steps"]:
        if step["type"] == "action":
            assert step["inputs"] and "{{" not in json.dumps(step["inputs"]), step
