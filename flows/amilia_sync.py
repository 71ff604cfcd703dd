"""Amilia → Cyberimpact initial sync (seed: "Synchronisation initiale").

Orchestration only: the HTTP lives in connectors/, the rules in tasks/.
"""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, date, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from pydantic import Field

from passerelle.store import finish_sync_run, set_watermark, start_sync_run, update_progress
from tasks.amilia_mapping import ARCHIVED_GROUP
from tasks.amilia_sync import (
    check_custom_field_room,
    diff_with_cyberimpact,
    ensure_custom_fields,
    ensure_groups,
    extract_amilia,
    load_contacts,
    plan_sync,
    read_cyberimpact_state,
    skipped_by_reason,
    summary_rows,
    wanted_groups,
)
from tasks.amilia_transforms import window_start
from tasks.links import open_link

# Large inputs (tens of thousands of records) are passed `quote`d: Prefect would otherwise walk every
# element looking for futures, which cost ~18 s of a 20 000-person sync (bench/initial_sync.py).

SYNC_KIND = "amilia_initial_sync"
STAGES = ("reading Amilia and Cyberimpact", "planning contacts", "creating fields and groups",
          "loading contacts", "done")


def _stage(run_id: int, index: int) -> None:
    update_progress(run_id, STAGES[index], index, len(STAGES) - 1)


@flow(name="amilia-initial-sync", description="Import an Amilia organisation's clients of the last "
      "months into Cyberimpact: contacts, 21 fields, groups and consent.")
async def amilia_initial_sync(
    link: str = "default",
    months: Annotated[int, Field(ge=1, le=120)] = 24,
    dry_run: bool = False,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Import an Amilia organisation's clients into Cyberimpact (seed: "Synchronisation initiale").

    Args:
        link: Name of the Amilia Credentials and Cyberimpact Credentials blocks to use (both saved
            under this name).
        months: Import registrations created in the last N months; the seed says 24.
        dry_run: Read everything and report what would change; write nothing.
        as_of: Last day of the import window; default today.

    Returns:
        The summary: counts of contacts created, updated, unchanged and skipped (with reasons), group
        memberships added, groups and custom fields created, and rejected contacts.
    """
    logger = get_run_logger()
    until = as_of or datetime.now(UTC).date()
    since = window_start(until, months)
    run_id = start_sync_run(SYNC_KIND, link, dry_run=dry_run, flow_run_id=str(flow_run.id or ""))
    try:
        extracted_at = datetime.now(UTC)
        async with open_link(link) as (amilia, cyberimpact):
            _stage(run_id, 0)

            async def read_cyberimpact_and_make_room():
                snapshot = await read_cyberimpact_state(cyberimpact)
                missing = check_custom_field_room(quote(snapshot))  # fails here, before any write
                # The 14 fields do not depend on Amilia: create them while Amilia is still being read.
                ids = {} if dry_run else await ensure_custom_fields(cyberimpact, quote(snapshot), missing)
                return snapshot, missing, ids

            (snapshot, missing_fields, field_ids), extract = await asyncio.gather(
                read_cyberimpact_and_make_room(), extract_amilia(amilia, since, until))
            gc.freeze()  # tens of thousands of long-lived records: keep the cyclic GC from rescanning them
            _stage(run_id, 1)
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
                _stage(run_id, 2)
                group_ids, groups_created = await ensure_groups(cyberimpact, quote(snapshot), quote(plan),
                                                                   field_ids)
                changes = diff_with_cyberimpact(quote(plan), quote(snapshot))
                _stage(run_id, 3)
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
        verb = "would change (dry run)" if dry_run else "changed"
        await acreate_table_artifact(
            key=f"amilia-sync-{link}".lower().replace("_", "-"), table=summary_rows(summary),
            description=f"Amilia → Cyberimpact initial sync, link {link!r}, window {since} – {until}: "
                        f"what it {verb}.")
        if failures:
            logger.warning("%d contacts were rejected by Cyberimpact; see the summary artifact", len(failures))
        logger.info("Summary: %s", summary["counts"])
        _stage(run_id, 4)
        finish_sync_run(run_id, status="completed", summary=summary)
        return summary
    except BaseException as exc:
        finish_sync_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        gc.unfreeze()
