"""Zaps on catch hooks: run the zaps of a hook for the calls it received (docs/zaps.md, "Running zaps").

Orchestration only: the loop is the drain engine (passerelle/engine), the runner is passerelle/zaps/runner.py.
Started by the `zaps` deployment when the gateway nudges (event `passerelle.inbox.received` for source
catch) and every minute as a safety net. One drain per hook at a time (the store lease `catch-drain:<hook>`).
Prefect sees one task run per batch (`run-zaps`); each zap run and step is recorded in the store
(`passerelle runs list|show`), and the run's artifact counts the runs per zap.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.utilities.annotations import quote
from pydantic import Field

from passerelle.engine import BatchOutcome, DrainOptions, DrainReport, drain
from passerelle.progress import artifact_key as _key
from passerelle.progress import run_name
from passerelle.zaps.runner import Planned, ZapHandler

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
) -> dict[str, Any]:
    """Run the zaps listening on a catch hook, once per call the hook received.

    Args:
        link: The catch hook's name (lowercase letters, digits and dashes), e.g. oxiva-to-sheets. Each zap
            whose trigger is this hook runs for every call it received.
        batch_size: How many received calls to take together, from 1 to 5000.
        max_seconds: How long, in seconds, this run keeps taking new calls before it stops (the ones under
            way are finished; the rest wait for the next run).

    Returns:
        The counts of the run (calls taken, settled, failed and retried later) and, per zap, its runs that
        ended ok, filtered, failed, delayed, unknown or held (the zap is disabled).
    """
    worker = str(flow_run.id or uuid.uuid4())
    handler = TaskedZapHandler()
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
