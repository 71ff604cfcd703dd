"""The weekly escalation report (docs/iadvize-zendesk.md, "Report"): escalated tickets per agent per ISO week,
from the store's ``conversation_ticket`` rows of kind escalation, as a table and as a bar chart.

Pure functions (pandas) plus one thin task; the flow is ``flows/escalation_report.py``. Agent names come from
outside (iAdvize): they are escaped in the markdown (:func:`markdown_text`) and in the SVG (XML escaping).

Example:
    start, end = report_window(None, None, today=date(2026, 3, 18))   # the last 12 full weeks
    counts = weekly_counts(escalations("4242", *bounds(start, end)), start, end)
    counts.loc["Ana Roy", "2026-W11"]                                  # escalations of that agent that week
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from xml.sax.saxutils import escape as xml_escape

import pandas as pd
from prefect import task

from passerelle.store.conversation_tickets import TicketRecord, escalations

WEEKS = 12
TOTAL = "total"
# Okabe–Ito: told apart by colour-blind readers; agents past the eighth reuse them in order.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def report_window(start: date | None, end: date | None, today: date | None = None) -> tuple[date, date]:
    """The report's first and last day (both included). Default: the last 12 full weeks (Monday to Sunday)
    before the current one; only `start`: 12 weeks from it (not past last Sunday); only `end`: the 12 weeks
    ending with the week of `end`.

    Raises:
        ValueError: `end` before `start`, naming both.
    """
    last_sunday = monday(today or datetime.now(UTC).date()) - timedelta(days=1)
    if start is None and end is None:
        end = last_sunday
    if start is None:
        start = monday(end) - timedelta(weeks=WEEKS - 1)  # type: ignore[arg-type]
    if end is None:
        end = max(start, min(start + timedelta(weeks=WEEKS, days=-1), last_sunday))
    if end < start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()}): give an end on or "
                         f"after the start, or leave end empty")
    return start, end


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The store query's ``[from, to)`` in UTC for the days `start`..`end` (both included)."""
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def iso_week(day: date) -> str:
    """``2026-W11``: the ISO year and week of `day` (a week starts on Monday; week 1 holds the 4th of January)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(start: date, end: date) -> list[str]:
    """Every ISO week that has a day in `start`..`end`, in order."""
    weeks, day = [], monday(start)
    while day <= end:
        weeks.append(iso_week(day))
        day += timedelta(weeks=1)
    return weeks


def plain(value: object) -> str:
    """Outside text on one line, control characters and bidirectional overrides dropped."""
    return " ".join(_CONTROL.sub(" ", "" if value is None else str(value)).split())


def agent_label(record: TicketRecord) -> str:
    name = plain(record.agent_name)
    if name:
        return name
    return f"agent {record.agent_id}" if record.agent_id is not None else "unknown agent"


def weekly_counts(records: Sequence[TicketRecord], start: date, end: date) -> pd.DataFrame:
    """Escalations per agent (rows, busiest first) per ISO week (columns, every week of the period, zeros
    included), plus a ``total`` column. An agent is their iAdvize id; the label is the name of their latest
    escalation (two agents with the same name keep their own rows, their id added)."""
    weeks = weeks_between(start, end)
    rows = [{"agent_key": f"id {r.agent_id}" if r.agent_id is not None else f"name {agent_label(r)}",
             "agent": agent_label(r), "week": iso_week((r.escalated_at or r.created_at).date()),
             "at": r.escalated_at or r.created_at} for r in records if (r.escalated_at or r.created_at)]
    frame = pd.DataFrame(rows, columns=["agent_key", "agent", "week", "at"])
    frame = frame[frame["week"].isin(weeks)]
    if frame.empty:
        return pd.DataFrame(columns=[*weeks, TOTAL], dtype="int64").rename_axis("agent")
    latest = frame.sort_values("at").groupby("agent_key")["agent"].last()
    duplicated = latest[latest.duplicated(keep=False)].index
    labels = {key: f"{name} ({key.split(' ', 1)[1]})" if key in duplicated and key.startswith("id ") else name
              for key, name in latest.items()}
    counts = (frame.assign(agent=frame["agent_key"].map(labels))
              .pivot_table(index="agent", columns="week", values="at", aggfunc="count", fill_value=0)
              .reindex(columns=weeks, fill_value=0).astype("int64"))
    counts[TOTAL] = counts.sum(axis=1)
    counts.columns.name = None
    return counts.sort_values(TOTAL, ascending=False, kind="stable")


def table_rows(counts: pd.DataFrame) -> list[dict[str, object]]:
    """The table artifact: one row per agent (``agent``, one column per week, ``total``) and an ``all agents``
    row. Cells are plain text in Prefect's table, so names are kept as written (control characters dropped)."""
    rows = [{"agent": agent, **{k: int(v) for k, v in values.items()}} for agent, values in counts.iterrows()]
    if rows:
        rows.append({"agent": "all agents", **{k: int(v) for k, v in counts.sum(axis=0).items()}})
    return rows


