"""What one batch of Amilia webhook events should change in Cyberimpact (pure: no Prefect, no HTTP).

The contacts, fields, consent and groups come from the initial sync's own transforms
(:func:`tasks.amilia_cyberimpact.transforms.plan_contacts`) fed with the fresh Amilia state of the touched persons and
accounts, so a webhook applies exactly the initial sync's rules (child / same e-mail / no e-mail, the 21
fields, "Clients Amilia", activity and membership groups, consent). Events add enrolment rows:

- a registration or membership event: that registration or membership (seed: "nous mettrons à jour les
  informations des contacts concernés et les ajouterons aux groupes correspondants");
- a person, account or archive event: a row with no group and no consent date for the person (account: the
  owner; archived account: each of its persons), which brings in the person and the owner (seed: "nous
  ajouterons son adresse ainsi que celle du propriétaire du compte").

Cancellations give *removals*: the (e-mail, group) pairs the cancelled registration gave, minus the pairs the
account's other live registrations of the same activity still give ("elles resteront dans le groupe de vos
Clients Amilia" — only the activity group is left).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from tasks.amilia_cyberimpact.events.fetch import AmiliaState
from tasks.amilia_cyberimpact.events.gather import Gathered, gather
from tasks.amilia_cyberimpact.events.model import (
    MEMBERSHIP,
    MEMBERSHIP_CANCEL,
    REGISTRATION,
    REGISTRATION_CANCEL,
    SKIP_KEPT,
    SKIP_NOTHING,
    AmiliaEvent,
)
from tasks.amilia_cyberimpact.transforms import (
    ENROLMENT_COLUMNS,
    accounts_frame,
    enrolments_frame,
    live_persons,
    persons_frame,
    plan_contacts,
)

Pair = tuple[str, str]  # (e-mail, group title)
ALL_TIME = (date.min, date.max)


@dataclass
class BatchPlan:
    """The target state of one batch, with the events each change comes from."""

    contacts: pd.DataFrame = field(default_factory=pd.DataFrame)  # plan_contacts rows, one per e-mail
    adds: pd.DataFrame = field(default_factory=pd.DataFrame)      # (email, group_title, kind)
    hierarchy_titles: set[str] = field(default_factory=set)       # dynamic program/category/subcategory groups
    removals: dict[Pair, set[int]] = field(default_factory=dict)
    cancel_activities: dict[str, int] = field(default_factory=dict)  # activity title → id (removals pending)
    cancelled_registrations: dict[int, set[int]] = field(default_factory=dict)  # activity id → registration ids
    archive_lookups: dict[tuple[str, int], set[int]] = field(default_factory=dict)  # thin deletes, 404 in Amilia
    sharer_lookups: set[str] = field(default_factory=set)  # archived persons' e-mails to look up in Amilia
    archive_keeps: dict[str, set[str]] = field(default_factory=dict)  # shared e-mail → groups its live persons give
    by_email: dict[str, set[int]] = field(default_factory=dict)   # contact → events it comes from
    planned: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    def merge(self, other: BatchPlan) -> None:
        self.contacts = pd.concat([self.contacts, other.contacts]).drop_duplicates("email") \
            if not self.contacts.empty else other.contacts
        self.adds = pd.concat([self.adds, other.adds]).drop_duplicates(["email", "group_title"]) \
            if not self.adds.empty else other.adds
        self.hierarchy_titles |= other.hierarchy_titles
        for mine, theirs in ((self.removals, other.removals), (self.archive_lookups, other.archive_lookups),
                             (self.by_email, other.by_email)):
            for key, ids in theirs.items():
                mine.setdefault(key, set()).update(ids)
        self.cancel_activities.update(other.cancel_activities)
        self.sharer_lookups |= other.sharer_lookups
        for email, titles in other.archive_keeps.items():
            self.archive_keeps.setdefault(email, set()).update(titles)
        for act, ids in other.cancelled_registrations.items():
            self.cancelled_registrations.setdefault(act, set()).update(ids)
        self.planned |= other.planned
        self.skipped.update(other.skipped)
        self.failed.update(other.failed)


def plan_batch(events: list[AmiliaEvent], state: AmiliaState, since: date, today: date) -> BatchPlan:
    """Plan a batch; if planning all events at once fails (a bug on some record), plan each account alone so
    that only the events of the faulty account fail."""
    try:
        return _plan(events, state, since, today)
    except Exception:  # noqa: BLE001 - isolate the faulty events below
        pass
    plan = BatchPlan()
    groups: dict[Any, list[AmiliaEvent]] = defaultdict(list)
    for e in events:
        groups[e.account_id if e.account_id is not None else state.account_of(e.person_id) or e.id].append(e)
    for group in groups.values():
        try:
            plan.merge(_plan(group, state, since, today))
        except Exception as exc:  # noqa: BLE001 - a bug in one event fails only that event
            plan.failed.update({e.id: f"planning failed: {type(exc).__name__}: {exc}"[:1000] for e in group})
    return plan


def _plan(events: list[AmiliaEvent], state: AmiliaState, since: date, today: date) -> BatchPlan:
    plan = BatchPlan()
    g = gather(events, state, plan, today)
    frames = _frames(g, state)
    planned_emails = _plan_contacts(plan, g, frames, state, since)
    candidates, pairs = _removal_pairs(g, frames, state, since)
    # still to look up in the whole organisation (then the batch is planned again)
    shared = {e for e in planned_emails | {e for e, _ in pairs} if state.shared(e)}
    plan.sharer_lookups = ((frames.archived_emails & planned_emails) | shared) - set(state.sharers or ())
    _assign_events(plan, events, g.emails, planned_emails, candidates, pairs)
    return plan


@dataclass
class _Frames:
    """The persons and accounts frames the transforms see, and the e-mails looked up in the organisation."""

    persons: pd.DataFrame
    accounts: pd.DataFrame
    archived_emails: set[str]         # archived persons' (or accounts') e-mails among the events' persons
    sharers: dict[str, list[int]]     # e-mail → the live persons sharing it (once looked up)

    def contacts_of(self, enrolments: pd.DataFrame):
        return plan_contacts(self.persons, self.accounts, enrolments) if not enrolments.empty else None


def _frames(g: Gathered, state: AmiliaState) -> _Frames:
    """Only the records of these events' accounts (a record the transforms choke on fails its account only),
    and the live persons sharing an e-mail looked up in the whole organisation (an archived person's, or one
    several persons share): they join the plan, so that it is not archived and its representative is theirs
    too."""
    involved_persons = set(g.touched_persons)
    g.touched_persons |= {pid for pid, p in g.persons.items() if p.get("AccountId") in g.touched_accounts}
    p_frame, a_frame = _frames_of(g)
    archived_emails = _archived_emails(p_frame[p_frame["person_id"].isin(involved_persons)], a_frame)
    sharers = _live_sharers(state, set(state.sharers or ()), g.persons, g.accounts)
    if sharers:
        g.touched_persons |= {pid for ids in sharers.values() for pid in ids}
        g.touched_accounts |= {g.persons[p].get("AccountId") for ids in sharers.values() for p in ids}
        p_frame, a_frame = _frames_of(g)
    return _Frames(p_frame, a_frame, archived_emails, sharers)


def _frames_of(g: Gathered) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (persons_frame([g.persons[p] for p in sorted(g.touched_persons - {None}) if p in g.persons]),
            accounts_frame([g.accounts[a] for a in sorted(g.touched_accounts - {None}) if a in g.accounts]))


def _plan_contacts(plan: BatchPlan, g: Gathered, frames: _Frames, state: AmiliaState, since: date) -> set[str]:
    """The contacts and group additions of the batch, by the initial sync's transforms. Returns their e-mails."""
    main = pd.concat([pd.DataFrame.from_records(g.rows, columns=ENROLMENT_COLUMNS),
                      enrolments_frame(g.registrations, g.holders, since=since, until=date.max)], ignore_index=True)
    for column in ("person_id", "account_id", "owner_person_id"):
        main[column] = main[column].astype("Int64")
    result = frames.contacts_of(main)
    if result is not None:
        plan.contacts, plan.adds = result.contacts, result.memberships
        plan.hierarchy_titles = set(result.hierarchy_titles)
        if state.sharers:
            plan.contacts = _org_rows(plan.contacts, state, g.persons, g.accounts, set(state.sharers), since)
    planned_emails = set(plan.contacts["email"]) if not plan.contacts.empty else set()
    if frames.sharers:
        kept = planned_emails & frames.archived_emails
        _keep_live_groups(plan, state, g.persons, g.accounts,
                          {e: frames.sharers[e] for e in frames.sharers if e in kept}, since)
    return planned_emails


