"""Zaps on catch hooks: run the zaps of a hook for the calls it received; resume what is due; test a zap
(docs/zaps.md, "Running zaps", "Delays, replays and unknown steps", "Test a zap").

Orchestration only: the loop is the drain engine (passerelle/engine), the runner is passerelle/zaps/runner.py.
Started by the `zaps` deployment when the gateway nudges (event `passerelle.inbox.received` for source
catch) and every minute as a safety net. One drain per hook at a time (the store lease `catch-drain:<hook>`).
Prefect sees one task run per batch (`run-zaps`); each zap run and step is recorded in the store
(`passerelle runs list|show`), and the run's artifact counts the runs per zap.

`zaps-resume` (every minute) wakes the delayed runs and auto-replays whose time has come and drains every hook
with calls waiting (passerelle/zaps/sweep.py). `zap-test` renders a zap's steps against an event or the
trigger's sample, calling nothing, and shows them as an artifact.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.utilities.annotations import quote
from pydantic import Field

from passerelle.engine import BatchOutcome, DrainOptions, DrainReport, drain
from passerelle.progress import artifact_key as _key
from passerelle.progress import run_name
from passerelle.zaps.runner import Planned, ZapHandler, load_folder
from passerelle.zaps.sweep import sweep

HookName = Annotated[str, Field(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=64)]
LINGER_SECONDS = 2.0


def artifact_key(link: str) -> str:
    return _key("zaps", link)


async def _write(handler: ZapHandler, planned: Planned) -> BatchOutcome:
    return await ZapHandler.write(handler, planned)


_write_task = task(name="run-zaps", cache_policy=NO_CACHE)(_write)


class TaskedZapHandler(ZapHandler):
    """The runner, each batch's runs as one Prefect task run (a task run per event would cost 4–7 ms each)."""

    async def write(self, planned: Planned) -> BatchOutcome:
        return await _write_task(quote(self), quote(planned))


def _run_name() -> str:
    return run_name("zaps", str((flow_run.parameters or {}).get("link", "?")))


@flow(name="zaps", flow_run_name=_run_name, description="Run the zaps of a catch hook for the calls it received.")
async def run_zaps(
    link: HookName,
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 500,
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 50,
    source: Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=32)] = "catch",
) -> dict[str, Any]:
    """Run the zaps listening on a catch hook (or on an app's webhook), once per call received.

    Args:
        link: The catch hook's name (lowercase letters, digits and dashes), e.g. oxiva-to-sheets, or the
            connection an app's webhook calls came for. Each zap whose trigger is this hook runs for every call
            it received.
        batch_size: How many received calls to take together, from 1 to 5000.
        max_seconds: How long, in seconds, this run keeps taking new calls before it stops (the ones under
            way are finished; the rest wait for the next run).
        source: Where the calls came in: catch (a catch hook, the default) or the app whose webhook was
            called (e.g. okast).

    Returns:
        The counts of the run (calls taken, settled, failed and retried later) and, per zap, its runs that
        ended ok, filtered, failed, delayed, unknown or held (the zap is disabled).
    """
    worker = str(flow_run.id or uuid.uuid4())
    handler = TaskedZapHandler(source=source)
    report = DrainReport(link=link, worker=worker)
    options = DrainOptions(batch_size=batch_size, max_seconds=max_seconds, linger=LINGER_SECONDS)
    await drain(handler, link, worker, options, report=report)
    data = {**report.as_dict(), "zaps": {row["zap"]: {k: v for k, v in row.items() if k != "zap"}
                                         for row in handler.summary_rows()}}
    if report.busy:
        return Completed(message=report.notes()[0], data=data)
    notes = report.notes()
    await acreate_table_artifact(
        key=artifact_key(link), table=handler.summary_rows() or [{"zap": "(none)"}],
        description=f"**Zaps of hook {link}: runs per zap.**\n\n" + "\n".join(f"- {note}" for note in notes))
    get_run_logger().info("Hook %r: %s", link, " ".join(notes))
    return Completed(message=notes[0], data=data)


