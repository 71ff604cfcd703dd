"""Amilia → Cyberimpact initial sync (seed: "Synchronisation initiale").

Orchestration only: the HTTP lives in connectors/, the rules in tasks/.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed
from prefect.utilities.annotations import quote
from pydantic import Field

from passerelle.progress import RunProgress, artifact_key, busy, window_run_name
from passerelle.store import finish_sync_run, live_sync_run, set_watermark
from tasks.amilia_cyberimpact.links import open_link
from tasks.amilia_cyberimpact.mapping import ARCHIVED_GROUP
from tasks.amilia_cyberimpact.sync import (
    Day,
    LinkName,
    check_custom_field_room,
    diff_with_cyberimpact,
    ensure_custom_fields,
    ensure_groups,
    explain_sync,
    extract_amilia,
    load_contacts,
    plan_sync,
    read_cyberimpact_state,
    skipped_by_reason,
    summary_rows,
    wanted_groups,
)
from tasks.amilia_cyberimpact.transforms import window_start

# Large inputs (tens of thousands of records) are passed `quote`d: Prefect would otherwise walk every
# element looking for futures, which cost ~18 s of a 20 000-person sync (bench/initial_sync.py).

SYNC_KIND = "amilia_initial_sync"
STAGES = ("reading Amilia and Cyberimpact", "planning contacts", "creating fields and groups",
          "loading contacts", "done")


def _run_name() -> str:
    return window_run_name("amilia-initial-sync")


@flow(name="amilia-initial-sync", flow_run_name=_run_name, description="Import a club's Amilia clients of "
      "the last months into Cyberimpact: contacts with their 21 fields, groups and consent.")
async def amilia_initial_sync(
    link: LinkName = "default",
    months: Annotated[int, Field(ge=1, le=120)] = 24,
    dry_run: bool = False,
    as_of: Day | None = None,
) -> dict[str, Any]:  # ends in a Completed state (message: the headline); callers get its data
    """Import an Amilia organisation's clients into Cyberimpact (seed: "Synchronisation initiale").

    Args:
        link: Name under which the club's Amilia and Cyberimpact accounts were connected (lowercase letters,
            digits and dashes; "default" on the local stack).
        months: How many months of past registrations to import, from 1 to 120 (24 recommended): the
            clients with a registration or an active membership in that period become contacts.
        dry_run: Read everything and report what would change, without changing anything in Cyberimpact.
        as_of: Last day of the import period, as YYYY-MM-DD; leave empty for today.

    Returns:
        The summary: counts of contacts created, updated, unchanged and skipped (with reasons), group
        memberships added, groups and custom fields created, and rejected contacts; `notes` explain them.
    """
    holder = str(flow_run.id or uuid.uuid4())
    # One initial sync per link at a time: the store lease `amilia-initial-sync:<link>`, renewed by the run's
    # heartbeat thread; a run whose process died loses it within run_stale_after_seconds (passerelle/store/runs.py).
    with live_sync_run(SYNC_KIND, link, lease=f"amilia-initial-sync:{link}", holder=holder, dry_run=dry_run,
                       flow_run_id=str(flow_run.id or "")) as run_id:
        if run_id is None:
            return busy(f"Another initial sync of link {link!r} is running, so this run did nothing; its "
                        f"summary will say what it changed.", link=link, dry_run=dry_run)
        return await _initial_sync(run_id, link, months, dry_run, as_of)


async def _initial_sync(run_id: int, link: str, months: int, dry_run: bool, as_of: date | None) -> Any:
    logger = get_run_logger()
    until = as_of or datetime.now(UTC).date()
    since = window_start(until, months)
    key = artifact_key("amilia-sync", link, dry_run=dry_run)
    progress = RunProgress(f"{key}-progress", f"Initial sync of link {link!r}" + (" (dry run)" if dry_run else ""),
                           run_id=run_id)

    async def stage(index: int) -> None:
        await progress.update(STAGES[index], index, len(STAGES) - 1)

    try:
        extracted_at = datetime.now(UTC)
        await stage(0)
        async with open_link(link) as (amilia, cyberimpact):

            async def read_cyberimpact_and_make_room():
                snapshot = await read_cyberimpact_state(cyberimpact)
                missing = check_custom_field_room(quote(snapshot))  # fails here, before any write
                # The 14 fields do not depend on Amilia: create them while Amilia is still being read.
                ids = {} if dry_run else await ensure_custom_fields(cyberimpact, quote(snapshot), missing)
                return snapshot, missing, ids

            (snapshot, missing_fields, field_ids), extract = await asyncio.gather(
                read_cyberimpact_and_make_room(), extract_amilia(amilia, since, until))
            gc.freeze()  # tens of thousands of long-lived records: keep the cyclic GC from rescanning them
            await stage(1)
            plan = plan_sync(quote(extract), since, until)
            del extract  # the raw Amilia records are not needed past planning (peak memory)
            if dry_run:
                changes = diff_with_cyberimpact(quote(plan), quote(snapshot))
                static, dynamic = wanted_groups(plan)
                existing = snapshot.group_ids()
                groups_created = [t for t in (*static, *dynamic, ARCHIVED_GROUP) if t not in existing]
                created, updated = len(changes.creates), len(changes.updates)
                added, failures = changes.group_memberships_added, []
            else:
                await stage(2)
                group_ids, groups_created = await ensure_groups(cyberimpact, quote(snapshot), quote(plan),
                                                                   field_ids)
                changes = diff_with_cyberimpact(quote(plan), quote(snapshot))
                await stage(3)
                outcome = await load_contacts(cyberimpact, quote(changes), field_ids, group_ids)
                created, updated = outcome.created, outcome.updated
                added, failures = outcome.group_memberships_added, outcome.failures
                set_watermark("amilia", link, extracted_at)
        summary = {
            "link": link, "dry_run": dry_run, "window": {"from": since.isoformat(), "to": until.isoformat()},
            "counts": {
                "contacts planned": len(plan.contacts),
                "contacts created": created,
                "contacts updated": updated,
                "contacts unchanged": changes.unchanged,
                "contacts rejected by Cyberimpact": len(changes.creates) + len(changes.updates) - created - updated,
                "contacts skipped": len(plan.skipped) + len(changes.skipped),
                "group memberships added": added,
                "groups created": len(groups_created),
                "custom fields created": len(missing_fields),
                "failures": len(failures),
            },
            "skipped": skipped_by_reason(plan, changes),
            "groups_created": groups_created,
            "custom_fields_created": missing_fields,
            "failures": failures[:50],
        }
        summary["notes"] = explain_sync(summary)
        verb = "would change (dry run: nothing written)" if dry_run else "changed"
        await acreate_table_artifact(
            key=key, table=summary_rows(summary),
            description=f"**Amilia → Cyberimpact initial sync, link {link!r}, {since} – {until}: what it "
                        f"{verb}.**\n\n" + "\n".join(f"- {note}" for note in summary["notes"]))
        if failures:
            logger.warning("%d changes were refused by Cyberimpact; see the summary artifact", len(failures))
        logger.info("Summary: %s", summary["counts"])
        await stage(4)
        finish_sync_run(run_id, status="completed", summary=summary)
        return Completed(message=summary["notes"][0], data=summary)
    except BaseException as exc:
        finish_sync_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, Exception):
            await progress.show(progress.describe(f"failed while {progress.stage}", progress.percent,
                                                  f"{type(exc).__name__}; see the run's logs"))
        raise
    finally:
        gc.unfreeze()
