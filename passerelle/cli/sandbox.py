"""`passerelle sandbox …`: run the vendor emulators and load generated data into them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from passerelle.cli.safe_text import untrusted, visible

app = typer.Typer(help="Local emulators of the vendor APIs (see docs/sandbox.md).", no_args_is_help=True)
console = Console()


@contextmanager
def sandbox_calls(url: str, option: str) -> Iterator[None]:
    """Calls to a running sandbox: a refused connection or an error answer becomes one line with the fix."""
    import httpx

    from passerelle.cli.errors import CliError

    try:
        yield
    except httpx.TransportError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise CliError(f"no sandbox answers at {url} ({reason}): start one with `passerelle sandbox serve "
                       f"--port PORT`, or fix {option}") from exc
    except httpx.HTTPStatusError as exc:
        raise CliError(f"the sandbox at {url} answered {exc.response.status_code} on "
                       f"{exc.request.method} {exc.request.url.path}: {visible(exc.response.text[:200])}") from exc


@app.command("serve")
def serve(port: int = typer.Option(8765, min=1, max=65535, help="TCP port"),
          host: str = typer.Option("127.0.0.1", help="interface to listen on")) -> None:
    """Serve every emulator and the control API until interrupted."""
    from passerelle.cli.errors import ensure_can_listen
    from sandbox.server import serve as run

    ensure_can_listen(host, port)
    console.print(f"Sandbox on http://{host}:{port} — Amilia at /amilia/api/V3, Cyberimpact at /cyberimpact, "
                  f"control API at /_sandbox (docs/sandbox.md)")
    run(host=host, port=port)


@app.command("seed")
def seed(
    persons: int = typer.Option(2000, min=1, help="how many Amilia persons to generate"),
    months: int = typer.Option(24, min=1, help="import window the data is shaped around"),
    seed: int = typer.Option(0, help="random seed: the same seed gives the same organisation"),
    url: str | None = typer.Option(None, help="base URL of a running sandbox to load the data into"),
    out: Path | None = typer.Option(None, help="write the state documents to this JSON file instead"),
) -> None:
    """Generate a realistic organisation (families, children, drop-ins, memberships, archived accounts…)."""
    from sandbox.seed import generate, load_into

    if not url and not out:
        raise typer.BadParameter("give --url of a running sandbox (passerelle sandbox serve) or --out FILE",
                                 param_hint="--url / --out")
    if url:
        import httpx

        with sandbox_calls(url, "--url"):  # before generating: a stopped sandbox fails at once
            httpx.get(f"{url.rstrip('/')}/_sandbox/healthz", timeout=10).raise_for_status()
    document = generate(persons=persons, months=months, seed=seed)
    if out:
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        console.print(f"wrote {escape(str(out))}")
    if url:
        with sandbox_calls(url, "--url"):
            load_into(url, document)
        console.print(f"loaded {len(document['amilia']['persons'])} Amilia persons into {escape(url)}")


@app.command("fire")
def fire(
    url: str = typer.Option(..., help="where to send the deliveries, e.g. a gateway receiver URL with its token"),
    events: str = typer.Option(..., help='JSON list, e.g. \'[{"Context": "Person", "Action": "Create", '
                                         '"Id": 501}]\', or @FILE holding it'),
    sandbox: str = typer.Option("http://127.0.0.1:8765", help="base URL of the running sandbox"),
    retry_interval: float = typer.Option(1.0, min=0, help="seconds between attempts of one delivery"),
    max_attempts: int = typer.Option(5, min=1, help="attempts per delivery"),
) -> None:
    """Have the Amilia emulator send webhooks rendered from its current state (docs/sandbox-amilia.md)."""
    import httpx
    from rich.table import Table

    try:
        text = Path(events[1:]).read_text() if events.startswith("@") else events
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {events[1:]!r}: {exc.strerror or exc}", param_hint="--events") \
            from None
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--events") from None
    body = {"url": url, "events": items if isinstance(items, list) else [items],
            "retry_interval": retry_interval, "max_attempts": max_attempts}
    with sandbox_calls(sandbox, "--sandbox"):
        response = httpx.post(f"{sandbox.rstrip('/')}/_sandbox/amilia/webhooks/fire", json=body,
                              timeout=max(60.0, (retry_interval + 10) * max_attempts * len(body["events"])))
    if response.status_code != 200:
        console.print(untrusted(f"refused ({response.status_code}): {response.text}", style="red"))
        raise typer.Exit(1)
    outcome = response.json()
    table = Table(title=f"sent {outcome['sent']}, failed {outcome['failed']}", title_justify="left")
    for column in ("#", "event", "status", "attempts"):
        table.add_column(column)
    for i, (event, result) in enumerate(zip(body["events"], outcome["results"], strict=True)):
        what = ("envelope" if "envelope" in event
                else f"{event.get('Context')}.{event.get('Action')} {event.get('Id') or event.get('PersonId') or ''}")
        table.add_row(str(i), untrusted(what), untrusted(result["status"] or result.get("error", "")),
                      untrusted(result["attempts"]))
    console.print(table)
    if outcome["failed"]:
        raise typer.Exit(1)
