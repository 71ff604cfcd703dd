"""`passerelle zaps validate|test|enable|disable|run`: check zap definitions, render a zap against an event
(calling nothing, or everything with `--live`), switch zaps on and off, and run what is waiting here and now.

`validate [PATH]` (a file or a folder, default `zaps/`) prints one line per zap: `ok  <file>  <id>` or each
problem as `<file>: <step>.<field>: <what>`; exit code 1 on any problem. `test ZAP --event FILE | --sample`
(ZAP: a file, or a zap id in `--folder`) renders every step's inputs, evaluates filters, paths and formats and
prints the rendered steps as JSON; nothing is called (docs/zaps.md, "Validate").
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from passerelle.cli.safe_text import untrusted

app = typer.Typer(help="Zap definitions (zaps/*.yaml): validate them, test one against an event.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)
DEFAULT_FOLDER = Path("zaps")


@app.command("validate")
def validate(path: Path = typer.Argument(DEFAULT_FOLDER, help="a zap file or a folder of them")) -> None:
    """Check every zap: shape, step ids, templates, apps and actions, connections, required inputs."""
    from passerelle.zaps.spec import ZapError, _display, load_zap, zap_files

    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist; give a zap file or a folder of them", param_hint="PATH")
    files = [path] if path.is_file() else zap_files(path)
    if not files:
        console.print(untrusted(f"no zap files (*.yaml) in {path}", style="yellow"))
        return
    failed, seen = 0, {}
    for file in files:
        try:
            zap = load_zap(file)
        except ZapError as exc:
            failed += 1
            for message in exc.messages:
                console.print(untrusted(message, style="red"))
            continue
        if zap.id in seen:
            failed += 1
            console.print(untrusted(f"{_display(file)}: id: zap id {zap.id!r} is already used by {seen[zap.id]}",
                                    style="red"))
            continue
        seen[zap.id] = _display(file)
        console.print(untrusted(f"ok  {_display(file)}  {zap.id}", style="green"))
    if failed:
        console.print(untrusted(f"{failed} of {len(files)} zap file(s) have problems", style="red"))
        raise typer.Exit(1)


def _find(zap: str, folder: Path) -> Path:
    candidate = Path(zap)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise typer.BadParameter(f"{zap} does not exist", param_hint="ZAP")
        return candidate
    from passerelle.zaps.spec import ZapError, load_zap, zap_files

    for file in zap_files(folder):
        try:
            if load_zap(file).id == zap:
                return file
        except ZapError:
            if file.stem == zap:
                return file
    raise typer.BadParameter(f"no zap with id {zap!r} in {folder}/; give its id or its file", param_hint="ZAP")


def _event(event: Path | None, sample: bool, zap) -> dict:
    if (event is None) == (not sample):
        raise typer.BadParameter("give exactly one of --event FILE (a JSON event) or --sample", param_hint="--event")
    if sample:
        from passerelle.zaps.registry import get_trigger

        return dict(get_trigger(f"{zap.trigger.app}.{zap.trigger.event}").sample)
    try:
        data = json.loads(event.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {event} ({exc.strerror})", param_hint="--event") from None
    except ValueError as exc:
        raise typer.BadParameter(f"{event} is not JSON ({exc})", param_hint="--event") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{event} must hold one JSON object (the trigger's payload)", param_hint="--event")
    return data


@app.command("test")
def test(
    zap: str = typer.Argument(..., help="a zap id (in --folder) or a zap file"),
    event: Path = typer.Option(None, "--event", help="a JSON file: the trigger's payload"),
    sample: bool = typer.Option(False, "--sample", help="use the trigger's documented sample payload"),
    folder: Path = typer.Option(DEFAULT_FOLDER, "--folder", help="where zap ids are looked up"),
    live: bool = typer.Option(False, "--live", help="really run the steps: call every action with its connection "
                              "(delays are not waited for); without it, nothing is called"),
) -> None:
    """Render every step of ZAP against an event and print the result; calls nothing unless --live."""
    from passerelle.zaps.preview import preview
    from passerelle.zaps.spec import ZapError, load_zap

    file = _find(zap, folder)
    try:
        definition = load_zap(file)
    except ZapError as exc:
        for message in exc.messages:
            console.print(untrusted(message, style="red"))
        raise typer.Exit(1) from None
    payload = _event(event, sample, definition)
    if live:
        _live(definition, payload)
        return
    result = preview(definition, payload)
    console.print(untrusted(json.dumps(result, indent=2, ensure_ascii=False, default=str), keep_newlines=True))
    style = {"ok": "green", "filtered": "yellow"}.get(result["status"], "red")
    console.print(untrusted(f"{definition.id}: {result['status']} (nothing was called)", style=style))
    if result["status"] == "failed":
        raise typer.Exit(1)


def _live(definition, payload: dict) -> None:
    """One real run of the zap for `payload`, outside the inbox (its own ledger prefix): prints each step."""
    import asyncio
    import datetime as dt
    import uuid
    from dataclasses import asdict

    from connectors.registry import load_connection
    from passerelle.zaps.execute import ZapRun

    run = ZapRun(definition, 0, payload, dt.datetime.now(dt.UTC), connect=load_connection, skip_delays=True,
                 prefix=f"test-{uuid.uuid4().hex}:zap:{definition.id}:")
    outcome = asyncio.run(run.run())
    steps = [asdict(step) for step in outcome.steps]
    console.print(untrusted(json.dumps({"zap": definition.id, "status": outcome.status, "error": outcome.error,
                                        "steps": steps}, indent=2, ensure_ascii=False, default=str),
                            keep_newlines=True))
    style = {"ok": "green", "filtered": "yellow"}.get(outcome.status, "red")
    console.print(untrusted(f"{definition.id}: {outcome.status} ({run.calls} action call(s) made, live)", style=style))
    if outcome.status in ("failed", "unknown"):
        raise typer.Exit(1)


def _zap_for_toggle(zap: str, folder: Path):
    from passerelle.zaps.spec import ZapError, load_zap

    try:
        return load_zap(_find(zap, folder))
    except ZapError as exc:
        for message in exc.messages:
            console.print(untrusted(message, style="red"))
        raise typer.Exit(1) from None


@app.command("enable")
def enable(
    zap: str = typer.Argument(..., help="a zap id (in --folder) or a zap file"),
    folder: Path = typer.Option(DEFAULT_FOLDER, "--folder", help="where zap ids are looked up"),
) -> None:
    """Switch ZAP on (in the store; its file is not changed). The calls held while it was off run next."""
    from passerelle.zaps.runner import hook_of, not_run_reason
    from passerelle.zaps.runs import set_enabled

    definition = _zap_for_toggle(zap, folder)
    reason = not_run_reason(definition)
    if reason:
        console.print(untrusted(f"{definition.id}: {reason}", style="yellow"))
    back = set_enabled(definition.id, True)
    console.print(untrusted(f"{definition.id}: enabled", style="green"))
    if back:
        console.print(untrusted(f"{back} call(s) held while it was off are back in the inbox of hook "
                                f"{hook_of(definition)}: the next run of the `zaps` deployment for that hook runs "
                                "them"))


@app.command("disable")
def disable(
    zap: str = typer.Argument(..., help="a zap id (in --folder) or a zap file"),
    folder: Path = typer.Option(DEFAULT_FOLDER, "--folder", help="where zap ids are looked up"),
) -> None:
    """Switch ZAP off (in the store). Calls to its hook are kept, not run, and run when it is enabled again."""
    from passerelle.zaps.runs import set_enabled

    definition = _zap_for_toggle(zap, folder)
    set_enabled(definition.id, False)
    console.print(untrusted(f"{definition.id}: disabled; calls to its hook are kept and run once it is enabled "
                            "again", style="yellow"))


@app.command("run")
def run(
    hook: list[str] = typer.Argument(None, help="the catch hooks to drain (default: every hook with calls waiting)"),
    max_seconds: float = typer.Option(30.0, "--max-seconds", min=0.1, max=3600, help="time budget per hook"),
) -> None:
    """Here and now, what the zaps-resume deployment does each minute: wake the delayed runs and auto-replays that
    are due, then run the zaps of each hook for the calls waiting (replays included)."""
    import asyncio

    from passerelle.engine import DrainOptions
    from passerelle.zaps.sweep import sweep

    options = DrainOptions(batch_size=500, max_seconds=max_seconds, linger=0.2, poll=0.05)
    result = asyncio.run(sweep("cli", hooks=list(hook or []) or None, options=options))
    if result.woken:
        woken = ", ".join(f"{n} run(s) of hook {h}" for h, n in sorted(result.woken.items()))
        console.print(untrusted(f"woken: {woken}"))
    if result.started:
        started = ", ".join(f"{n} event(s) for {h}" for h, n in sorted(result.started.items()))
        console.print(untrusted(f"started by a schedule or a poll: {started}"))
    for problem in result.problems:
        console.print(untrusted(f"not started: {problem}", style="red"))
    if not result.drains:
        console.print(untrusted("no hook has calls waiting", style="yellow"))
    for name, (report, handler) in sorted(result.drains.items()):
        notes = handler.notes(report) or ["nothing ran"]
        console.print(untrusted(f"hook {name}: " + " ".join(notes)))
