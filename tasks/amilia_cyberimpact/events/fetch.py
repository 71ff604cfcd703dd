"""Fresh Amilia state for one batch of webhook events: each touched person and account read once.

:class:`AmiliaReader` reads in rounds of concurrent calls: the persons and accounts the payloads name (plus
the registrations of accounts with a cancellation, and the holders of memberships with a cancellation),
then the accounts of persons read in round one and the owners and members of accounts, until nothing new
is needed — or, for a batch touching many accounts, lists the whole organisation's persons and accounts
instead. A 404 is remembered as "missing"; any other failure is remembered per resource, so that only the
events that need that resource fail. A 401/403 is raised at once: it is a configuration error that stops
the drain. :class:`RegistrationsSnapshot` answers "activity cancelled for all participants".

Every batch also knows who shares an e-mail in the whole organisation (``AmiliaState.everyone``: the persons
listing, taken by the batch or at most a minute old), so that an address several persons share is planned
from all of them (:meth:`AmiliaReader.read_sharers`). :func:`remember_and_resolve` keeps the registration
facts of the payloads in the store and resolves the Deletes that carry only an Id from them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors._http import AuthError, NotFoundError
from connectors.amilia.client import AmiliaClient
from passerelle.engine import error_text
from passerelle.store.registrations import registration_facts, remember_registrations
from tasks.amilia_cyberimpact.events.model import (
    ACCOUNT_ARCHIVE,
    MEMBERSHIP_CANCEL,
    PERSON_ARCHIVE,
    REGISTRATION_CANCEL,
    SKIP,
    AmiliaEvent,
    registration_fact,
    resolve_thin,
)
from tasks.amilia_cyberimpact.events.snapshot import RegistrationsSnapshot as RegistrationsSnapshot  # re-exported

Resource = tuple[str, int]  # ("person", 501), ("account", 77), ("registrations", 77), ("holders", 12)
ALL_PERSONS: Resource = ("all persons", 0)    # the listing of every person of the organisation
ALL_ACCOUNTS: Resource = ("all accounts", 0)  # the listing of every account (with their persons)


@dataclass
class AmiliaState:
    """What Amilia says now about the batch's persons and accounts."""

    persons: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)
    registrations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # account id → all
    holders: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # membership id → all rows
    missing: set[Resource] = field(default_factory=set)
    errors: dict[Resource, str] = field(default_factory=dict)
    calls: int = 0
    everyone: list[dict[str, Any]] | None = None  # the organisation's persons (listing at most a minute old)
    listed_now: bool = False  # `everyone` was listed for this batch (its records are fresh)
    listed_accounts: dict[int, dict[str, Any]] = field(default_factory=dict)  # the batch's accounts listing
    # Persons sharing an archived person's e-mail (docs/amilia-webhooks.md): e-mail → person ids, None until
    # looked up; the active holders of the live sharers' accounts.
    sharers: dict[str, list[int]] | None = None
    sharer_holders: list[dict[str, Any]] = field(default_factory=list)
    sharer_accounts: set[int] = field(default_factory=set)  # the accounts `sharer_holders` covers
    active_holders: list[dict[str, Any]] | None = None  # every active holder, read once per batch
    _by_email: tuple | None = field(default=None, repr=False, compare=False)  # see persons_with

    def owner_id(self, account_id: int | None) -> int | None:
        account = self.accounts.get(account_id) if account_id is not None else None
        owners = (account or {}).get("Owners") or []
        return int(owners[0]["AccountOwnerId"]) if owners and owners[0].get("AccountOwnerId") else None

    def member_ids(self, account_id: int) -> list[int]:
        return [int(m["PersonId"]) for m in (self.accounts.get(account_id) or {}).get("Members") or []]

    def account_of(self, person_id: int | None) -> int | None:
        person = self.persons.get(person_id) if person_id is not None else None
        return int(person["AccountId"]) if person and person.get("AccountId") is not None else None

    def error_for(self, resources: list[Resource]) -> str | None:
        return next((self.errors[r] for r in resources if r in self.errors), None)

    def persons_with(self, email: str) -> set[int]:
        """The organisation's persons with this e-mail: the listing's, corrected by the batch's fresh reads."""
        return (self._index()[1].get(email, set()) - self.persons.keys()) | self._index()[2].get(email, set())

    def _index(self) -> tuple:
        """(key, listed e-mail → ids, fresh e-mail → ids, listed id → person): built once per state and count
        of fresh records; the listing's part once per listing (batches share a listing for up to a minute)."""
        key = (id(self.everyone), len(self.persons))
        if self._by_email is None or self._by_email[0] != key:
            fresh: dict[str, set[int]] = {}
            for p in self.persons.values():
                if (address := email_of(p)) is not None:
                    fresh.setdefault(address, set()).add(int(p["Id"]))
            listed, by_id = _listing_index(self.everyone)
            self._by_email = (key, listed, fresh, by_id)
        return self._by_email

    def shared(self, email: str) -> bool:
        """Whether the whole organisation must be read to plan this e-mail (:meth:`AmiliaReader.read_sharers`):
        persons of several accounts have it — or of one account, unless its live owner is one of them (then
        the owner fills the contact, and that account's registrations are the only ones giving it groups)."""
        if self.everyone is None:
            return True
        ids = self.persons_with(email)
        if len(ids) < 2:
            return False
        listed = self._index()[3]
        records = {p: self.persons[p] if p in self.persons else listed[p] for p in ids}
        accounts = {r.get("AccountId") for r in records.values()}
        owner = self.owner_id(next(iter(accounts))) if len(accounts) == 1 else None
        return owner is None or owner not in ids or bool(records[owner].get("IsArchived"))


