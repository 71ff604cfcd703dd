"""The `passerelle` command line (typer + rich).

Prefect and the connectors are imported inside the commands, so `--help` is instant and `demo` can point
Prefect at a local home before Prefect reads its settings.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console

from passerelle.cli import apps, connect, demo, deploy, errors, gateway, hooks, inbox, runs, sandbox, stack, zaps

app = typer.Typer(help="Passerelle: integration pipelines on Prefect 3.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False, cls=errors.HandledGroup)
app.callback()(errors.root_options)  # --debug: keep tracebacks (known errors are otherwise one line)
sync_app = typer.Typer(help="Run a sync flow against configured Blocks.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(connect.app, name="connect")
app.add_typer(connect.connections_app, name="connections")
app.add_typer(gateway.app, name="gateway")
app.add_typer(hooks.app, name="hooks")
app.add_typer(inbox.app, name="inbox")
app.add_typer(apps.app, name="apps")
app.add_typer(zaps.app, name="zaps")
app.add_typer(runs.app, name="runs")
app.command("demo")(demo.demo)
app.command("deploy")(deploy.deploy)
app.command("up")(stack.up)
app.command("down")(stack.down)
stack_app = typer.Typer(hidden=True)
stack_app.command("seed-sandbox")(stack.seed_sandbox)
app.add_typer(stack_app, name="stack", hidden=True)
console = Console()


@sync_app.command("amilia")
def sync_amilia(
    link: str = typer.Option("default", callback=connect.block_name,
                             help="name of the Amilia and Cyberimpact credential blocks"),
    months: int = typer.Option(24, min=1, max=120, help="import registrations of the last N months"),
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would change, write nothing"),
) -> None:
    """Run the Amilia → Cyberimpact initial sync (flow amilia-initial-sync) in this process."""
    import asyncio

    from flows.amilia_sync import amilia_initial_sync
    from passerelle.cli.render import print_summary

    async def run() -> dict:
        await connect.check_link(link)  # a missing block or a vendor down: one line, before any run
        errors.quiet_prefect_tracebacks()
        return await amilia_initial_sync(link=link, months=months, dry_run=dry_run)

    summary = asyncio.run(run())
    print_summary(console, summary)


# Commands that read or write Prefect Blocks or run flows: they say which Prefect API they talk to.
PREFECT_COMMANDS = {"connect", "connections", "sync", "hooks", "deploy"}


def main() -> None:  # pragma: no cover - console script entry
    import sys

    from passerelle.cli import prefect_env

    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
    if command in {"up", "down", "demo"}:  # these choose their own Prefect
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    else:
        line = prefect_env.apply()
        if line and command in PREFECT_COMMANDS and "--help" not in sys.argv:
            Console(stderr=True).print(line, style="dim", markup=False, highlight=False)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