def _removal_pairs(g: Gathered, frames: _Frames, state: AmiliaState, since: date) -> tuple[set[Pair], set[Pair]]:
    """The (e-mail, group) pairs the cancellations gave (candidates), and those to remove: minus what the
    account's live registrations and holdings, or another account sharing the address, still give."""
    cand = frames.contacts_of(enrolments_frame(g.cancelled, g.cancelled_holders, since=ALL_TIME[0],
                                               until=ALL_TIME[1]))
    keep = frames.contacts_of(enrolments_frame(g.kept, g.kept_holders, since=since, until=date.max))
    candidates = set(cand.memberships[["email", "group_title"]].itertuples(index=False, name=None)) if cand else set()
    pairs = candidates - (set(keep.memberships[["email", "group_title"]].itertuples(index=False, name=None))
                          if keep else set())
    sharers = frames.sharers
    if sharers and pairs:  # still registered through another account: the address stays in the group
        given = live_groups(state, g.persons, g.accounts,
                            {e: sharers[e] for e in {e for e, _ in pairs} & set(sharers)}, since)
        pairs = {(e, t) for e, t in pairs if t not in given.get(e, set())}
    return candidates, pairs


def _assign_events(plan: BatchPlan, events: list[AmiliaEvent], emails: dict[int, set[str]],
                   planned_emails: set[str], candidates: set[Pair], pairs: set[Pair]) -> None:
    """Which events each addition, removal and contact comes from; events that change nothing are skipped
    with the reason (kept in the group, or nothing to do)."""
    kept_ids = set()
    adds_by_pair: dict[Pair, set[int]] = defaultdict(set)
    for e in events:
        for email in emails.get(e.id, ()):
            if e.kind in (REGISTRATION, MEMBERSHIP):
                adds_by_pair[(email, e.title or "")].add(e.id)
            elif e.kind in (REGISTRATION_CANCEL, MEMBERSHIP_CANCEL) and (email, e.title) in pairs:
                plan.removals.setdefault((email, e.title or ""), set()).add(e.id)
            elif e.kind in (REGISTRATION_CANCEL, MEMBERSHIP_CANCEL) and (email, e.title) in candidates:
                kept_ids.add(e.id)
            if email in planned_emails:
                plan.by_email.setdefault(email, set()).add(e.id)
    _latest_wins(plan, adds_by_pair)
    touched = set().union(*plan.by_email.values(), *plan.removals.values(), *plan.archive_lookups.values())
    for eid in plan.planned - touched:
        plan.skipped[eid] = SKIP_KEPT if eid in kept_ids else SKIP_NOTHING
    plan.planned &= touched


