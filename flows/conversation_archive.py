"""iAdvize conversations → Zendesk tickets (seed: the iAdvize Zendesk app): archive closed conversations, turn
agents' escalations into open tickets, one ticket per conversation.

Orchestration only: the loop is the drain engine (passerelle/engine), the rules are tasks/iadvize_zendesk/.
`archive_conversations` is started by the `iadvize-archive` deployment when the gateway nudges (event
`passerelle.inbox.received` for source iadvize) and every few minutes as a safety net (with `catch_up`: it
also lists the conversations closed since its last look that have no ticket). `backfill_conversations` archives
a past period (deployment `iadvize-backfill`). One drain per site runs at a time (the store lease
`iadvize-drain:<site>`); a run that finds another one working leaves the events to it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from pydantic import Field

from passerelle.engine import DrainOptions, DrainReport, drain
from passerelle.engine.progress import following
from passerelle.engine.progress import waiting as events_waiting
from passerelle.progress import RunProgress, run_name
from passerelle.progress import artifact_key as _key
from tasks.iadvize_zendesk.backfill import Unarchived, advance, enqueue, find_unarchived, safety_net_window
from tasks.iadvize_zendesk.handler import SOURCE, ConversationArchive
from tasks.iadvize_zendesk.site import ArchiveSite, load_site

SiteId = Annotated[str, Field(pattern=r"^[0-9]+$", min_length=1, max_length=18)]
PROGRESS_SECONDS = 2.0
LINGER_SECONDS = 2.0


def artifact_key(site: str, *, dry_run: bool = False) -> str:
    return _key("iadvize-archive", f"site-{site}", dry_run=dry_run)


def _run_name() -> str:
    params: dict[str, Any] = flow_run.parameters or {}
    since = params.get("since")
    return run_name("iadvize-archive", f"site-{params.get('site', '?')}", str(since)[:10] if since else None,
                    dry_run=bool(params.get("dry_run")))


@flow(name="iadvize-archive", flow_run_name=_run_name, description="Archive the site's closed iAdvize "
      "conversations as solved Zendesk tickets and turn agents' escalations into open tickets.")
async def archive_conversations(
    site: SiteId,
    since: datetime | None = None,
    dry_run: bool = False,
    catch_up: bool = False,
    max_seconds: Annotated[float, Field(gt=0, le=3600)] = 50,
) -> dict[str, Any]:
    """Archive the site's conversations in Zendesk: one ticket per conversation.

    Args:
        site: The iAdvize site (project) id whose conversations are archived, e.g. 4242.
        since: Also archive the conversations closed since this time that have no ticket yet (empty: only
            the conversations iAdvize announced).
        dry_run: Read everything and report what would change, without creating any ticket.
        catch_up: Also look for conversations closed since the previous check that have no ticket yet (the
            every-few-minutes schedule sets it).
        max_seconds: How long, in seconds, this run keeps taking new conversations before it stops (the
            ones under way are finished; the rest wait for the next run).

    Returns:
        The counts of the run: conversations listed and queued (with `since` or `catch_up`), events applied,
        skipped by reason, failed (retried later), tickets created, archives escalated, notes added, calls.
    """
    return await _archive(site, since=since, dry_run=dry_run, catch_up=catch_up, max_seconds=max_seconds)


@flow(name="iadvize-backfill", flow_run_name=_run_name, description="Archive in Zendesk the site's iAdvize "
      "conversations closed since a date that have no ticket yet; safe to run again.")
async def backfill_conversations(site: SiteId, since: datetime, dry_run: bool = False) -> dict[str, Any]:
    """Archive a past period: every conversation closed since `since` without a ticket gets one.

    Args:
        site: The iAdvize site (project) id, e.g. 4242.
        since: The start of the period, e.g. 90 days ago. Conversations that already have a ticket are left
            as they are; a run that stops is simply started again.
        dry_run: Read everything and report what would change, without creating any ticket.

    Returns:
        The counts: conversations closed in the period, with a ticket already, queued, then archived.
    """
    return await _archive(site, since=since, dry_run=dry_run, catch_up=False, max_seconds=3600)


async def _archive(site: str, *, since: datetime | None, dry_run: bool, catch_up: bool,
                   max_seconds: float) -> Any:
    logger = get_run_logger()
    worker = str(flow_run.id or uuid.uuid4())
    loaded = await load_site(site)
    summary: dict[str, Any] = {}
    progress = RunProgress(f"{artifact_key(site, dry_run=dry_run)}-progress", f"iAdvize archival of site {site}")
    if since is not None or catch_up:
        await progress.update("listing closed conversations", 0, 1)
        found = await _list(loaded, site, since)
        summary = {"window_start": found.start.isoformat(), "window_end": found.end.isoformat(),
                   "closed": found.closed, "with_ticket": found.with_ticket, "without_ticket": len(found.missing)}
        if not dry_run:
            summary["queued"] = enqueue(site, found.missing)
            advance(site, found)
        logger.info("Site %s: %d conversations closed from %s to %s, %d without a ticket", site, found.closed,
                    found.start, found.end, len(found.missing))
    if dry_run:
        summary["waiting_events"] = events_waiting(SOURCE, site)
        note = (f"Dry run: nothing was created. {summary.get('without_ticket', 0)} closed conversations have no "
                f"ticket; {summary['waiting_events']} announced conversations or escalations are waiting.")
        await progress.update("done (dry run)", 1, 1, note)
        await acreate_table_artifact(key=artifact_key(site, dry_run=True),
                                     table=[{"item": k.replace("_", " "), "value": v} for k, v in summary.items()],
                                     description=f"**iAdvize archival of site {site}, dry run.** {note}")
        return Completed(message=note, data={**summary, "dry_run": True})
    report = DrainReport(link=site, worker=worker)
    options = DrainOptions(max_seconds=max_seconds, linger=LINGER_SECONDS)
    async with following(progress, report, SOURCE, done="conversations or escalations done", left="waiting",
                         every=PROGRESS_SECONDS):
        await drain(ConversationArchive(site=loaded), site, worker, options, report=report)
    data = {**summary, **report.as_dict()}
    if report.busy:
        message = f"Another run of site {site} is archiving; it takes these conversations."
        await progress.update(message, 1, 1)
        return Completed(message=message, data=data)
    await _report(site, report, progress, summary)
    return Completed(message=report.notes()[0], data=data)


async def _list(loaded: ArchiveSite, site: str, since: datetime | None) -> Unarchived:
    start, end = safety_net_window(site)
    if since is not None:
        start, end = since, datetime.now(UTC)
    async with loaded.iadvize() as iadvize:
        return await find_unarchived(iadvize, site, start, end)


async def _report(site: str, report: DrainReport, progress: RunProgress, summary: dict[str, Any]) -> None:
    notes = report.notes()
    waiting = events_waiting(SOURCE, site)
    stage = f"stopped: {report.stopped}" if report.stopped else "done"
    await progress.update(stage, report.settled, report.settled + waiting,
                          f"{report.settled} done, {waiting} left for the next run")
    rows = [{"item": k.replace("_", " "), "count": v} for k, v in summary.items() if isinstance(v, int)]
    await acreate_table_artifact(
        key=artifact_key(site), table=rows + report.rows(),
        description=f"**iAdvize → Zendesk, site {site}: what this run did.**\n\n"
                    + "\n".join(f"- {note}" for note in notes))
    if report.touched:
        await acreate_table_artifact(
            key=f"{artifact_key(site)}-events", table=report.touched,
            description=f"**The conversations and escalations this run settled, site {site}** (the first "
                        f"{len(report.touched)} of {report.settled}): the ticket made or changed in Zendesk.")
