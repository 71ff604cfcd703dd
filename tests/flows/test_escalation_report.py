"""The weekly escalation report (flows/escalation_report.py): rows put in the store's conversation_ticket table,
the flow run under prefect_test_harness, its artifacts read back from Prefect.

ISO weeks (ISO 8601): Monday 2026-03-02 is in 2026-W10, Sunday 2026-03-08 too, Monday 2026-03-09 in W11;
2025-12-29 (a Monday) is in 2026-W01, since that week holds 4 January 2026.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime

import pytest
from prefect.client.orchestration import get_client

from flows.escalation_report import artifact_key, escalation_report
from passerelle.store.conversation_tickets import ARCHIVE, ESCALATION, TicketRecord, record_ticket
from tasks.iadvize_zendesk.report import iso_week, markdown_text, report_window

SITE = "4242"
ANA, BOB = (12, "Ana Roy"), (13, "Bob [Lee](https://evil.example) | <img src=x onerror=alert(1)>")


def escalate(n: int, agent: tuple[int, str] | None, at: datetime, *, site: str = SITE, kind: str = ESCALATION):
    record_ticket(TicketRecord(site=site, conversation_id=f"conv-{site}-{n}", kind=kind, ticket_id=1000 + n,
                               agent_id=agent[0] if agent else None, agent_name=agent[1] if agent else None,
                               escalated_at=at if kind == ESCALATION else None, created_at=at))


def at(day: int, month: int = 3, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def artifacts(key: str) -> list:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


def test_the_default_period_is_the_last_twelve_full_weeks():
    assert report_window(None, None, today=date(2026, 3, 18)) == (date(2025, 12, 22), date(2026, 3, 15))
    assert report_window(date(2026, 3, 2), None, today=date(2026, 3, 18)) == (date(2026, 3, 2), date(2026, 3, 15))
    assert report_window(None, date(2026, 3, 11)) == (date(2025, 12, 22), date(2026, 3, 11))
    assert iso_week(date(2025, 12, 29)) == "2026-W01" and iso_week(date(2026, 3, 8)) == "2026-W10"
    with pytest.raises(ValueError, match=r"end \(2026-03-01\) is before start \(2026-03-02\)"):
        report_window(date(2026, 3, 2), date(2026, 3, 1))


async def test_escalations_per_agent_per_iso_week_and_the_chart():
    escalate(1, ANA, at(2))              # Monday, W10
    escalate(2, ANA, at(8, hour=23))     # Sunday late, still W10
    escalate(3, BOB, at(9))              # Monday, W11
    escalate(4, ANA, at(18))             # W12
    escalate(5, None, at(19))            # no agent known (adopted ticket): counted apart
    escalate(6, ANA, at(10), kind=ARCHIVE)            # an archive: not an escalation
    escalate(7, ANA, at(10), site="9999")             # another site
    escalate(8, ANA, at(23))                          # after the period
    report = await escalation_report(site=SITE, start=date(2026, 3, 2), end=date(2026, 3, 22))
    assert report["escalations"] == 5 and report["start"] == "2026-03-02" and report["end"] == "2026-03-22"

    [table] = await artifacts(artifact_key(SITE))
    rows = {row["agent"]: row for row in json.loads(table.data)}
    assert rows["Ana Roy"] == {"agent": "Ana Roy", "2026-W10": 2, "2026-W11": 0, "2026-W12": 1, "total": 3}
    assert rows[BOB[1]] == {"agent": BOB[1], "2026-W10": 0, "2026-W11": 1, "2026-W12": 0, "total": 1}
    assert rows["unknown agent"]["2026-W12"] == 1
    assert rows["all agents"] == {"agent": "all agents", "2026-W10": 2, "2026-W11": 1, "2026-W12": 2, "total": 5}
    assert list(rows)[0] == "Ana Roy"  # busiest first

    [chart] = await artifacts(f"{artifact_key(SITE)}-chart")
    text = chart.data
    assert "5 escalated tickets" in text and "busiest week was 2026-W10 (2)" in text
    [image] = re.findall(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text)
    svg = base64.b64decode(image).decode()
    assert svg.startswith("<svg") and svg.count("<rect") >= 1 + 4  # background, bars, legend
    assert "Ana Roy (3)" in svg and "&lt;img src=x onerror=alert(1)&gt;" in svg and "<img" not in svg
    # the agent's name is inert in the markdown: no link, no HTML, no extra table cell
    assert "[Lee](https" not in text and "<img" not in text and "| Bob" in text
    assert f"| {markdown_text(BOB[1])} | 1 |" in text
    assert markdown_text(BOB[1]).count("|") == markdown_text(BOB[1]).count("\\|") == 1


async def test_an_empty_period_says_so():
    quiet = "4343"  # artifacts live in the run's one Prefect server: a site of its own
    escalate(1, ANA, at(2), site=quiet)
    report = await escalation_report(site=quiet, start=date(2026, 1, 5), end=date(2026, 1, 18))
    assert report["escalations"] == 0 and report["agents"] == {}
    [chart] = await artifacts(f"{artifact_key(quiet)}-chart")
    assert "No escalation in this period" in chart.data and "2026-01-05 to 2026-01-18" in chart.data
    assert "data:image" not in chart.data
    [table] = await artifacts(artifact_key(quiet))
    assert "No agent escalated" in table.description
