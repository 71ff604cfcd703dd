"""Nightly Amilia ↔ Cyberimpact reconciliation: find the drift missed webhooks leave, and repair it.

Amilia signs nothing and drops its webhook queue after 72 hours of failures (DESIGN.md); this flow is
what makes the sync trustworthy anyway. It compares Amilia's current state with Cyberimpact's, repairs
contacts, fields, consent and group memberships, and reports what it fixed in an artifact. A second run
finds nothing to fix.
"""

from __future__ import annotations

import asyncio
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
from passerelle.store import finish_sync_run, live_sync_run
from tasks.amilia_cyberimpact.links import open_link
from tasks.amilia_cyberimpact.reconcile import describe_drift, extra_memberships, remove_memberships
from tasks.amilia_cyberimpact.sync import (
    Day,
    LinkName,
    check_custom_field_room,
    diff_with_cyberimpact,
    ensure_custom_fields,
    ensure_groups,
    extract_amilia,
    load_contacts,
    plan_sync,
    read_cyberimpact_state,
)
from tasks.amilia_cyberimpact.transforms import window_start

RECONCILE_KIND = "amilia_reconcile"
STAGES = ("reading Amilia and Cyberimpact", "comparing", "repairing", "done")


def _run_name() -> str:
    return window_run_name("amilia-reconcile")


@flow(name="amilia-reconcile", flow_run_name=_run_name, description="Compare Amilia with Cyberimpact and "
      "repair what differs (changes whose webhook was lost): contacts, fields, consent and group memberships.")
async def amilia_reconcile(
    link: LinkName = "default",
    months: Annotated[int, Field(ge=1, le=120)] = 24,
    dry_run: bool = False,
    as_of: Day | None = None,
) -> dict[str, Any]:  # ends in a Completed state (message: the headline); callers get its data
    """Repair what differs between Amilia and Cyberimpact for one link.

    Args:
        link: Name under which the club's Amilia and Cyberimpact accounts were connected (lowercase letters,
            digits and dashes; "default" on the local stack).
        months: How many months of past registrations decide who belongs in Cyberimpact and in which
            activity groups, from 1 to 120 (use the same number as the initial import, 24 by default).
        dry_run: Read everything and report what would change, without repairing anything in Cyberimpact.
        as_of: Last day of the period, as YYYY-MM-DD; leave empty for today.

    Returns:
        The drift found per kind, and whether it was repaired; `notes` explain the counts; `busy` is true when
        another reconciliation of the link was running (this run then did nothing).
    """
    holder = str(flow_run.id or uuid.uuid4())
    # One reconciliation per link at a time: the store lease `amilia-reconcile:<link>`, renewed by the run's
    # heartbeat thread; a run whose process died loses it within run_stale_after_seconds (passerelle/store/runs.py).
    with live_sync_run(RECONCILE_KIND, link, lease=f"amilia-reconcile:{link}", holder=holder, dry_run=dry_run,
                       flow_run_id=str(flow_run.id or "")) as run_id:
        if run_id is None:
            return busy(f"Another reconciliation of link {link!r} is running; it covers this one, so this run "
                        f"did nothing.", link=link, dry_run=dry_run)
        return await _reconcile(run_id, link, months, dry_run, as_of)


async def _reconcile(run_id: int, link: str, months: int, dry_run: bool, as_of: date | None) -> Any:
    logger = get_run_logger()
    until = as_of or datetime.now(UTC).date()
    since = window_start(until, months)
    key = artifact_key("amilia-reconcile", link, dry_run=dry_run)
    progress = RunProgress(f"{key}-progress", f"Reconciliation of link {link!r}" + (" (dry run)" if dry_run else ""),
                           run_id=run_id)
    try:
        await progress.update(STAGES[0], 0, 3)
        async with open_link(link) as (amilia, cyberimpact):
            snapshot, extract = await asyncio.gather(read_cyberimpact_state(cyberimpact),
                                                     extract_amilia(amilia, since, until))
            missing_fields = check_custom_field_room(quote(snapshot))
            await progress.update(STAGES[1], 1, 3)
            plan = plan_sync(quote(extract), since, until)
            del extract
            changes = diff_with_cyberimpact(quote(plan), quote(snapshot))
            titles = {v: k for k, v in snapshot.group_ids().items()}
            extra = extra_memberships(plan, snapshot.members, titles)
            drift = describe_drift(changes, extra)
            if not dry_run and (drift.total or missing_fields):
                await progress.update(STAGES[2], 2, 3)
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
        summary["notes"] = explain_reconcile(summary)
        verb = "found (dry run: nothing repaired)" if dry_run else "found and repaired"
        rows = drift.rows() or [{"drift": "none", "contact": "", "detail": "Amilia and Cyberimpact agree"}]
        await acreate_table_artifact(
            key=key, table=rows,
            description=f"**Amilia ↔ Cyberimpact reconciliation, link {link!r}, {since} – {until}: drift {verb}.**"
                        "\n\n" + "\n".join(f"- {note}" for note in summary["notes"]))
        logger.info("Reconciliation of %r: %s", link, summary["counts"])
        await progress.update(STAGES[3], 3, 3)
        finish_sync_run(run_id, status="completed", summary={k: v for k, v in summary.items() if k != "drift"})
        return Completed(message=summary["notes"][0], data=summary)
    except BaseException as exc:
        finish_sync_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, Exception):
            await progress.show(progress.describe(f"failed while {progress.stage}", progress.percent,
                                                  f"{type(exc).__name__}; see the run's logs"))
        raise


def explain_reconcile(summary: dict[str, Any]) -> list[str]:
    """What the reconciliation's counts mean, in sentences (the artifact's description)."""
    counts, dry = summary["counts"], summary["dry_run"]
    fixed = "would be repaired by a real run" if dry else "repaired"
    found = sum(v for k, v in counts.items() if k != "failures")
    notes = [f"{found} differences found between Amilia and Cyberimpact; {fixed}." if found else
             "Amilia and Cyberimpact agree: nothing to repair."]
    why = {
        "contacts missing": "in Amilia's clients of the period but not in Cyberimpact (deleted there, or "
                            "a webhook lost)",
        "contacts with changed fields": "fields or consent in Cyberimpact differ from Amilia",
        "group memberships missing": "a contact not in a group its registrations or memberships give",
        "group memberships no longer valid": "a contact still in an activity or membership group it left "
                                             "(a cancellation or an archive whose webhook was lost)",
        "custom fields missing": "Amilia.* fields that had to be created again in Cyberimpact",
    }
    notes += [f"{counts[k]} {k}: {text}." for k, text in why.items() if counts.get(k)]
    if counts.get("failures"):
        notes.append(f"{counts['failures']} changes were refused by Cyberimpact (listed under failures); the "
                     f"next run tries them again.")
    if dry:
        notes.append("Dry run: nothing was written to Cyberimpact.")
    return notes
