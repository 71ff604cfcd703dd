"""`passerelle inbox stats|list|show|replay|purge`: look into the webhook inbox, resubmit dead letters, clean up.

Everything an event holds came from a vendor's webhook: it is printed with `untrusted` (text, never markup;
control characters made visible), so a payload cannot break the listing or drive the terminal."""

from __future__ import annotations

import re
from datetime import timedelta

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from passerelle.cli.safe_text import untrusted

app = typer.Typer(help="The durable webhook inbox: counts, events, dead-letter replay, purge.",
                  no_args_is_help=True)
console = Console()

SourceOpt = typer.Option(None, help="only this source, e.g. amilia")
LinkOpt = typer.Option(None, help="only this link")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_DURATION = timedelta(days=36500)  # 100 years: older than that, nothing was received


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w` (or a number of seconds), up to MAX_DURATION."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds > MAX_DURATION.total_seconds():
        raise typer.BadParameter(f"{text!r} is too long: give at most {MAX_DURATION.days}d (100 years)")
    return timedelta(seconds=seconds)


def parse_ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of event ids", param_hint="--ids") \
            from None


def _status(value: str | None) -> str | None:
    from passerelle.store.inbox import STATUSES

    if value is not None and value not in STATUSES:
        raise typer.BadParameter(f"{value!r}: one of {', '.join(STATUSES)}", param_hint="--status")
    return value


@app.command("stats")
def stats(source: str | None = SourceOpt, link: str | None = LinkOpt) -> None:
    """Events per status."""
    from passerelle.store import inbox

    counts = inbox.stats(source=source, link=link)
    scope = "/".join(x for x in (source, link) if x) or "all sources"
    table = Table(title=f"Inbox ({escape(scope)})", title_justify="left")
    table.add_column("status")
    table.add_column("events", justify="right")
    for status, count in counts.items():
        table.add_row(status, str(count), style="red" if status == inbox.DEAD and count else None)
    table.add_row("total", str(sum(counts.values())), style="bold")
    console.print(table)


@app.command("list")
def list_(status: str | None = typer.Option(None, help="pending, processing, done or dead"),
          source: str | None = SourceOpt, link: str | None = LinkOpt,
          limit: int = typer.Option(50, min=1, help="newest N events")) -> None:
    """The newest events, with their attempts and last error."""
    from passerelle.store import inbox

    table = Table(title="Inbox events (newest first)", title_justify="left")
    for column in ("id", "source/link", "type", "entity", "status", "attempts", "received", "last error"):
        table.add_column(column, overflow="fold")
    for e in inbox.list_events(status=_status(status), source=source, link=link, limit=limit):
        table.add_row(str(e.id), untrusted(f"{e.source}/{e.link}"), untrusted(e.event_type),
                      untrusted(e.entity_key), untrusted(e.status), str(e.attempts),
                      f"{e.received_at:%Y-%m-%d %H:%M:%S}", untrusted((e.last_error or "")[:120]))
    console.print(table)


@app.command("show")
def show(event_id: int = typer.Argument(..., help="the event's id (first column of `inbox list`)")) -> None:
    """One event: its fields, last error and payload (the envelope as received)."""
    import orjson

    from passerelle.store import inbox

    e = inbox.get_event(event_id)
    if e is None:
        console.print(f"no inbox event {event_id}: `passerelle inbox list` shows the ids", markup=False)
        raise typer.Exit(1)
    table = Table(show_header=False, box=None, title=f"Inbox event {e.id}", title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in (("source/link", f"{e.source}/{e.link}"), ("type", e.event_type), ("entity", e.entity_key),
                        ("event id", e.event_id), ("status", e.status), ("attempts", e.attempts),
                        ("received", f"{e.received_at:%Y-%m-%d %H:%M:%S}"), ("last error", e.last_error)):
        table.add_row(name, untrusted(value))
    console.print(table)
    try:
        payload = orjson.dumps(e.payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # what orjson cannot write (integers beyond 64 bits): the standard library
        import json

        payload = json.dumps(e.payload, indent=2, ensure_ascii=False)
    console.print(untrusted(payload, keep_newlines=True), soft_wrap=True)


@app.command("replay")
def replay(source: str | None = SourceOpt, link: str | None = LinkOpt,
           ids: str | None = typer.Option(None, help="only these event ids, e.g. 12,15")) -> None:
    """Put dead events back to pending (attempts reset), so the next drain retries them."""
    from passerelle.store import inbox

    count = inbox.replay(source=source, link=link, ids=parse_ids(ids))
    scope = "/".join(x for x in (source, link) if x)
    console.print(untrusted(f"{count} dead event{'s' if count != 1 else ''} back to pending"
                            f"{f' ({scope})' if scope else ''}"))


@app.command("purge")
def purge(older_than: str = typer.Option(..., help="received more than this long ago: 30m, 12h, 7d, 2w"),
          status: list[str] = typer.Option(["done"], help="statuses to delete (repeat: --status done "
                                                          "--status dead); pending work is never purged")) -> None:
    """Delete finished events received before now − OLDER_THAN."""
    from passerelle.store import inbox

    for s in status:
        if s not in (inbox.DONE, inbox.DEAD):
            raise typer.BadParameter(f"{s!r}: only done and dead events can be purged", param_hint="--status")
    try:
        cutoff = parse_duration(older_than)
    except typer.BadParameter as exc:
        exc.param_hint = "--older-than"
        raise
    count = inbox.purge(cutoff, statuses=tuple(status))
    console.print(f"purged {count} event{'s' if count != 1 else ''} ({', '.join(status)}) older than "
                  f"{escape(older_than)}")
