"""`passerelle demo`: the whole initial sync against the sandbox, on embedded defaults.

Starts the sandbox in-process, seeds a realistic Amilia organisation, saves demo Blocks that point at the
sandbox, runs the `amilia-initial-sync` flow on an embedded Prefect with a progress bar fed by the store,
prints the summary, then runs it again to show that a second run changes nothing. Then it archives iAdvize
conversations into Zendesk, twice (passerelle/cli/demo_iadvize.py).

The demo keeps to its own home, `<PASSERELLE_HOME>/demo/` (default `.passerelle/demo/`): its store
(`passerelle.db`) and its Prefect (`prefect/`, the embedded server's database), never the stack's. At the end
it prints the command that serves that Prefect database in the UI, where its runs, progress and artifacts are.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

console = Console()
DEMO_LINK = "demo"
UI_PORT = 4201  # not the stack's 4200, so that both can be up at once


def demo_home() -> Path:
    return Path(os.environ.get("PASSERELLE_HOME", ".passerelle")).resolve() / "demo"


def _embedded_defaults() -> Path:
    """Point the store and Prefect at the demo's own home, before Prefect reads its settings."""
    from passerelle.settings import reset_settings_cache

    home = demo_home()
    os.environ["PASSERELLE_HOME"] = str(home)
    os.environ.pop("PASSERELLE_DATABASE_URL", None)  # the demo's store is a SQLite file in its home
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.pop("PREFECT_API_URL", None)  # an embedded Prefect on that home, not a running server
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect creates only the leaf
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # A fresh embedded server migrates its database first: ~11 s here, more on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    reset_settings_cache()
    return home


def ui_command(home: Path, port: int = UI_PORT) -> str:
    """The command that serves the demo's Prefect database (its runs, progress and artifacts) in the UI."""
    prefect = Path(sys.executable).with_name("prefect")
    return (f"env -u PREFECT_API_URL PREFECT_HOME={shlex.quote(str(home / 'prefect'))} "
            f"{shlex.quote(str(prefect))} server start --host 127.0.0.1 --port {port}")


def _run_with_progress(label: str, **params: Any) -> dict[str, Any]:
    import asyncio

    from flows.amilia_sync import SYNC_KIND, amilia_initial_sync
    from passerelle.store import latest_sync_run

    before = latest_sync_run(SYNC_KIND, DEMO_LINK)
    before_id = before.id if before else 0
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["summary"] = asyncio.run(amilia_initial_sync(link=DEMO_LINK, **params))
        except BaseException as exc:  # reported below, in the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="amilia-initial-sync")
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[stage]}"), TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task(label, total=4, stage="starting Prefect")
        worker.start()
        while worker.is_alive():
            run = latest_sync_run(SYNC_KIND, DEMO_LINK)
            if run and run.id > before_id:
                progress.update(bar, completed=run.progress_done, stage=run.stage)
            time.sleep(0.2)
        progress.update(bar, completed=4, stage="done" if "summary" in outcome else "failed")
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["summary"]


