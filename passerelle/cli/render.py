"""Rich rendering of sync summaries."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from passerelle.cli.safe_text import untrusted


def summary_table(summary: dict[str, Any], title: str | None = None) -> Table:
    window = summary.get("window", {})
    mode = " (dry run: nothing written)" if summary.get("dry_run") else ""
    table = Table(title=untrusted(title or f"Amilia → Cyberimpact, link {summary.get('link')!r}, "
                                  f"{window.get('from')} – {window.get('to')}{mode}", style="table.title"),
                  title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for item, count in summary["counts"].items():
        table.add_row(untrusted(item), untrusted(count))
    for reason, count in summary.get("skipped", {}).items():  # reasons may quote vendor data
        table.add_row(untrusted(f"  skipped: {reason}"), untrusted(count), style="dim")
    return table


def print_summary(console: Console, summary: dict[str, Any], title: str | None = None) -> None:
    """The counts, then the sentences that explain them (the same as the run's artifact in the Prefect UI).
    A run that found another run of its link busy has no counts, only its note."""
    if "counts" in summary:
        console.print(summary_table(summary, title))
    print_notes(console, summary.get("notes", []))
    for failure in summary.get("failures", [])[:10]:
        console.print(Text.assemble(("rejected", "yellow"), ": ",
                                    untrusted(f"{failure.get('email')}: {failure.get('message')}")))


def print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(untrusted(f"  • {note}"), highlight=False)