@flow(name="zaps-resume", flow_run_name="zaps-resume",
      description="Go on with the zap runs whose time has come (delays, auto-replays) and the calls left waiting.")
async def resume_zaps(
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 50,
) -> dict[str, Any]:
    """Wake the delayed zap runs and the auto-replays that are due, then run the zaps of every catch hook that has
    calls waiting (those, replays asked with `passerelle runs replay`, and calls whose nudge was lost).

    Args:
        max_seconds: How long, in seconds, this run keeps taking the calls waiting on each hook before it moves
            on (the rest wait for the next run).

    Returns:
        The runs woken per hook, and per hook and zap the runs that ended ok, filtered, failed, delayed, unknown
        or held.
    """
    worker = str(flow_run.id or uuid.uuid4())
    options = DrainOptions(batch_size=500, max_seconds=max_seconds, linger=0.5)
    result = await sweep(worker, options=options, handler_factory=TaskedZapHandler)
    rows = result.rows()
    woken = sum(result.woken.values())
    message = (f"{sum(result.started.values())} event(s) started by schedules and polls; {woken} run(s) woken; "
               f"{len(result.drains)} hook(s) drained" + (f": {', '.join(sorted(result.drains))}" if result.drains
                                                          else ""))
    for problem in result.problems:
        get_run_logger().warning("Not started: %s", problem)
    if result.drains:
        await acreate_table_artifact(key="zaps-resume", table=rows,
                                     description=f"**Zap runs resumed.** {message}.")
    get_run_logger().info(message)
    return Completed(message=message, data={"woken": result.woken, "started": result.started,
                                            "problems": result.problems, "runs": rows})


def _fenced(value: Any) -> str:
    """JSON in a code block whose fence is longer than any run of backticks inside: a payload cannot close it
    and have the UI render its own markdown."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}json\n{text}\n{fence}"


ZapId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="a zap's id, e.g. okast-renewal")]


@flow(name="zap-test", flow_run_name="zap-test/{zap}",
      description="Render a zap's steps against an event (or its trigger's sample); calls nothing.")
async def zap_test(zap: ZapId, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render every step of a zap against one event and show them as an artifact; no action is called.

    Args:
        zap: The zap's id (its `id:` in zaps/*.yaml).
        event: The trigger's payload as JSON, e.g. {"method": "POST", "json": {"email": "lea@example.org"}}.
            Leave empty to use the trigger's documented sample.

    Returns:
        How the run would end (ok, filtered or failed) and each step reached with its rendered inputs.
    """
    from passerelle.zaps.preview import preview
    from passerelle.zaps.registry import get_trigger

    zaps, problems = load_folder()
    found = {z.id: z for z in zaps}
    if zap not in found:
        known = ", ".join(sorted(found)) or "none"
        extra = f" (files that do not load: {'; '.join(problems[:3])})" if problems else ""
        raise ValueError(f"zap: no zap with id {zap!r}; the zaps are: {known}{extra}")
    definition = found[zap]
    payload = event if event is not None else dict(get_trigger(
        f"{definition.trigger.app}.{definition.trigger.event}").sample)
    result = preview(definition, payload)
    lines = [f"# Zap {definition.id}: {result['status']} (nothing was called)", "",
             f"Event ({'given' if event is not None else 'the trigger sample'}):", "", _fenced(payload)]
    for step in result["steps"]:
        lines += ["", f"## {step.get('step', '')}: {step.get('id', '')} ({step.get('type', '')})", "", _fenced(step)]
    await acreate_markdown_artifact(key=_key("zap-test", definition.id), markdown="\n".join(lines),
                                    description=f"Zap {definition.id} rendered against one event")
    return Completed(message=f"{definition.id}: {result['status']} (nothing was called)", data=result)
