"""Amilia webhooks → Cyberimpact (seed: "Mise à jour automatique"): drain the link's inbox.

Orchestration only: the loop is tasks/amilia_events_drain.py, the rules tasks/amilia_events*.py. Started
by the `amilia-webhooks` deployment when the gateway nudges (event `passerelle.inbox.received`), and every
minute as a safety net (prefect.yaml, docs/amilia-webhooks.md).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from pydantic import Field

from connectors._http import RetryPolicy
from tasks.amilia_events import plan_amilia_events, prepare_cyberimpact, write_cyberimpact_changes
from tasks.amilia_events_drain import DrainOptions, DrainReport, Steps, drain
from tasks.links import open_link

# Short in-call retries: the inbox retries failed events itself, with backoff across runs, so one slow
# vendor call must not hold a whole batch for the client's default minute.
WEBHOOK_RETRY = RetryPolicy(max_attempts=3, max_total_wait=5.0, initial_wait=0.25)
# Once the inbox looks empty, keep polling this long: a delivery stored a moment later is taken by this run
# instead of waiting for a new deployment run (~8 s to start) or the safety-net schedule.
LINGER_SECONDS = 2.0


def artifact_key(link: str) -> str:
    return "amilia-webhooks-" + (re.sub(r"[^a-z0-9-]+", "-", link.lower()).strip("-") or "link")


@flow(name="amilia-webhooks", description="Apply the Amilia webhook events waiting in a link's inbox to "
      "Cyberimpact: contacts, fields, groups, consent, archives and cancellations.")
async def process_amilia_events(
    link: str = "default",
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 1000,
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 50,
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8,
) -> dict[str, Any]:
    """Drain the link's Amilia inbox into Cyberimpact (seed: "Mise à jour automatique").

    Args:
        link: Name of the link: its Amilia Credentials and Cyberimpact Credentials blocks (both saved
            under this name) and its webhook inbox.
        batch_size: Events claimed at most at once and applied together; one batch costs one read per
            touched person and account (or the organisation's listing, when cheaper) and one Cyberimpact
            batch per set of groups, so a burst drains faster in large batches; a trickle makes small ones.
        max_seconds: Stop claiming new batches after this many seconds (the batch under way finishes).
            Keep it under the schedule's minute so that runs do not overlap.
        max_attempts: A failing event is retried with backoff, then set aside as dead after this many
            attempts (`passerelle inbox replay` puts it back).

    Returns:
        The counts of the run: batches, events claimed, applied, already applied (before a crash), failed
        (will be retried), dead, released, skipped by reason, and the vendor calls made; `busy` is true when
        another drain of the link was running.
    """
    logger = get_run_logger()
    worker = str(flow_run.id or uuid.uuid4())
    options = DrainOptions(batch_size=batch_size, max_seconds=max_seconds, max_attempts=max_attempts,
                           linger=LINGER_SECONDS)
    report = DrainReport(link=link, worker=worker)
    try:
        async with open_link(link, retry=WEBHOOK_RETRY) as (amilia, cyberimpact):
            await drain(link, worker, amilia, cyberimpact, options, prepare=prepare_cyberimpact, report=report,
                        steps=Steps(plan=plan_amilia_events, write=write_cyberimpact_changes))
    finally:
        await acreate_table_artifact(
            key=artifact_key(link), table=report.rows(),
            description=f"Amilia webhooks → Cyberimpact, link {link!r}: what this drain run did"
                        + (" (another drain of the link was running)" if report.busy else "")
                        + (f"; stopped: {report.stopped}" if report.stopped else "") + ".")
    if report.busy:
        logger.info("Another drain of link %r is running; it will take the new events.", link)
    logger.info("Drained link %r: %d applied, %d failed, %d dead, skipped %s", link, report.applied,
                report.failed, report.dead, dict(report.skipped))
    return report.as_dict()
