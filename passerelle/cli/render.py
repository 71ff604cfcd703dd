"""Rich rendering of sync summaries."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def summary_table(summary: dict[str, Any], title: str | None = None) -> Table:
    window = summary.get("window", {})
    mode = " (dry run: nothing written)" if summary.get("dry_run") else ""
    table = Table(title=title or f"Amilia → Cyberimpact, link {summary.get('link')!r}, "
                  f"{window.get('from')} – {window.get('to')}{mode}", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for item, count in summary["counts"].items():
        table.add_row(item, str(count))
    for reason, count in summary.get("skipped", {}).items():
        table.add_row(f"  skipped: {reason}", str(count), style="dim")
    return table


def print_summary(console: Console, summary: dict[str, Any], title: str | None = None) -> None:
    """The counts, then the sentences that explain them (the same as the run's artifact in the Prefect UI)."""
    console.print(summary_table(summary, title))
    print_notes(console, summary.get("notes", []))
    for failure in summary.get("failures", [])[:10]:
        console.print(f"[yellow]rejected[/]: {failure.get('email')}: {failure.get('message')}")


def print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(f"  • {note}", markup=False, highlight=False)