def _archived_emails(persons: pd.DataFrame, accounts: pd.DataFrame) -> set[str]:
    """E-mails of the `persons` who would be a contact of their own and are archived (or their account)."""
    owner = persons["person_id"].isin(set(accounts["owner_person_id"].dropna().astype(int)))
    eligible = persons["email"].notna() & (~persons["is_child"] | owner)
    return set(persons.loc[eligible & ~live_persons(persons, accounts), "email"])


def _live_sharers(state: AmiliaState, emails: set[str], persons: dict[int, dict], accounts: dict[int, dict]
                  ) -> dict[str, list[int]]:
    """Of the persons sharing `emails` (looked up in Amilia), the live ones who would be a contact: e-mail →
    person ids. Empty until looked up (``state.sharers`` is None)."""
    if state.sharers is None or not emails:
        return {}
    ids = sorted({p for e in emails for p in state.sharers.get(e, []) if p in persons})
    frame = persons_frame([persons[p] for p in ids])
    a_frame = accounts_frame([accounts[a] for a in sorted(set(frame["account_id"].dropna())) if a in accounts])
    live = frame[live_persons(frame, a_frame) & frame["account_id"].isin(set(a_frame["account_id"]))]
    out: dict[str, list[int]] = {}
    for email, pid in live[["email", "person_id"]].itertuples(index=False):
        out.setdefault(email, []).append(int(pid))
    return out