def markdown_text(value: object) -> str:
    """Outside text made inert in markdown: punctuation backslash-escaped, ``<``/``>``/``&`` as entities (no
    HTML, no link, no image, no table cell break)."""
    text = plain(value).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\\>", "&gt;")


def bar_chart_svg(counts: pd.DataFrame, title: str) -> str:
    """A stacked bar chart: one bar per week, one colour per agent (the busiest 8; others together)."""
    weeks = [c for c in counts.columns if c != TOTAL]
    series = counts[weeks]
    if len(series) > len(COLOURS):
        others = series.iloc[len(COLOURS) - 1:].sum(axis=0).rename("other agents")
        series = pd.concat([series.iloc[:len(COLOURS) - 1], others.to_frame().T])
    width, height, left, top, bottom = max(480, 60 + 46 * len(weeks)), 300, 44, 34, 56
    plot_h = height - top - bottom
    peak = max(1, int(series.sum(axis=0).max()) if len(series) else 1)
    step = (width - left - 10) / max(1, len(weeks))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 22 * len(series)}" '
             f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="18" font-size="13" font-weight="bold">{xml_escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>']
    for i, week in enumerate(weeks):
        x, y = left + i * step + step * 0.15, top + plot_h
        for colour, (_, values) in zip(COLOURS, series.iterrows(), strict=False):
            h = plot_h * int(values[week]) / peak
            if h:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                             f'fill="{colour}"/>')
        total = int(series[week].sum())
        if total:
            parts.append(f'<text x="{x + step * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle">{total}</text>')
        parts.append(f'<text x="{x + step * 0.35:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f'{xml_escape(week[-3:])}</text>')
    for j, (colour, agent) in enumerate(zip(COLOURS, series.index, strict=False)):
        y = height - 18 + 22 * j
        parts.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + 18}" y="{y}">{xml_escape(plain(agent))} '
                     f'({int(series.loc[agent].sum())})</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_markdown(site: str, start: date, end: date, counts: pd.DataFrame) -> str:
    """The chart artifact: a headline, the chart as an embedded SVG image, and the totals per agent."""
    period = f"{start.isoformat()} to {end.isoformat()}"
    head = f"# Escalations of iAdvize site {markdown_text(site)}, {period}\n\n"
    if counts.empty or int(counts[TOTAL].sum()) == 0:
        return head + f"**No escalation in this period** ({period}): no agent of site {markdown_text(site)} " \
                      f"escalated a conversation to Zendesk.\n"
    weekly = counts.drop(columns=TOTAL).sum(axis=0)
    busiest = weekly.idxmax()
    svg = bar_chart_svg(counts, f"Escalated tickets per week, site {site}")
    image = base64.b64encode(svg.encode()).decode()
    lines = [head, f"**{int(counts[TOTAL].sum())} escalated tickets** by {len(counts)} agents; the busiest week "
                   f"was {busiest} ({int(weekly[busiest])}).\n",
             f"![Escalated tickets per week, by agent](data:image/svg+xml;base64,{image})\n",
             "| agent | escalations |", "| --- | ---: |"]
    lines += [f"| {markdown_text(agent)} | {int(total)} |" for agent, total in counts[TOTAL].items()]
    return "\n".join(lines) + "\n"


@task(name="count-escalations")
def count_escalations(site: str, start: date, end: date) -> pd.DataFrame:
    """Escalated tickets of the site per agent per ISO week, `start`..`end` (both included).

    Args:
        site: The iAdvize site id, e.g. "4242".
        start: First day; end: last day.

    Returns:
        The :func:`weekly_counts` frame.

    Example:
        count_escalations("4242", date(2026, 1, 5), date(2026, 3, 29))
    """
    return weekly_counts(escalations(site, *bounds(start, end)), start, end)
