"""The first pass of planning a batch of Amilia events (pure): sort each event's enrolment rows by kind, note
who and which accounts it touches, and settle at once what needs nothing more (skips, failures, archives of
persons or accounts Amilia no longer answers). tasks/amilia_cyberimpact/events/plan.py turns the result into contacts,
group additions and removals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from tasks.amilia_cyberimpact.events.fetch import AmiliaState, email_of
from tasks.amilia_cyberimpact.events.model import (
    ACCOUNT,
    ACCOUNT_ARCHIVE,
    MEMBERSHIP,
    MEMBERSHIP_CANCEL,
    PERSON,
    PERSON_ARCHIVE,
    REGISTRATION,
    REGISTRATION_CANCEL,
    SKIP,
    SKIP_GONE,
    AmiliaEvent,
)

if TYPE_CHECKING:
    from tasks.amilia_cyberimpact.events.plan import BatchPlan


def still_held(row: dict[str, Any], cancelled: dict[str, Any], today: date) -> bool:
    """Another holding of the cancelled membership by the same person, not expired: it keeps the group."""
    same = (row.get("PersonId"), str(row.get("PurchasedDate"))[:19]) == (
        cancelled.get("PersonId"), str(cancelled.get("PurchasedDate"))[:19])
    expiration = row.get("ExpirationDate")
    return not same and (not expiration or str(expiration)[:10] >= today.isoformat())


def _row(kind: str, person_id: int, account_id: int | None, owner_id: int | None) -> tuple:
    return (kind, person_id, account_id, owner_id, *([None] * 4), "", *([None] * 5))


def dependencies(e: AmiliaEvent, state: AmiliaState) -> list[tuple[str, int]]:
    """The Amilia reads an event needs: if one of them failed, the event fails with its error."""
    account = e.account_id if e.account_id is not None else state.account_of(e.person_id)
    deps = [("person", p) for p in (e.person_id, e.owner_id) if p is not None]
    if account is not None:
        deps += [("account", account), ("person", state.owner_id(account) or -1)]
        if e.kind in (ACCOUNT_ARCHIVE, REGISTRATION_CANCEL):
            deps += [("person", p) for p in state.member_ids(account)]
        if e.kind == REGISTRATION_CANCEL:
            deps.append(("registrations", account))
    if e.kind == MEMBERSHIP_CANCEL:
        deps.append(("holders", int(e.record["MembershipId"])))
    return deps


@dataclass
class Gathered:
    """The batch's events sorted by kind: enrolment rows for the initial sync's transforms, and who they touch."""

    persons: dict[int, dict[str, Any]]   # fresh Amilia records (copies: archive events mark them archived)
    accounts: dict[int, dict[str, Any]]
    rows: list[tuple] = field(default_factory=list)  # person and account events: a row with no group each
    registrations: list[dict[str, Any]] = field(default_factory=list)
    holders: list[dict[str, Any]] = field(default_factory=list)
    cancelled: list[dict[str, Any]] = field(default_factory=list)         # cancelled registrations
    cancelled_holders: list[dict[str, Any]] = field(default_factory=list)  # cancelled memberships
    kept: list[dict[str, Any]] = field(default_factory=list)         # the account's live registrations…
    kept_holders: list[dict[str, Any]] = field(default_factory=list)  # …and holdings that keep a group
    emails: dict[int, set[str]] = field(default_factory=dict)        # event id → the e-mails it concerns
    touched_accounts: set[int | None] = field(default_factory=set)
    touched_persons: set[int | None] = field(default_factory=set)


def gather(events: list[AmiliaEvent], state: AmiliaState, plan: BatchPlan, today: date) -> Gathered:
    """Sort the events; skips, failures and archive lookups go straight into `plan`."""
    g = Gathered({pid: dict(p) for pid, p in state.persons.items()},
                 {aid: dict(a) for aid, a in state.accounts.items()})
    for e in events:
        if e.kind == SKIP:
            plan.skipped[e.id] = e.reason or "skipped"
            continue
        error = state.error_for(dependencies(e, state))
        if error:
            plan.failed[e.id] = error
            continue
        account = e.account_id if e.account_id is not None else state.account_of(e.person_id)
        owner = state.owner_id(account) or e.owner_id
        involved = _gather_one(e, state, plan, g, account, owner, today)
        if involved is None:
            continue
        g.emails[e.id] = {m for p in involved if (m := email_of(g.persons.get(p) or {}))}
        plan.planned.add(e.id)
        g.touched_accounts.add(account)
        g.touched_persons |= involved
    return g


def _gather_one(e: AmiliaEvent, state: AmiliaState, plan: BatchPlan, g: Gathered, account: int | None,
                owner: int | None, today: date) -> set[int | None] | None:
    """Add one event's rows; the persons it involves, or None when it is settled already."""
    if e.kind in (PERSON, PERSON_ARCHIVE):
        return _person_event(e, plan, g, account, owner)
    if e.kind in (ACCOUNT, ACCOUNT_ARCHIVE):
        return _account_event(e, state, plan, g, account, owner)
    if e.person_id not in g.persons:
        plan.skipped[e.id] = SKIP_GONE
        return None
    if e.kind == REGISTRATION:
        g.registrations.append({**e.record, "IsCancelled": False})
    elif e.kind == MEMBERSHIP:
        g.holders.append(e.record)
    elif e.kind == REGISTRATION_CANCEL:
        _registration_cancel(e, state, plan, g, account)
    elif e.kind == MEMBERSHIP_CANCEL:
        g.cancelled_holders.append(e.record)
        g.kept_holders += [h for h in state.holders.get(int(e.record["MembershipId"]), [])
                           if h.get("AccountId") == account and still_held(h, e.record, today)]
    return {e.person_id, owner}