def demo(
    persons: int = typer.Option(2000, min=10, help="size of the generated Amilia organisation"),
    months: int = typer.Option(24, min=1, max=120, help="import window in months"),
    seed: int = typer.Option(7, help="random seed of the generated organisation"),
    rerun: bool = typer.Option(True, help="run the sync a second time to show it changes nothing"),
    webhooks: bool = typer.Option(True, help="then fire a burst of Amilia webhooks through the gateway"),
    iadvize: bool = typer.Option(True, help="then archive iAdvize conversations into Zendesk, some escalated"),
    zaps: bool = typer.Option(True, help="then run the example zaps of zaps/ against the sandbox"),
) -> None:
    """Run the Amilia → Cyberimpact initial sync against the sandbox and print its summary, then archive
    iAdvize conversations into Zendesk."""
    home = _embedded_defaults()
    import httpx

    from connectors.amilia.credentials import AmiliaCredentials
    from connectors.cyberimpact.credentials import CyberimpactCredentials
    from passerelle.cli.render import print_summary
    from sandbox.seed import generate, load_into
    from sandbox.server import SandboxServer

    with SandboxServer() as sandbox:
        console.print(f"Sandbox (Amilia + Cyberimpact emulators) on {sandbox.url}")
        document = generate(persons=persons, months=months, seed=seed)
        load_into(sandbox.url, document)
        amilia_state = document["amilia"]
        console.print(f"Seeded an Amilia organisation: {len(amilia_state['persons'])} persons, "
                      f"{len(amilia_state['accounts'])} accounts, {len(amilia_state['registrations'])} "
                      f"registrations, {len(amilia_state['memberships'])} memberships")
        credentials = amilia_state["credentials"][0]
        AmiliaCredentials(username=credentials["username"], password=credentials["password"],
                          organization=str(amilia_state["organization"]["Id"]),
                          base_url=sandbox.amilia_url).save(DEMO_LINK, overwrite=True)
        CyberimpactCredentials(api_token=document["cyberimpact"]["tokens"][0],
                               base_url=sandbox.cyberimpact_url).save(DEMO_LINK, overwrite=True)

        started = time.perf_counter()
        summary = _run_with_progress("Initial sync", months=months)
        elapsed = time.perf_counter() - started
        print_summary(console, summary)
        state = httpx.get(f"{sandbox.url}/_sandbox/cyberimpact/state", timeout=30).json()
        dynamic = sum(1 for g in state["groups"] if g.get("isDynamic"))
        console.print(f"Cyberimpact sandbox now holds {len(state['members'])} members, "
                      f"{len(state['groups'])} groups ({dynamic} dynamic), {len(state['customFields'])} "
                      f"custom fields. Sync took {elapsed:.1f} s.")
        if rerun:
            again = _run_with_progress("Second run", months=months)
            changed = again["counts"]["contacts created"] + again["counts"]["contacts updated"] + \
                again["counts"]["group memberships added"] + again["counts"]["groups created"]
            console.print(f"Second run: {changed} changes (a second run changes nothing).")
        if webhooks:
            _webhook_burst(sandbox.url)
        if iadvize:
            from passerelle.cli.demo_iadvize import iadvize_demo

            iadvize_demo(console, sandbox.url)
        if zaps:
            from passerelle.cli.demo_zaps import run_zap_examples

            run_zap_examples(sandbox.url, console)
    console.print(f"\nThe demo's store and Prefect are in {home}. To browse these runs in the Prefect UI "
                  f"(run names, progress, the artifacts explaining each count), run:", markup=False,
                  highlight=False)
    console.print(f"  {ui_command(home)}", markup=False, highlight=False, soft_wrap=True)  # one line, to copy
    console.print(f"then open http://127.0.0.1:{UI_PORT}/runs (Ctrl-C stops it). `make up` starts the stack's own "
                  f"Prefect, which does not hold the demo's runs.", markup=False, highlight=False)


def _webhook_burst(sandbox_url: str, registrations: int = 150, persons: int = 40) -> None:
    """Archive two accounts in Amilia, fire a burst of webhooks through the gateway, drain the inbox."""
    import asyncio

    import httpx
    from rich.table import Table

    from flows.amilia_webhooks import process_amilia_events
    from passerelle.cli.render import print_notes
    from passerelle.gateway.app import create_app as create_gateway
    from passerelle.gateway.server import GatewayServer
    from passerelle.store import inbox
    from passerelle.store.links import create_link

    state = httpx.get(f"{sandbox_url}/_sandbox/amilia/state", timeout=60).json()
    archived = [a for a in state["accounts"] if not a["IsArchived"]][:2]
    for account in archived:  # "Un compte a été supprimé (archivé)"
        account["IsArchived"] = True
    httpx.put(f"{sandbox_url}/_sandbox/amilia/state", json=state, timeout=60).raise_for_status()
    events = [{"Context": "Account", "Action": "Delete", "Id": a["Id"]} for a in archived]
    events += [{"Context": "Registration", "Action": "Update", "Id": r["Id"]}
               for r in state["registrations"][-registrations:]]
    events += [{"Context": "Person", "Action": "Update", "Id": p["Id"]} for p in state["persons"][:persons]]
    async def drained_below(source: str, link: str, accepted: int) -> None:
        """The demo drains the inbox itself just below; no Prefect nudge needed."""

    token = create_link("amilia", DEMO_LINK)
    with GatewayServer(create_gateway(emitter=drained_below)) as gateway:
        started = time.perf_counter()
        fired = httpx.post(f"{sandbox_url}/_sandbox/amilia/webhooks/fire", timeout=300, json={
            "url": f"{gateway.url}/hooks/amilia/{DEMO_LINK}?token={token}", "events": events}).json()
        accepted = time.perf_counter() - started
    console.print(f"Amilia emulator sent {fired['sent']} webhooks to the gateway in {accepted:.1f} s "
                  f"({fired['failed']} failed); inbox: {inbox.stats('amilia', DEMO_LINK)}")
    with console.status("Applying the webhook events (flow amilia-webhooks)…"):
        report = asyncio.run(process_amilia_events(link=DEMO_LINK))
    table = Table(title="Webhook burst applied to Cyberimpact", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("claimed", "applied", "failed", "dead", "contacts_written", "group_adds", "removals"):
        table.add_row(key.replace("_", " "), str(report.get(key, 0)))
    for reason, count in report.get("skipped", {}).items():
        table.add_row(f"  skipped: {reason}", str(count), style="dim")
    console.print(table)
    print_notes(console, report.get("notes", []))
    console.print(f"Inbox after the drain: {inbox.stats('amilia', DEMO_LINK)}")
