"""`passerelle sandbox …`: run the vendor emulators and load generated data into them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Local emulators of the vendor APIs (see docs/sandbox.md).", no_args_is_help=True)
console = Console()


@app.command("serve")
def serve(port: int = typer.Option(8765, help="TCP port"),
          host: str = typer.Option("127.0.0.1", help="interface to listen on")) -> None:
    """Serve every emulator and the control API until interrupted."""
    from sandbox.server import serve as run

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
    document = generate(persons=persons, months=months, seed=seed)
    if out:
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        console.print(f"wrote {out}")
    if url:
        load_into(url, document)
        console.print(f"loaded {len(document['amilia']['persons'])} Amilia persons into {url}")
