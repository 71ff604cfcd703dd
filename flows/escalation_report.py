"""The weekly escalation report of an iAdvize site (issue 10, item 5; docs/iadvize-zendesk.md, "Report").

Orchestration only: the counting and the chart are tasks/iadvize_zendesk/report.py, the rows the store's
``conversation_ticket`` escalations. Publishes two artifacts: a table (escalated tickets per agent per ISO week,
key ``iadvize-escalations-site-<site>``) and a markdown one with the bar chart
(``iadvize-escalations-site-<site>-chart``). Deployment ``iadvize-escalation-report``: Monday mornings.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import Field, WithJsonSchema

from passerelle.progress import artifact_key as _key
from passerelle.progress import run_name
from tasks.iadvize_zendesk.report import TOTAL, count_escalations, report_markdown, report_window, table_rows

SiteId = Annotated[str, Field(pattern=r"^[0-9]+$", min_length=1, max_length=18)]
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
Day = Annotated[date, WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN})]


def artifact_key(site: str) -> str:
    return _key("iadvize-escalations", f"site-{site}")


def _run_name() -> str:
    params: dict[str, Any] = flow_run.parameters or {}
    end = params.get("end")
    return run_name("iadvize-escalation-report", f"site-{params.get('site', '?')}", str(end)[:10] if end else None)


@flow(name="iadvize-escalation-report", flow_run_name=_run_name, description="Weekly report of a site's "
      "iAdvize conversations escalated to Zendesk: tickets per agent per week, as a table and a chart.")
async def escalation_report(site: SiteId, start: Day | None = None, end: Day | None = None) -> dict[str, Any]:
    """Count the escalated tickets of each agent of an iAdvize site, week by week, and publish them.

    Args:
        site: The iAdvize site (project) id whose escalations are counted, e.g. 4242.
        start: First day of the period, as YYYY-MM-DD; leave empty for the Monday 12 weeks before the
            current week.
        end: Last day of the period, as YYYY-MM-DD; leave empty for last Sunday (12 weeks after `start`
            when only `start` is given).

    Returns:
        The period, the number of escalations and, per agent, their total.
    """
    logger = get_run_logger()
    first, last = report_window(start, end)
    counts = count_escalations(site, first, last)
    total = int(counts[TOTAL].sum()) if not counts.empty else 0
    period = f"{first.isoformat()} to {last.isoformat()}"
    headline = (f"{total} escalated tickets by {len(counts)} agents, site {site}, {period}" if total
                else f"No escalation in this period: site {site}, {period}")
    rows = table_rows(counts)
    await acreate_table_artifact(
        key=artifact_key(site), table=rows or [{"agent": "(none)", TOTAL: 0}],
        description=f"**Escalated tickets per agent per ISO week, site {site}, {period}.** "
                    + ("One row per agent, the last row all agents together." if total
                       else "No agent escalated a conversation in this period."))
    await acreate_markdown_artifact(key=f"{artifact_key(site)}-chart",
                                    markdown=report_markdown(site, first, last, counts),
                                    description=f"Escalations per week, site {site}: the chart")
    logger.info(headline)
    return Completed(message=headline, data={  # type: ignore[return-value]
        "site": site, "start": first.isoformat(), "end": last.isoformat(), "escalations": total,
        "agents": {str(agent): int(n) for agent, n in counts[TOTAL].items()}})