_LISTING_INDEX: tuple[list, dict[str, set[int]], dict[int, dict[str, Any]]] | None = None


def _listing_index(everyone: list[dict[str, Any]] | None) -> tuple[dict[str, set[int]], dict[int, dict[str, Any]]]:
    """E-mail → person ids, and id → person, of a persons listing: built once per listing (a listing is never
    changed once read, and the last one is kept here with its index)."""
    global _LISTING_INDEX
    cached = _LISTING_INDEX
    if everyone is None:
        return {}, {}
    if cached is not None and cached[0] is everyone:
        return cached[1], cached[2]
    listed: dict[str, set[int]] = {}
    for p in everyone:
        if (address := email_of(p)) is not None:
            listed.setdefault(address, set()).add(int(p["Id"]))
    _LISTING_INDEX = (everyone, listed, {int(p["Id"]): p for p in everyone})
    return listed, _LISTING_INDEX[2]


class AmiliaReader:
    """Reads the batch's persons and accounts one by one, or the whole organisation when that is cheaper.

    A batch touching many accounts costs one call per person and account; listing every person and account
    costs one call per 1 000, each about as costly as 12 single reads (measured on the emulator: 8 ms against
    0.6 ms of server time). The reader learns the organisation's size from its first listing and, for each
    batch, takes the cheaper way (before it knows, it lists once a batch needs more than 48 calls).
    """

    PAGE_COST = 12  # single reads one listing page of 1 000 costs

    def __init__(self, amilia: AmiliaClient, page_size: int = 1000, max_age: float = 60.0) -> None:
        self.amilia = amilia
        self.page_size = page_size
        self.listing_pages: int | None = None  # pages of /persons + /accounts, learned from a listing
        self.max_age = max_age  # seconds a persons listing is reused to know who shares an e-mail
        self._everyone: list[dict[str, Any]] | None = None
        self._everyone_at = float("-inf")

    def _bulk(self, calls: int) -> bool:
        return calls > self.PAGE_COST * (self.listing_pages or 4)

    async def read(self, events: list[AmiliaEvent]) -> AmiliaState:
        """Read the persons, accounts, registrations and membership holders the events need.

        Raises:
            AuthError: Amilia refused the credentials (401/403).
        """
        amilia, state = self.amilia, AmiliaState()
        live = [e for e in events if e.kind != SKIP]
        persons = {p for e in live for p in (e.person_id, e.owner_id) if p is not None}
        accounts = {e.account_id for e in live if e.account_id is not None}
        full_accounts = {e.account_id for e in live if e.kind in (ACCOUNT_ARCHIVE, REGISTRATION_CANCEL)
                         and e.account_id is not None}
        jobs: list[tuple[Resource, Callable[[], Awaitable[Any]]]] = []
        jobs += [(("registrations", a), _bind(amilia.list_account_registrations, a))
                 for a in sorted({e.account_id for e in live if e.kind == REGISTRATION_CANCEL} - {None})]
        jobs += [(("holders", m), _bind(amilia.list_membership_persons, m, "All"))
                 for m in sorted({int(e.record["MembershipId"]) for e in live if e.kind == MEMBERSHIP_CANCEL})]
        if self._bulk(2 * len(persons) + 2 * len(accounts)):
            jobs += [(ALL_PERSONS, amilia.list_persons), (ALL_ACCOUNTS, _bind(amilia.list_accounts, True))]
            await _run(state, jobs)
            if ALL_PERSONS not in state.errors and ALL_ACCOUNTS not in state.errors:
                state.everyone = list(state.persons.values()) if ALL_PERSONS not in state.missing else None
                self.listing_pages = -(-len(state.persons) // self.page_size) - (-len(state.accounts) // self.page_size)
                state.listed_accounts = state.accounts
                _keep_needed(state, persons, accounts, full_accounts)
                if state.everyone is not None:
                    self._everyone, self._everyone_at, state.listed_now = state.everyone, time.monotonic(), True
                await self._read_shared(state, live)
                return state
            state.errors = {r: e for r, e in state.errors.items() if r not in (ALL_PERSONS, ALL_ACCOUNTS)}
            state.persons, state.accounts, jobs = {}, {}, []  # the listing failed: one by one
        for _ in range(4):
            jobs += [(("person", p), _bind(amilia.get_person, p)) for p in sorted(persons)]
            jobs += [(("account", a), _bind(amilia.get_account, a)) for a in sorted(accounts)]
            if not jobs:
                break
            await _run(state, jobs)
            jobs = []
            # what the round taught us: the accounts of persons, the owners (and members) of accounts
            accounts = {a for p in state.persons if (a := state.account_of(p)) is not None} - _seen(state, "account")
            persons = {o for a in state.accounts if (o := state.owner_id(a)) is not None}
            persons |= {p for a in full_accounts & set(state.accounts) for p in state.member_ids(a)}
            persons -= _seen(state, "person")
        if live:
            await self._list_everyone(state)
            await self._read_shared(state, live)
        return state

    async def _read_shared(self, state: AmiliaState, events: list[AmiliaEvent]) -> None:
        """Before planning: the e-mails of the batch's persons that others share, and those of the archived
        persons its events involve (the plan looks these up in the whole organisation too), are looked up at
        once, so that the batch is planned once instead of twice. A failed lookup is left to the plan, which
        asks again and fails the events touching those e-mails if it fails again."""
        emails = {e for p in state.persons.values() if (e := email_of(p)) and state.shared(e)}
        emails |= archived_emails(state, events)
        if emails and await self.read_sharers(state, emails):
            for email in emails:
                (state.sharers or {}).pop(email, None)

    async def _list_everyone(self, state: AmiliaState) -> None:
        """`state.everyone`: the persons listing of at most `max_age` seconds ago, else listed now. A failed
        listing leaves it None (the plan then looks every e-mail up, and that read fails the events)."""
        if self._everyone is not None and time.monotonic() - self._everyone_at <= self.max_age:
            state.everyone = self._everyone
            return
        listing: dict[Resource, Any] = {}
        await _run(state, [(("listing", 0), self.amilia.list_persons)], listing)
        state.errors.pop(("listing", 0), None)
        if listing.get(("listing", 0)) is not None:
            state.everyone, state.listed_now = listing[("listing", 0)], True
            self._everyone, self._everyone_at = state.everyone, time.monotonic()

    async def read_sharers(self, state: AmiliaState, emails: set[str]) -> dict[Resource, str]:
        """Add to `state` every person of the organisation whose e-mail is one of `emails`, their accounts,
        their accounts' registrations and the active holders (of these accounts) of the memberships on sale.

        Returns the errors of these reads (resource → message); the events that needed them must fail.

        Raises:
            AuthError: Amilia refused the credentials (401/403).
        """
        before = set(state.errors)
        if state.everyone is None and self._everyone is not None \
                and time.monotonic() - self._everyone_at <= self.max_age:
            state.everyone = self._everyone
        if state.everyone is None:
            listing: dict[Resource, Any] = {}
            await _run(state, [(("sharer listing", 0), self.amilia.list_persons)], listing)
            state.everyone = listing.get(("sharer listing", 0))
            state.listed_now = state.everyone is not None
            if state.everyone is None:  # a 404: no person can be ruled out
                state.errors.setdefault(("sharer listing", 0), "Amilia: the persons listing answered 404")
        found = {int(p["Id"]): p for p in state.everyone or [] if email_of(p) in emails}
        if not state.listed_now:  # a listing from an earlier batch finds them; their records are read fresh
            await _run(state, [(("person", p), _bind(self.amilia.get_person, p))
                               for p in sorted(set(found) - _seen(state, "person"))])
            found = {p: state.persons[p] for p in found if email_of(state.persons.get(p) or {}) in emails}
        found |= {pid: p for pid, p in state.persons.items() if email_of(p) in emails}
        state.sharers = {**(state.sharers or {}), **{email: [] for email in emails}}  # looked up, found or not
        for pid, person in sorted(found.items()):
            state.sharers[email_of(person) or ""].append(pid)
            state.persons.setdefault(pid, person)
        accounts = {a for pid in found if (a := state.account_of(pid)) is not None}
        state.accounts |= {a: state.listed_accounts[a] for a in accounts - set(state.accounts)
                           if a in state.listed_accounts}
        await _run(state, [(("account", a), _bind(self.amilia.get_account, a))
                           for a in sorted(accounts - _seen(state, "account"))])
        accounts = {a for a in accounts if a in state.accounts}  # archived ones too: consent, ranking
        if accounts:
            await self._read_enrolments(state, accounts)
        return {r: e for r, e in state.errors.items() if r not in before}

    async def _read_enrolments(self, state: AmiliaState, accounts: set[int]) -> None:
        """The registrations of `accounts` and the active holders (of these accounts) of every membership on
        sale — what the initial sync reads, for these accounts. Read once per batch however many lookups it
        makes; `state.sharer_holders` covers every account looked up."""
        answers: dict[Resource, Any] = {}
        await _run(state, [(("registrations", a), _bind(self.amilia.list_account_registrations, a))
                           for a in sorted(accounts - set(state.registrations))]
                   + ([(("memberships", 0), self.amilia.list_memberships)] if state.active_holders is None else []),
                   answers)
        if state.active_holders is None:
            if ("memberships", 0) in state.missing:
                state.errors.setdefault(("memberships", 0), "Amilia: the memberships listing answered 404")
            names = {int(m["Id"]): m.get("Name") for m in answers.get(("memberships", 0)) or []}
            before = set(state.errors)
            await _run(state, [(("active holders", m), _bind(self.amilia.list_membership_persons, m, "Active"))
                               for m in sorted(names)], answers)
            if ("memberships", 0) not in state.errors and set(state.errors) == before:
                state.active_holders = [{**row, "MembershipName": row.get("MembershipName") or names[m]}
                                        for m in sorted(names) for row in answers.get(("active holders", m)) or []]
        state.sharer_accounts |= accounts
        state.sharer_holders = [row for row in state.active_holders or []
                                if row.get("AccountId") in state.sharer_accounts]


def remember_and_resolve(events: list[AmiliaEvent], organization: str, window_start: date,
                         url: str | None = None) -> None:
    """Keep the facts of the batch's full registration payloads in the store, then resolve its registration
    Deletes that carry only an Id from the facts kept (this batch's included); an Id never seen stays
    skipped as "unknown registration" (docs/amilia-webhooks.md)."""
    facts = [f for e in events if e.event_type.startswith("Registration.") and e.record
             and (f := registration_fact(e.record))]
    if facts:
        remember_registrations(organization, facts, url=url)
    thin = [e for e in events if e.kind == SKIP and e.registration_id is not None]
    if thin:
        known = registration_facts(organization, [e.registration_id for e in thin], url=url)
        for e in thin:
            resolve_thin(e, known.get(e.registration_id or ""), window_start)


def archived_emails(state: AmiliaState, events: list[AmiliaEvent]) -> set[str]:
    """The e-mails the plan looks up because they are archived (``plan._archived_emails``): of the persons the
    events involve (the person, the account's owner, an archived account's members), those who would be a
    contact of their own (an e-mail; not a child, unless an owner) and are archived — in Amilia, through their
    account, or by an event of the batch."""
    persons = {e.person_id for e in events if e.kind == PERSON_ARCHIVE}
    accounts = {e.account_id for e in events if e.kind == ACCOUNT_ARCHIVE}
    involved: set[int | None] = set()
    for e in events:
        account = e.account_id if e.account_id is not None else state.account_of(e.person_id)
        involved |= {e.person_id, state.owner_id(account) or e.owner_id}
        if e.kind == ACCOUNT_ARCHIVE and account is not None:
            involved.update(state.member_ids(account))
    owners = {state.owner_id(a) for a in state.accounts}
    out = set()
    for pid in involved - {None}:
        person = state.persons.get(pid)  # type: ignore[arg-type]
        if person is None or (email := email_of(person)) is None or (person.get("IsChild") and pid not in owners):
            continue
        account = person.get("AccountId")
        if pid in persons or person.get("IsArchived") or account in accounts \
                or (state.accounts.get(account) or {}).get("IsArchived"):
            out.add(email)
    return out


def email_of(person: dict[str, Any]) -> str | None:
    text = str(person.get("Email") or "").strip().lower()
    return text if "@" in text else None


def _keep_needed(state: AmiliaState, persons: set[int], accounts: set[int], full_accounts: set[int]) -> None:
    """After listing everyone: keep the batch's persons and accounts (with owners and members), mark the
    ones Amilia does not know as missing, as a 404 would."""
    everyone, all_accounts = state.persons, state.accounts
    accounts = accounts | {a for p in persons if (a := (everyone.get(p) or {}).get("AccountId")) is not None}
    state.accounts = {a: all_accounts[a] for a in accounts if a in all_accounts}
    persons = persons | {o for a in state.accounts if (o := state.owner_id(a)) is not None}
    persons |= {p for a in full_accounts & set(state.accounts) for p in state.member_ids(a)}
    state.persons = {p: everyone[p] for p in persons if p in everyone}
    state.missing |= {("person", p) for p in persons if p not in everyone}
    state.missing |= {("account", a) for a in accounts if a not in all_accounts}


def _bind(method: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: method(*args)


def _seen(state: AmiliaState, kind: str) -> set[int]:
    done = state.persons if kind == "person" else state.accounts
    return set(done) | {i for k, i in (*state.missing, *state.errors) if k == kind}


async def _run(state: AmiliaState, jobs: list[tuple[Resource, Callable[[], Awaitable[Any]]]],
               other: dict[Any, Any] | None = None) -> None:
    """Run the reads at once; each answer lands in `state` by resource kind, or in `other` by resource."""
    results = await asyncio.gather(*(call() for _, call in jobs), return_exceptions=True)
    state.calls += len(jobs)
    for (resource, _), result in zip(jobs, results, strict=True):
        kind, ident = resource
        if isinstance(result, AuthError):
            raise result
        if isinstance(result, NotFoundError):
            state.missing.add(resource)
        elif isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise result
            state.errors[resource] = error_text(result)
        elif kind == "person":
            state.persons[ident] = result
        elif kind == "account":
            state.accounts[ident] = result
        elif kind == "registrations":
            state.registrations[ident] = result
        elif kind == "holders":
            state.holders[ident] = result
        elif resource in (ALL_PERSONS, ALL_ACCOUNTS):
            (state.persons if resource == ALL_PERSONS else state.accounts).update({int(x["Id"]): x for x in result})
        elif other is not None:
            other[resource] = result