def live_groups(state: AmiliaState, persons: dict[int, dict], accounts: dict[int, dict],
                sharers: dict[str, list[int]], since: date = ALL_TIME[0]) -> dict[str, set[str]]:
    """The activity and membership groups the live persons of each shared e-mail give, as the initial sync's
    transforms compute them from their accounts' live registrations created since `since` (the 24-month
    window, as the reconciliation) and active memberships."""
    account_ids = sorted({persons[p]["AccountId"] for ids in sharers.values() for p in ids})
    registrations = [r for a in account_ids for r in state.registrations.get(a, [])]
    holders = [h for h in state.sharer_holders if h.get("AccountId") in account_ids]
    ids = sorted({p for ids in sharers.values() for p in ids})
    enrolments = enrolments_frame(registrations, holders, since=since, until=ALL_TIME[1])
    live = None if enrolments.empty else plan_contacts(
        persons_frame([persons[p] for p in ids]), accounts_frame([accounts[a] for a in account_ids]), enrolments)
    given = live.memberships.groupby("email")["group_title"].agg(set).to_dict() \
        if live is not None and not live.memberships.empty else {}
    return {email: set(given.get(email, set())) for email in sharers}


def shared_email_keeps(state: AmiliaState, emails: set[str], since: date = ALL_TIME[0]) -> dict[str, set[str]]:
    """Of `emails` (looked up with :meth:`AmiliaReader.read_sharers`), those a live person shares → the groups
    the live persons give. For archives resolved through Cyberimpact (the person or account is gone)."""
    sharers = _live_sharers(state, emails, state.persons, state.accounts)
    return live_groups(state, state.persons, state.accounts, sharers, since)


def _keep_live_groups(plan: BatchPlan, state: AmiliaState, persons: dict[int, dict], accounts: dict[int, dict],
                      sharers: dict[str, list[int]], since: date) -> None:
    """A contact the batch archives in part (an archived person's e-mail a live person shares) keeps only the
    groups its live persons give, and what this batch adds."""
    added = plan.adds.groupby("email")["group_title"].agg(set).to_dict() if not plan.adds.empty else {}
    for email, titles in live_groups(state, persons, accounts, sharers, since).items():
        plan.archive_keeps[email] = titles | set(added.get(email, set()))


def _org_rows(contacts: pd.DataFrame, state: AmiliaState, persons: dict[int, dict], accounts: dict[int, dict],
              emails: set[str], since: date) -> pd.DataFrame:
    """The identity rule across the organisation (docs/amilia-sync.md, "Shared e-mails"): the contact row of
    each e-mail several persons share, as the initial sync computes it from every account of its persons
    (their registrations of the window, their active memberships) — so whichever of them a batch sees, the
    contact gets the same person's fields, and the same consent and membership fields."""
    emails = emails & set(contacts["email"])
    ids = {p for e in emails for p in (state.sharers or {}).get(e, []) if p in persons}
    account_ids = sorted({a for p in ids if (a := persons[p].get("AccountId")) in accounts})
    registrations = [r for a in account_ids for r in state.registrations.get(a, [])]
    enrolments = enrolments_frame(registrations, [h for h in state.sharer_holders if h.get("AccountId") in account_ids],
                                  since=since, until=date.max)
    if enrolments.empty:
        return contacts
    members = sorted(ids | {pid for pid, p in persons.items() if p.get("AccountId") in account_ids})
    rows = plan_contacts(persons_frame([persons[p] for p in members]),
                         accounts_frame([accounts[a] for a in account_ids]), enrolments).contacts
    rows = rows[rows["email"].isin(emails)]
    return pd.concat([contacts[~contacts["email"].isin(set(rows["email"]))], rows[list(contacts.columns)]],
                     ignore_index=True).sort_values("email").reset_index(drop=True)


def _latest_wins(plan: BatchPlan, adds_by_pair: dict[Pair, set[int]]) -> None:
    """A pair both added and removed in one batch: the later event (inbox order) decides."""
    if plan.adds.empty:
        return
    drop_adds = set()
    for pair, removers in list(plan.removals.items()):
        adders = adds_by_pair.get(pair)
        if adders and max(adders) > max(removers):
            del plan.removals[pair]
        elif adders:
            drop_adds.add(pair)
    if drop_adds:
        keep = [(e, t) not in drop_adds for e, t in plan.adds[["email", "group_title"]].itertuples(index=False)]
        plan.adds = plan.adds[keep].reset_index(drop=True)
