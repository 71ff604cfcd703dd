"""The `passerelle` command line (typer + rich).

Prefect and the connectors are imported inside the commands, so `--help` is instant and `demo` can point
Prefect at a local home before Prefect reads its settings.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console

from passerelle.cli import connect, demo, gateway, hooks, inbox, sandbox, stack

app = typer.Typer(help="Passerelle: integration pipelines on Prefect 3.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
sync_app = typer.Typer(help="Run a sync flow against configured Blocks.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(connect.app, name="connect")
app.add_typer(gateway.app, name="gateway")
app.add_typer(hooks.app, name="hooks")
app.add_typer(inbox.app, name="inbox")
app.command("demo")(demo.demo)
app.command("up")(stack.up)
app.command("down")(stack.down)
stack_app = typer.Typer(hidden=True)
stack_app.command("seed-sandbox")(stack.seed_sandbox)
app.add_typer(stack_app, name="stack", hidden=True)
console = Console()


@sync_app.command("amilia")
def sync_amilia(
    link: str = typer.Option("default", help="name of the Amilia and Cyberimpact credential blocks"),
    months: int = typer.Option(24, min=1, max=120, help="import registrations of the last N months"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would change, write nothing"),
) -> None:
    """Run the Amilia → Cyberimpact initial sync (flow amilia-initial-sync) in this process."""
    import asyncio

    from flows.amilia_sync import amilia_initial_sync
    from passerelle.cli.render import print_summary

    summary = asyncio.run(amilia_initial_sync(link=link, months=months, dry_run=dry_run))
    print_summary(console, summary)


def main() -> None:  # pragma: no cover - console script entry
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