def _archive_gone(e: AmiliaEvent, plan: BatchPlan, resource: tuple[str, int | None]) -> None:
    """An archive of a person or account Amilia no longer answers: looked up in Cyberimpact instead; any
    other event about it changes nothing."""
    if e.kind in (PERSON_ARCHIVE, ACCOUNT_ARCHIVE):
        plan.archive_lookups.setdefault(resource, set()).add(e.id)  # type: ignore[arg-type]
        plan.planned.add(e.id)
    else:
        plan.skipped[e.id] = SKIP_GONE


def _person_event(e: AmiliaEvent, plan: BatchPlan, g: Gathered, account: int | None, owner: int | None
                  ) -> set[int | None] | None:
    if e.person_id not in g.persons:
        _archive_gone(e, plan, ("person", e.person_id))
        return None
    if e.kind == PERSON_ARCHIVE:  # the event says deleted; Amilia shows it archived
        g.persons[e.person_id]["IsArchived"] = True
    g.rows.append(_row("person", e.person_id, account, owner))
    return {e.person_id, owner}


def _account_event(e: AmiliaEvent, state: AmiliaState, plan: BatchPlan, g: Gathered, account: int | None,
                   owner: int | None) -> set[int | None] | None:
    if account not in g.accounts:
        _archive_gone(e, plan, ("account", account))
        return None
    members = [owner] if e.kind == ACCOUNT else state.member_ids(account) or [owner]
    if e.kind == ACCOUNT_ARCHIVE:
        g.accounts[account]["IsArchived"] = True
    g.rows += [_row("person", p, account, owner) for p in members if p in g.persons]
    return {e.person_id, owner, *members}


def _registration_cancel(e: AmiliaEvent, state: AmiliaState, plan: BatchPlan, g: Gathered, account: int | None
                         ) -> None:
    """The cancelled registration, and the account's live registrations of the same activity (they keep it)."""
    g.cancelled.append({**e.record, "IsCancelled": False})
    g.kept += [r for r in state.registrations.get(account, []) if not r.get("IsCancelled")
               and (r.get("Activity") or {}).get("Id") == e.activity_id]
    if e.activity_id is not None:
        plan.cancel_activities[e.title or ""] = e.activity_id
        if e.record.get("Id") is not None:
            plan.cancelled_registrations.setdefault(e.activity_id, set()).add(int(e.record["Id"]))
