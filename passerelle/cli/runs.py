"""`passerelle runs list|show|replay|mark-done|cancel`: zap runs as the store recorded them, and what a person
decides about them (docs/zaps.md, "Running zaps" and "Delays, replays and unknown steps").

`list [--zap Z] [--status S] [--limit N]` prints one line per run, newest first; `show RUN` prints the run and
each step: its rendered input (secrets masked), output, error and duration. Everything that came from outside
(payload values, vendor answers, errors) is printed escaped (passerelle/cli/safe_text.py).
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from passerelle.cli.safe_text import untrusted

app = typer.Typer(help="Zap runs: list them, show one step by step, replay, mark done or cancel one.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)
STATUSES = ("running", "ok", "filtered", "failed", "delayed", "unknown", "held", "due", "replay", "cancelled")
_STYLE = {"ok": "green", "reused": "green", "filtered": "yellow", "held": "yellow", "delayed": "cyan",
          "due": "cyan", "replay": "cyan", "skipped": "cyan", "failed": "red", "unknown": "magenta",
          "cancelled": "yellow"}


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else ""


@app.command("list")
def list_runs(
    zap: str = typer.Option(None, "--zap", help="only the runs of this zap id"),
    status: str = typer.Option(None, "--status", help=f"only runs in this status ({', '.join(STATUSES)})"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="at most this many runs, newest first"),
) -> None:
    """The latest zap runs, newest first."""
    from passerelle.zaps.runs import list_runs as latest

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not a run status; use one of {', '.join(STATUSES)}",
                                 param_hint="--status")
    found = latest(zap=zap, status=status, limit=limit)
    if not found:
        console.print(untrusted("no zap runs" + (f" for zap {zap}" if zap else ""), style="yellow"))
        return
    table = Table("run", "zap", "hook", "inbox id", "status", "started", "ended", "error")
    for run in found:
        table.add_row(str(run.id), untrusted(run.zap_id), untrusted(run.link), str(run.inbox_id),
                      untrusted(run.status, style=_STYLE.get(run.status, "")), _when(run.started_at),
                      _when(run.resume_at if run.resume_at and run.status in ("delayed", "failed")
                            else run.ended_at),
                      untrusted((run.error or "")[:120]))
    console.print(table)


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@app.command("show")
def show(run: int = typer.Argument(..., help="the run's number, as `passerelle runs list` prints it")) -> None:
    """One run step by step: each step's rendered input, output, error and duration."""
    from passerelle.zaps.runs import get_run

    found = get_run(run)
    if found is None:
        raise typer.BadParameter(f"no zap run {run}; `passerelle runs list` prints the runs", param_hint="RUN")
    head, steps = found
    console.print(untrusted(f"run {head.id}: zap {head.zap_id}, hook {head.link}, inbox event {head.inbox_id}, "
                            f"attempt {head.attempts}"))
    console.print(untrusted(f"status: {head.status}", style=_STYLE.get(head.status, "")))
    console.print(untrusted(f"started {_when(head.started_at)}, ended {_when(head.ended_at) or '-'}"
                            + (f", resumes {_when(head.resume_at)}" if head.resume_at else "")))
    if head.error:
        console.print(untrusted(f"error: {head.error}", style="red"))
    for step in steps:
        console.print(untrusted(f"\n{step.path}  {step.step_id} ({step.type})  {step.status}  "
                                f"{step.duration_ms:.1f} ms", style=_STYLE.get(step.status, "")))
        if step.input is not None:
            console.print(untrusted("input: " + _json(step.input), keep_newlines=True))
        if step.output is not None:
            console.print(untrusted("output: " + _json(step.output), keep_newlines=True))
        if step.error:
            console.print(untrusted(f"error: {step.error}", style="red"))


_NEXT = ("the next drain of hook {hook} runs it: the `zaps` deployment when the hook is called, the `zaps-resume` "
         "deployment within a minute, or now with `passerelle zaps run {hook}`")


def _refused(exc: Exception) -> typer.BadParameter:
    return typer.BadParameter(str(exc), param_hint="RUN")


@app.command("replay")
def replay(run: int = typer.Argument(..., help="the run's number, as `passerelle runs list` prints it")) -> None:
    """Run RUN again from the step that stopped it (the actions it already did are reused, not sent again).

    An action left `unknown` (sent, no answer recorded) is sent again: replay only once you have checked the
    target did not get it; otherwise `passerelle runs mark-done RUN`."""
    from passerelle.zaps.resume import RunRefused
    from passerelle.zaps.resume import replay as replay_run

    try:
        hook = replay_run(run)
    except RunRefused as exc:
        raise _refused(exc) from None
    console.print(untrusted(f"run {run}: queued for a replay; " + _NEXT.format(hook=hook), style="green"))


@app.command("mark-done")
def mark_done(run: int = typer.Argument(..., help="the number of an unknown run")) -> None:
    """Say the action RUN is unknown about did take effect: it is recorded done and the run goes on after it."""
    from passerelle.zaps.resume import RunRefused
    from passerelle.zaps.resume import mark_done as mark

    try:
        hook, steps = mark(run)
    except RunRefused as exc:
        raise _refused(exc) from None
    console.print(untrusted(f"run {run}: step(s) {', '.join(steps)} marked done; the run goes on after them. "
                            + _NEXT.format(hook=hook), style="green"))


@app.command("cancel")
def cancel(run: int = typer.Argument(..., help="a delayed run, or one waiting to be replayed")) -> None:
    """End a delayed run (or one waiting for its auto-replay) for good: it will not go on."""
    from passerelle.zaps.resume import RunRefused
    from passerelle.zaps.resume import cancel as cancel_run

    try:
        was = cancel_run(run)
    except RunRefused as exc:
        raise _refused(exc) from None
    console.print(untrusted(f"run {run}: cancelled (it was {was})", style="yellow"))
