"""Amilia webhooks → Cyberimpact (seed: "Mise à jour automatique"): drain the link's inbox.

Orchestration only: the loop is the drain engine (passerelle/engine), Amilia's handler and rules are
tasks/amilia_cyberimpact/events/. Started by the `amilia-webhooks` deployment when the gateway nudges (event
`passerelle.inbox.received`), and every minute as a safety net (prefect.yaml, docs/amilia-webhooks.md). One
deployment serves every link; one drain per link runs at a time (the store lease): a run that finds another
drain of its link ends at once, Completed, and leaves the events to it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import Field

from connectors._http import RetryPolicy
from passerelle.engine import DrainOptions, DrainReport, drain
from passerelle.engine.progress import following
from passerelle.engine.progress import waiting as events_waiting
from passerelle.progress import RunProgress, run_name
from passerelle.progress import artifact_key as _key
from passerelle.store import reap_stale_runs
from passerelle.store.effects import lease_holder
from tasks.amilia_cyberimpact.events.batch import plan_amilia_events, prepare_cyberimpact, write_cyberimpact_changes
from tasks.amilia_cyberimpact.events.handler import AmiliaEvents, Steps, drain_lease_name
from tasks.amilia_cyberimpact.sync import LinkName

# Short in-call retries: the inbox retries failed events itself, with backoff across runs, so one slow
# vendor call must not hold a whole batch for the client's default minute.
WEBHOOK_RETRY = RetryPolicy(max_attempts=3, max_total_wait=5.0, initial_wait=0.25)
# Once the inbox looks empty, keep polling this long: a delivery stored a moment later is taken by this run
# instead of waiting for a new deployment run (~8 s to start) or the safety-net schedule.
LINGER_SECONDS = 2.0
PROGRESS_SECONDS = 2.0  # how often the progress artifact follows the drain


def artifact_key(link: str) -> str:
    """Key of the run's counts table; ``-events`` (what it touched) and ``-progress`` are beside it."""
    return _key("amilia-webhooks", link)


def _run_name() -> str:
    return run_name("amilia-webhooks", str((flow_run.parameters or {}).get("link", "default")))


@flow(name="amilia-webhooks", flow_run_name=_run_name, description="Apply the changes Amilia announced by "
      "webhook to Cyberimpact: contacts, fields, groups, consent, archives and cancellations.")
async def process_amilia_events(
    link: LinkName = "default",
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 1000,
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 50,
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8,
) -> dict[str, Any]:  # ends in a Completed state (message: the headline); callers get its data
    """Drain the link's Amilia inbox into Cyberimpact (seed: "Mise à jour automatique").

    Args:
        link: Name under which the club's Amilia and Cyberimpact accounts were connected (lowercase letters,
            digits and dashes; "default" on the local stack). The changes Amilia announced for this club
            are applied.
        batch_size: How many waiting changes to apply together, from 1 to 5000. Large groups go faster
            during a rush; a quiet day makes small ones anyway. 1000 suits most clubs.
        max_seconds: How long, in seconds, this run keeps taking new changes before it stops (the group
            under way is finished). Keep it under a minute: a new run is started every minute.
        max_attempts: How many times a change that keeps failing is tried before it is set aside for a
            person to look at (`passerelle inbox replay` tries it again).

    Returns:
        The counts of the run: batches, events claimed, applied, already applied (before a crash), failed
        (will be retried), dead, released, skipped by reason, and the vendor calls made; `touched` lists
        the first events settled with what they changed, `notes` explain the counts; `busy` is true when
        another drain of the link was running.
    """
    logger = get_run_logger()
    worker = str(flow_run.id or uuid.uuid4())
    report = DrainReport(link=link, worker=worker)
    holder = lease_holder(drain_lease_name(link))
    if holder is not None and holder != worker:  # the drain below would say the same, after opening the link
        report.busy = True
        return _busy(link, report)
    for run_id in reap_stale_runs():  # every minute by its schedule: syncs whose process died say so
        logger.warning("Sync run %s stopped giving signs of life: recorded as crashed", run_id)
    options = DrainOptions(batch_size=batch_size, max_seconds=max_seconds, max_attempts=max_attempts,
                           linger=LINGER_SECONDS)
    progress = RunProgress(f"{artifact_key(link)}-progress", f"Webhook events of link {link!r}")
    await progress.update("starting", 0, 1, "opening the link")
    handler = AmiliaEvents(retry=WEBHOOK_RETRY, prepare=prepare_cyberimpact, months=options.months,
                           steps=Steps(plan=plan_amilia_events, write=write_cyberimpact_changes))
    try:  # the handler opens the link once the drain holds the link's lease
        async with following(progress, report, "amilia", done="events settled", left="waiting in the inbox",
                             every=PROGRESS_SECONDS):
            await drain(handler, link, worker, options, report=report)
    finally:
        if report.busy:  # another drain took the lease between the check above and the drain's own
            await progress.update("another drain of the link is taking the events", 1, 1)
        else:
            await _report(link, report, progress)
    if report.busy:
        return _busy(link, report)
    logger.info("Drained link %r: %d applied, %d failed, %d dead, skipped %s", link, report.applied,
                report.failed, report.dead, dict(report.skipped))
    return Completed(message=report.notes()[0], data=report.as_dict())


def _busy(link: str, report: DrainReport) -> Completed:
    message = f"Another drain of link {link!r} is running; it will take these events."
    get_run_logger().info(message)
    return Completed(message=message, data=report.as_dict())


async def _report(link: str, report: DrainReport, progress: RunProgress) -> None:
    """The run's artifacts: counts (explained), the events it touched, and its final progress."""
    notes = report.notes()
    waiting = events_waiting("amilia", link)
    stage = f"stopped: {report.stopped}" if report.stopped else "done"
    await progress.update(stage, report.settled, report.settled + waiting,
                          f"{report.settled} events settled, {waiting} left for the next run")
    await acreate_table_artifact(
        key=artifact_key(link), table=report.rows(),
        description=f"**Amilia webhooks → Cyberimpact, link {link!r}: what this run did.**\n\n"
                    + "\n".join(f"- {note}" for note in notes))
    if report.touched:
        shown = len(report.touched)
        await acreate_table_artifact(
            key=f"{artifact_key(link)}-events", table=report.touched,
            description=f"**The {'first ' if report.settled > shown else ''}{shown} of {report.settled} webhook "
                        f"events this run settled, link {link!r}**: the Amilia event (Context.Action), the "
                        f"person, account or registration it is about, and what it changed in Cyberimpact.")
