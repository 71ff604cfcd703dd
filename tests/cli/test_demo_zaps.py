"""`passerelle demo`, example zaps part (passerelle/cli/demo_zaps.py): run against a sandbox over a real socket, the
Blocks saved under the run's Prefect test server. Each printed line is checked against what the emulators hold and
what the store recorded, and outside text (a user's name from OKAST) is printed as text, never read as markup."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import httpx
import pytest
from rich.console import Console

from passerelle.cli import demo_zaps as d
from passerelle.zaps.runs import list_runs
from sandbox.server import SandboxServer

HOSTILE = "[bold]Léa[/bold]\x1b]0;owned\x07"


@pytest.fixture(autouse=True)
def prefect(prefect_server, monkeypatch):
    monkeypatch.delenv("PASSERELLE_ZAPS_FOLDER", raising=False)
    yield


def test_the_demo_runs_each_example_once_and_says_what_it_did() -> None:
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None)
    with SandboxServer() as sandbox, httpx.Client(base_url=sandbox.url, timeout=30) as http:
        users = http.get("/_sandbox/okast/state").json()["users"]
        users[0]["first_name"] = HOSTILE  # lea.roy@example.org, whom the registration example subscribes
        http.put("/_sandbox/okast/state", json={"users": users}).raise_for_status()
        lines = d.run_zap_examples(sandbox.url, console)
        state = {v: http.get(f"/_sandbox/{v}/state").json()
                 for v in ("okast", "mailchimp", "twilio", "slack", "zendesk", "google-sheets", "nocrm")}
        http.post("/_sandbox/smtp/stop")
    text = out.getvalue()
    by_zap = {line.split(":", 1)[0]: line for line in lines}
    assert list(by_zap) == list(d.EXAMPLES) and len(lines) == 7
    for line in lines:
        assert line.replace("\x1b", "\\x1b").replace("\x07", "\\x07") in text  # one printed line each, escaped

    [member] = [m for m in state["mailchimp"]["lists"][0]["members"] if m["email_address"] == "lea.roy@example.org"]
    assert member["merge_fields"]["FNAME"] == HOSTILE and member["status"] == "subscribed"
    assert by_zap["okast-registration-to-mailchimp"].endswith(f"(FNAME {HOSTILE}, LNAME Roy)")
    assert "[bold]Léa[/bold]\\x1b]0;owned\\x07" in text and "\x1b" not in text  # printed as text, made visible

    sent = {e["event"]: e["payload"] for e in state["okast"]["sent"]}
    assert len(sent) == 5 and all(e["delivered"] for e in state["okast"]["sent"])
    started = dt.datetime.fromisoformat(sent["new_subscription"]["started_at"].replace("Z", "+00:00"))
    remind = (started.astimezone(ZoneInfo("Europe/Paris")) + dt.timedelta(days=364)).astimezone(dt.UTC)  # wall time
    [renewal] = list_runs(zap="okast-renewal")
    assert renewal.status == "delayed" and renewal.resume_at.strftime("%Y-%m-%d") == remind.strftime("%Y-%m-%d")
    assert by_zap["okast-renewal"] == (f"okast-renewal: renewal reminder to samir.haddad@example.org delayed until "
                                       f"{remind:%Y-%m-%d} (364 days after the subscription)")

    [sms], [message] = state["twilio"]["messages"], state["slack"]["messages"]
    assert f"SMS {sms['sid']} to +15145550100" in by_zap["okast-payment-failed"]
    assert "chloe.martin@example.org" in message["text"] and message["channel"] in by_zap["okast-payment-failed"]

    [ticket] = state["zendesk"]["tickets"]
    assert by_zap["okast-forgot-password"].startswith(f"okast-forgot-password: Zendesk ticket #{ticket['id']} ")
    assert ticket["external_id"] == f"okast-{sent['forgot_password']['event_id']}"

    [free_copy] = list_runs(zap="okast-free-copy")
    assert free_copy.status == "delayed"
    assert by_zap["okast-free-copy"] == (f"okast-free-copy: chloe.martin@example.org tagged copie-gratuite in "
                                         f"Mailchimp; the follow-up e-mail is delayed until "
                                         f"{free_copy.resume_at:%Y-%m-%d}")

    tabs = {s["title"]: s["rows"] for s in state["google-sheets"]["spreadsheets"][0]["sheets"]}
    assert [len(tabs[t]) for t in ("Clients", "Activités", "Tickets")] == [2, 2, 2]  # a header and one row
    assert by_zap["oxiva-to-sheets"] == ("oxiva-to-sheets: 3 Oxiva calls routed to 1 row(s) in Clients, 1 row(s) in "
                                         "Activités, 1 row(s) in Tickets")

    lead = next(x for x in state["nocrm"]["leads"] if x["id"] == d.NOCRM_LEAD)
    assert (lead["user_id"], lead["step_id"], lead["status"]) == (2, 22, "standby")
    assert by_zap["nocrm-lead-follow-up"] == (
        f"nocrm-lead-follow-up: lead 145676 assigned to Rana Haddad, e-mail \"{lead['emails'][0]['subject']}\" sent to "
        f"marie@boulangerie-dupont.fr, moved to step Contacté, standby until {lead['remind_date']}")
