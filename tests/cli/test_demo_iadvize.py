"""`passerelle demo`, iAdvize part (passerelle/cli/demo_iadvize.py): against the sandbox over a real socket, the
gateway and the archive flow under the run's Prefect test server. What it prints is checked against Zendesk's
state, and its second pass against the tickets Zendesk holds (issue 10 item 8: "a second pass creates nothing").
"""

from __future__ import annotations

import io
import re

import httpx
import pytest
from rich.console import Console

from passerelle.cli import demo_iadvize as d
from passerelle.store.conversation_tickets import tickets_for
from sandbox.server import SandboxServer


@pytest.fixture(autouse=True)
def prefect(prefect_server):
    yield


def zendesk_tickets(url: str) -> list[dict]:
    return httpx.get(f"{url}/_sandbox/zendesk/state", timeout=30).json()["tickets"]


def ticket_posts(url: str) -> int:
    log = httpx.get(f"{url}/_sandbox/zendesk/requests", timeout=30).json()["requests"]
    return sum(1 for r in log if r["method"] == "POST" and r["path"].rstrip("/").endswith("/api/v2/tickets"))


def test_the_demo_archives_conversations_escalates_some_and_a_second_pass_creates_nothing(monkeypatch):
    # a visitor's name is outside text: markup in it is printed as text, never read as Rich markup
    visitors = [("[bold]Jane[/bold]", "Doe", *d.VISITORS[0][2:]), *d.VISITORS[1:]]
    monkeypatch.setattr(d, "VISITORS", visitors)
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    with SandboxServer() as sandbox:
        d.iadvize_demo(console, sandbox.url)
        text = out.getvalue()
        tickets = zendesk_tickets(sandbox.url)
        posts = ticket_posts(sandbox.url)

    # one ticket per conversation, the two escalated ones open, the rest solved
    assert len(tickets) == d.CONVERSATIONS == posts
    by_external = {t["external_id"]: t for t in tickets}
    assert len(by_external) == d.CONVERSATIONS
    escalated = {f"iadvize-conversation-{d._cid(n)}" for n in d.ESCALATED}
    assert {k for k, t in by_external.items() if t["status"] == "open"} == escalated
    assert {t["ticket_form_id"] for k, t in by_external.items() if k in escalated} == {d.ESCALATION_FORM}
    records = tickets_for(d.SITE, [d._cid(n) for n in range(d.CONVERSATIONS)])
    assert sorted(r.kind for r in records.values()).count("escalation") == len(d.ESCALATED)

    # what it printed: the gateway's intake, then one row per conversation matching Zendesk
    assert f"took {d.CONVERSATIONS} signed webhooks and {len(d.ESCALATED)} escalations (0 refused)" in text
    assert f"created {d.CONVERSATIONS} tickets" in text
    for n in range(d.CONVERSATIONS):
        ticket = by_external[f"iadvize-conversation-{d._cid(n)}"]
        kind = "escalation" if n in d.ESCALATED else "archive"
        email, known = d.VISITORS[n % len(d.VISITORS)][2:]
        requester = "found by e-mail" if known else "no user: the API user" if email else "no e-mail: the API user"
        row = next(line for line in text.splitlines() if d._cid(n) in line)
        assert re.search(rf"\b{ticket['id']}\b.*\b{kind}\b.*\b{ticket['status']}\b.*{requester}", row), row
    assert "[bold]Jane[/bold] Doe" in text

    # the second pass: everything re-sent, nothing new in Zendesk, and it says so
    assert re.search(r"Second pass: 8 webhooks re-sent, 2 escalations re-sent .*; 0 tickets created, 0 new in "
                     r"Zendesk \(skipped: ", text.replace("\n", " ")), text
    assert "already archived" in text or "escalated" in text.split("Second pass")[1]
