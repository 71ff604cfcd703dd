"""Applying a batch of Amilia webhook events to Cyberimpact (docs/amilia-webhooks.md).

:func:`plan_events` (Amilia: read, plan) and :func:`write_events` (Cyberimpact: read, write, record) are
plain async functions, testable and usable without Prefect: the plan and write steps of the Amilia handler of
the drain engine (tasks/amilia_cyberimpact/events/handler.py). The drain flow runs them as Prefect task runs
(:func:`plan_amilia_events`, :func:`write_cyberimpact_changes`), so a run shows two task runs per *batch*,
never one per event (a task run costs ~5 ms; DESIGN.md). Per-event detail goes
to the store: the effect ledger records ``inbox-<id>:applied`` or ``inbox-<id>:skipped`` with a short
detail, and failed events keep their error in the inbox row.

Steps of one batch: read the rows (a row already recorded in the ledger is done without being applied
again), fetch fresh Amilia state once per touched person and account, plan with the initial sync's
transforms, check "activity cancelled for all participants" — then read the Cyberimpact members concerned,
write, record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from connectors._http import AuthError
from connectors.amilia.client import AmiliaClient
from passerelle.engine import APPLIED, SKIPPED, BatchOutcome, error_text, event_key, final_keys, is_settled
from passerelle.store.effects import done_keys, record_effects
from passerelle.store.engine import off_loop
from passerelle.store.inbox import InboxEvent
from tasks.amilia_cyberimpact.events.fetch import AmiliaReader, AmiliaState, RegistrationsSnapshot, remember_and_resolve
from tasks.amilia_cyberimpact.events.model import (
    REGISTRATION_CANCEL,
    SKIP_ALL_CANCELLED,
    AmiliaEvent,
    BadPayload,
    OtherOrganisation,
    classify,
)
from tasks.amilia_cyberimpact.events.plan import BatchPlan, plan_batch, shared_email_keeps
from tasks.amilia_cyberimpact.events.write import (
    ArchiveLookups,
    CyberimpactAccount,
    MemberReader,
    resolve_archive_lookups,
    write_plan,
)


@dataclass
class EventContext:
    """What every batch of one drain run shares: the clients, the Cyberimpact ids, the sync window."""

    amilia: AmiliaClient
    side: CyberimpactAccount
    today: date
    since: date  # first day of the 24-month window
    store_url: str | None = None
    reader: AmiliaReader = field(init=False)
    members: MemberReader = field(init=False)
    registrations: RegistrationsSnapshot = field(init=False)

    def __post_init__(self) -> None:
        self.reader, self.members = AmiliaReader(self.amilia), MemberReader(self.side.client)
        self.registrations = RegistrationsSnapshot(self.amilia, self.since, self.today + timedelta(days=1))


@dataclass
class PlannedBatch:
    """A batch read and planned from Amilia, not yet written to Cyberimpact."""

    rows: list[InboxEvent]
    result: BatchOutcome
    events: list[AmiliaEvent] = field(default_factory=list)
    plan: BatchPlan | None = None
    notes: dict[int, str] = field(default_factory=dict)


async def plan_events(ctx: EventContext, rows: list[InboxEvent]) -> PlannedBatch:
    """Step 1 of a batch, Amilia only: rows already in the ledger are done; the others are read, planned, and
    the "cancelled for all participants" rule applied. Reads nothing from Cyberimpact, so a drain runs it for
    the next batch while the previous one is being written.

    Raises:
        AuthError: Amilia refused the credentials; the caller releases the batch and stops.
    """
    batch = PlannedBatch(rows, BatchOutcome())
    result = batch.result
    recorded = await off_loop(ctx.store_url, done_keys, final_keys(r.id for r in rows), url=ctx.store_url)
    organisation = ctx.side.organisation(ctx.amilia.organization)  # events of another one are never applied
    for row in sorted(rows, key=lambda r: r.id):
        if is_settled(row.id, recorded):
            result.done.append(row.id)  # applied before a crash, not yet marked done
            result.already_applied += 1
            continue
        try:
            batch.events.append(classify(row.id, row.event_type, row.payload, window_start=ctx.since,
                                         today=ctx.today, organisation=organisation))
        except OtherOrganisation as exc:
            result.bad[row.id] = str(exc)
        except BadPayload as exc:
            result.bad[row.id] = f"bad payload: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug in one event fails only that event
            result.failed[row.id] = error_text(exc)
    # registration facts: kept from full payloads, used for the Deletes that carry only an Id
    await off_loop(ctx.store_url, remember_and_resolve, batch.events, organisation.identifier, ctx.since,
                   ctx.store_url)
    if not batch.events:
        return batch
    clock = time.perf_counter()
    cancelled = {int(e.record["Id"]) for e in batch.events
                 if e.kind == REGISTRATION_CANCEL and e.activity_id is not None and e.record.get("Id") is not None}
    state, _ = await asyncio.gather(ctx.reader.read(batch.events), _refresh_registrations(ctx, cancelled))
    result.timings["amilia read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    batch.plan = plan_batch(batch.events, state, ctx.since, ctx.today)
    result.timings["plan"] = time.perf_counter() - clock
    if batch.plan.sharer_lookups:
        await _plan_shared_emails(ctx, batch, state, set(batch.plan.sharer_lookups))
    clock = time.perf_counter()
    batch.notes = await _keep_fully_cancelled(ctx, batch.plan)
    result.timings["cancelled-for-all check"] = time.perf_counter() - clock
    return batch


async def _refresh_registrations(ctx: EventContext, cancelled: set[int]) -> None:
    """The registrations snapshot that judges "cancelled for all participants", read with the batch's other
    Amilia reads when its cancellations need it; a failure is left to the check after planning, which reads
    again and fails the cancellations concerned if it fails again."""
    with contextlib.suppress(Exception):
        await ctx.registrations.refresh(cancelled)


async def _plan_shared_emails(ctx: EventContext, batch: PlannedBatch, state: AmiliaState, emails: set[str]
                              ) -> None:
    """The batch involves archived persons, or addresses other persons share: look these e-mails up in the
    whole organisation and plan again, so that an e-mail a live person shares is not archived and keeps that
    person's groups (seed: "Les adresses courriel des personnes et du propriétaire du compte archivé seront
    retirées des groupes d'activités et d'abonnements correspondants"), and a shared address gets one
    person's fields and keeps the groups any of them still gives. If a read fails, the events touching these
    e-mails fail."""
    clock = time.perf_counter()
    errors = await ctx.reader.read_sharers(state, emails)
    batch.result.timings["amilia read"] += time.perf_counter() - clock
    clock = time.perf_counter()
    plan = batch.plan = plan_batch(batch.events, state, ctx.since, ctx.today)
    batch.result.timings["plan"] += time.perf_counter() - clock
    if errors:
        error = next(iter(errors.values()))
        for email in emails:
            for eid in _events_of(plan, {}, email):
                plan.failed.setdefault(eid, error)
        _drop_emails(plan, emails)


async def write_events(ctx: EventContext, batch: PlannedBatch) -> BatchOutcome:
    """Step 2 of a batch: read the Cyberimpact members concerned, write, record the outcome in the ledger.

    Raises:
        AuthError: Cyberimpact refused the token; the caller releases the batch and stops.
    """
    result, plan = batch.result, batch.plan
    if plan is None:
        return result
    clock = time.perf_counter()
    failed = dict(plan.failed)
    (archive_emails, archive_members), (members, unreadable) = await asyncio.gather(
        _archive_lookups(ctx, plan, failed), ctx.members.read(_emails_of(plan)))
    members = {**archive_members, **members}
    if archive_emails:
        await _shared_archive_lookups(ctx, plan, archive_emails, failed)
    for email, error in unreadable.items():
        for eid in _events_of(plan, archive_emails, email):
            failed[eid] = error
    _drop_emails(plan, set(unreadable))
    result.timings["cyberimpact read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    outcome = await write_plan(ctx.side, plan, members, archive_emails, store_url=ctx.store_url)
    result.timings["cyberimpact write"] = time.perf_counter() - clock
    result.timings.update({f"write: {k}": v for k, v in outcome.timings.items()})
    failed.update(outcome.failed)
    result.failed.update(failed)
    result.counts.update(contacts_written=outcome.contacts_written, group_adds=outcome.group_adds,
                         removals=outcome.removals)
    await off_loop(ctx.store_url, _record, ctx, batch.events, plan, batch.notes, archive_emails, result)
    return result


def _emails_of(plan: BatchPlan) -> set[str]:
    emails = set(plan.contacts["email"]) if not plan.contacts.empty else set()
    return emails | {email for email, _ in plan.removals}


async def _archive_lookups(ctx: EventContext, plan: BatchPlan, failed: dict[int, str]) -> ArchiveLookups:
    try:
        return await resolve_archive_lookups(ctx.side, plan)
    except AuthError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail the thin deletes that needed the lookup
        failed.update({eid: error_text(exc) for ids in plan.archive_lookups.values() for eid in ids})
        return ArchiveLookups({}, {})


async def _shared_archive_lookups(ctx: EventContext, plan: BatchPlan, archive_emails: dict[str, set[int]],
                                  failed: dict[int, str]) -> None:
    """Contacts of a person or account gone from Amilia that a live person shares are not archived: they keep
    the groups the live persons give (:func:`_plan_shared_emails`, for archives Amilia no longer answers)."""
    state = AmiliaState()
    emails = set(archive_emails)
    errors = await ctx.reader.read_sharers(state, emails)
    if errors:
        error = next(iter(errors.values()))
        for email in emails:
            failed.update(dict.fromkeys(archive_emails.pop(email), error))
        return
    for email, keep in shared_email_keeps(state, emails, ctx.since).items():
        events = archive_emails.pop(email)
        plan.by_email.setdefault(email, set()).update(events)
        plan.archive_keeps.setdefault(email, set()).update(keep)


async def _keep_fully_cancelled(ctx: EventContext, plan: BatchPlan) -> dict[int, str]:
    """Drop the removals of activities whose registrations are all cancelled (the group stays intact)."""
    pending = {title: act for title, act in plan.cancel_activities.items()
               if any(t == title for _, t in plan.removals)}
    if not pending:
        return {}
    try:
        full = await ctx.registrations.fully_cancelled(
            {act: plan.cancelled_registrations.get(act, set()) for act in pending.values()})
    except AuthError:
        raise
    except Exception as exc:  # noqa: BLE001 - fail the cancellations that needed the answer
        for pair in [p for p in plan.removals if p[1] in pending]:
            plan.failed.update(dict.fromkeys(plan.removals.pop(pair, ()), error_text(exc)))
        return {}
    notes: dict[int, str] = {}
    for pair in [p for p in plan.removals if pending.get(p[1]) in full]:
        notes.update(dict.fromkeys(plan.removals.pop(pair, ()), SKIP_ALL_CANCELLED))
    return notes


def _events_of(plan: BatchPlan, archive_emails: dict[str, set[int]], email: str) -> set[int]:
    ids = set(plan.by_email.get(email, ())) | set(archive_emails.get(email, ()))
    return ids.union(*(events for (e, _), events in plan.removals.items() if e == email))


def _drop_emails(plan: BatchPlan, emails: set[str]) -> None:
    if not emails:
        return
    if not plan.contacts.empty:
        plan.contacts = plan.contacts[~plan.contacts["email"].isin(emails)].reset_index(drop=True)
    if not plan.adds.empty:
        plan.adds = plan.adds[~plan.adds["email"].isin(emails)].reset_index(drop=True)
    plan.removals = {pair: ids for pair, ids in plan.removals.items() if pair[0] not in emails}
    for email in emails:
        plan.archive_keeps.pop(email, None)


def _record(ctx: EventContext, events: list[AmiliaEvent], plan: BatchPlan, notes: dict[int, str],
            archive_emails: dict[str, set[int]], result: BatchOutcome) -> None:
    """Ledger rows for what is done (per-event detail in the store), then the ids to mark done."""
    touched: dict[int, set[str]] = {}
    for email, ids in (*plan.by_email.items(), *archive_emails.items()):
        for eid in ids:
            touched.setdefault(eid, set()).add(email)
    removed = Counter(eid for ids in plan.removals.values() for eid in ids)
    details: dict[str, str] = {}
    for e in events:
        if e.id in result.failed:
            continue
        reason = plan.skipped.get(e.id)
        if reason is None and e.id in notes and not removed[e.id]:
            reason = notes[e.id]  # its only effect was a removal the "cancelled for all" rule kept
        if reason is None and e.id not in plan.planned:
            reason = e.reason or "nothing to do"
        if reason:
            result.skipped[reason] += 1
            details[event_key(e.id, SKIPPED)] = json.dumps({"type": e.event_type, "reason": reason})
        else:
            result.applied += 1
            details[event_key(e.id, APPLIED)] = json.dumps(
                {"type": e.event_type, "contacts": sorted(touched.get(e.id, ()))[:10],
                 "removals": removed[e.id], "note": notes.get(e.id), "kind": e.kind, "group": e.title},
                ensure_ascii=False)
        result.done.append(e.id)
    record_effects(details, url=ctx.store_url)
    result.effects.update(details)


_plan_task = task(name="plan-amilia-events", cache_policy=NO_CACHE)(plan_events)
_write_task = task(name="write-cyberimpact-changes", cache_policy=NO_CACHE)(write_events)
_prepare_task = task(name="prepare-cyberimpact", cache_policy=NO_CACHE)(CyberimpactAccount.prepare)

# The arguments of the Prefect tasks below are quoted: Prefect would otherwise walk every object in them
# (the batch's payloads, the clients, the plan's frames) looking for futures, ~0.25 s per batch of 200.


async def plan_amilia_events(ctx: EventContext, rows: list[InboxEvent]) -> PlannedBatch:
    """:func:`plan_events` as a Prefect task run (one per batch)."""
    return await _plan_task(quote(ctx), quote(rows))


async def write_cyberimpact_changes(ctx: EventContext, batch: PlannedBatch) -> BatchOutcome:
    """:func:`write_events` as a Prefect task run (one per batch)."""
    return await _write_task(quote(ctx), quote(batch))


async def prepare_cyberimpact(side: CyberimpactAccount, amilia: AmiliaClient) -> None:
    """Read the Cyberimpact fields and groups once per drain run (a Prefect task run); create missing fields
    and the base groups."""
    await _prepare_task(quote(side), quote(amilia))
