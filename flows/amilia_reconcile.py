"""Nightly Amilia ↔ Cyberimpact reconciliation: find the drift missed webhooks leave, and repair it.

Amilia signs nothing and drops its webhook queue after 72 hours of failures (DESIGN.md); this flow is
what makes the sync trustworthy anyway. It compares Amilia's current state with Cyberimpact's, repairs
contacts, fields, consent and group memberships, and reports what it fixed in an artifact. A second run
finds nothing to fix.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from pydantic import Field

from passerelle.store import finish_sync_run, start_sync_run, update_progress
from tasks.amilia_reconcile import describe_drift, extra_memberships, remove_memberships
from tasks.amilia_sync import (
    check_custom_field_room,
    diff_with_cyberimpact,
    ensure_custom_fields,
    ensure_groups,
    extract_amilia,
    load_contacts,
    plan_sync,
    read_cyberimpact_state,
)
from tasks.amilia_transforms import window_start
from tasks.links import open_link

RECONCILE_KIND = "amilia_reconcile"


@flow(name="amilia-reconcile", description="Compare Amilia with Cyberimpact and repair the drift "
      "(missed webhooks): contacts, fields, consent and group memberships.")
async def amilia_reconcile(
    link: str = "default",
    months: Annotated[int, Field(ge=1, le=120)] = 24,
    dry_run: bool = False,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Repair what differs between Amilia and Cyberimpact for one link.

    Args:
        link: Name of the Amilia Credentials and Cyberimpact Credentials blocks to use.
        months: Registrations of the last N months define the activity groups (as the initial sync).
        dry_run: Report the drift, repair nothing.
        as_of: Last day of the window; default today.

    Returns:
        The drift found per kind, and whether it was repaired.
    """
    logger = get_run_logger()
    until = as_of or datetime.now(UTC).date()
    since = window_start(until, months)
    run_id = start_sync_run(RECONCILE_KIND, link, dry_run=dry_run, flow_run_id=str(flow_run.id or ""))
    try:
        async with open_link(link) as (amilia, cyberimpact):
            update_progress(run_id, "reading Amilia and Cyberimpact", 0, 3)
            snapshot, extract = await asyncio.gather(read_cyberimpact_state(cyberimpact),
                                                     extract_amilia(amilia, since, until))
            missing_fields = check_custom_field_room(quote(snapshot))
            update_progress(run_id, "comparing", 1, 3)
            plan = plan_sync(quote(extract), since, until)
            del extract
            changes = diff_with_cyberimpact(quote(plan), quote(snapshot))
            titles = {v: k for k, v in snapshot.group_ids().items()}
            extra = extra_memberships(plan, snapshot.members, titles)
            drift = describe_drift(changes, extra)
            if not dry_run and (drift.total or missing_fields):
                update_progress(run_id, "repairing", 2, 3)
                field_ids = await ensure_custom_fields(cyberimpact, quote(snapshot), missing_fields)
                group_ids, _ = await ensure_groups(cyberimpact, quote(snapshot), quote(plan), field_ids)
                outcome = await load_contacts(cyberimpact, quote(changes), field_ids, group_ids)
                await remove_memberships(cyberimpact, extra, group_ids)
                failures = outcome.failures
            else:
                failures = []
        summary = {
            "link": link, "dry_run": dry_run, "window": {"from": since.isoformat(), "to": until.isoformat()},
            "counts": {
                "contacts missing": len(drift.contacts_missing),
                "contacts with changed fields": len(drift.contacts_with_changed_fields),
                "group memberships missing": len(drift.memberships_missing),
                "group memberships no longer valid": len(drift.memberships_extra),
                "custom fields missing": len(missing_fields),
                "failures": len(failures),
            },
            "repaired": not dry_run,
            "drift": drift.rows(),
            "failures": failures[:50],
        }
        verb = "found (dry run, nothing repaired)" if dry_run else "found and repaired"
        rows = drift.rows() or [{"drift": "none", "contact": "", "detail": "Amilia and Cyberimpact agree"}]
        await acreate_table_artifact(
            key=f"amilia-reconcile-{link}".lower().replace("_", "-"), table=rows,
            description=f"Amilia ↔ Cyberimpact reconciliation, link {link!r}: drift {verb}. "
                        f"Counts: {summary['counts']}")
        logger.info("Reconciliation of %r: %s", link, summary["counts"])
        update_progress(run_id, "done", 3, 3)
        finish_sync_run(run_id, status="completed", summary={k: v for k, v in summary.items() if k != "drift"})
        return summary
    except BaseException as exc:
        finish_sync_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
