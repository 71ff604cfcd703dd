"""Writing one batch's plan to Cyberimpact: diff with the members concerned, then few, idempotent calls.

- Contacts and group adds: :func:`tasks.amilia_cyberimpact.diff.diff_contacts` (the initial sync's diff: only
  changes, consent only forward, unsubscribed members never written), then one ``addMembers`` batch per set
  of groups to add (usually one per activity), all submitted at once.
- Removals: ``DELETE /members/{key}/groups/{id}`` for members really in the group, each guarded by the
  effect ledger (``inbox-<id>:remove:<group id>:<e-mail>``), so a re-run after a crash does not repeat them.

Failures are attributed: a failed batch or call fails the events its e-mails come from, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from connectors._http import AuthError, NotFoundError
from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient
from passerelle.engine import error_text, event_key
from passerelle.store.effects import done_keys, record_effects
from passerelle.store.engine import off_loop
from tasks.amilia_cyberimpact.diff import diff_contacts
from tasks.amilia_cyberimpact.events.model import LinkOrganisation
from tasks.amilia_cyberimpact.events.plan import BatchPlan
from tasks.amilia_cyberimpact.mapping import (
    ARCHIVED_FIELD,
    ARCHIVED_GROUP,
    CLIENTS_GROUP,
    CUSTOM_FIELDS,
    GROUP_SEPARATOR,
    RELATION_TYPE,
    archived_criteria,
    dynamic_criteria,
)
from tasks.amilia_cyberimpact.sync import (
    CyberimpactSnapshot,
    check_custom_field_room,
    create_group,
    ensure_custom_fields,
    to_batch_member,
)

UNSUBSCRIBED = "member is unsubscribed"


class CyberimpactAccount:
    """What one drain run knows of the Cyberimpact account: field ids, group ids, the Amilia groups."""

    def __init__(self, client: CyberimpactClient) -> None:
        self.client = client
        self.field_ids: dict[str, str] = {}
        self.group_ids: dict[str, str] = {}
        self.dynamic: set[str] = set()
        self.programs: set[str] = set()
        self.membership_names: set[str] = set()
        self.known_titles: set[str] = set()
        self.organization_ids: set[int] = set()  # the OrganizationId of Amilia's membership rows

    def organisation(self, identifier: str) -> LinkOrganisation:
        """The link's organisation: its credentials' id, or (a store slug) the number Amilia's membership rows
        carry; unknown when a slug's rows say nothing (docs/amilia-webhooks.md, "The organisation check")."""
        text = str(identifier).strip()
        number = int(text) if text.isdigit() else (
            next(iter(self.organization_ids)) if len(self.organization_ids) == 1 else None)
        return LinkOrganisation(text, number)

    @property
    def field_names(self) -> dict[str, str]:
        return {v: k for k, v in self.field_ids.items()}

    @property
    def group_titles(self) -> dict[str, str]:
        return {v: k for k, v in self.group_ids.items()}

    async def prepare(self, amilia: AmiliaClient) -> None:
        """Read fields, groups, programs and memberships; create missing Amilia fields and the two base groups.

        Raises:
            PreflightError: the account cannot hold the 14 Amilia custom fields (a configuration error).
            AuthError: a vendor refused the credentials.
        """
        fields, groups, programs, memberships = await asyncio.gather(
            self.client.list_custom_fields(), self.client.list_groups(), amilia.list_programs(),
            amilia.list_memberships(show_active_only=False, show_hidden=True))
        self._set_groups(groups)
        self.programs = {str(p["Name"]).strip() for p in programs if p.get("Name")}
        self.membership_names = {str(m["Name"]).strip() for m in memberships if m.get("Name")}
        self.organization_ids = {int(m["OrganizationId"]) for m in memberships
                                 if str(m.get("OrganizationId") or "").strip().isdigit()}
        self.field_ids = {f["name"]: str(f["id"]) for f in fields}
        if any(cf.name not in self.field_ids for cf in CUSTOM_FIELDS):
            snapshot = CyberimpactSnapshot(await self.client.get_account(), fields, groups, [], set())
            missing = check_custom_field_room.fn(snapshot)
            # a field another drain or the sync creates meanwhile is looked up by ensure_custom_fields itself
            self.field_ids = await ensure_custom_fields.fn(self.client, snapshot, missing)
        await self.ensure_groups({CLIENTS_GROUP}, {ARCHIVED_GROUP: archived_criteria(self.field_ids[ARCHIVED_FIELD])})

    def _set_groups(self, groups: list[dict[str, Any]]) -> None:
        self.group_ids = {g["title"]: str(g["id"]) for g in groups}
        self.dynamic = {g["title"] for g in groups if g.get("isDynamic")}

    def is_amilia_group(self, title: str) -> bool:
        """A static activity or membership group of the integration (not "Clients Amilia", not a user's own)."""
        if title in self.dynamic or title == CLIENTS_GROUP:
            return False
        return (title in self.known_titles or title in self.membership_names
                or any(title.startswith(p + GROUP_SEPARATOR) for p in self.programs))

    async def ensure_groups(self, static: set[str], dynamic: dict[str, dict]) -> None:
        """Create the missing groups (a title another writer just created is looked up again)."""
        for title in sorted(static):
            if title not in self.group_ids:
                await self._create(title, None)
        for title, criteria in sorted(dynamic.items()):
            if title not in self.group_ids:
                await self._create(title, criteria)

    async def _create(self, title: str, criteria: dict | None) -> None:
        group = await create_group(self.client, title, criteria)  # a title taken meanwhile is looked up
        self.group_ids[title] = str(group["id"])
        if criteria or group.get("isDynamic"):
            self.dynamic.add(title)


@dataclass
class WriteOutcome:
    failed: dict[int, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    contacts_written: int = 0
    group_adds: int = 0
    removals: int = 0


class MemberReader:
    """Reads the batch's members by e-mail, or lists every member when that is cheaper (one call per 10 000
    members against one per e-mail; a listing of 1 000 members costs ~8 single reads on the emulator); the
    account's size is learned from the first listing."""

    def __init__(self, client: CyberimpactClient) -> None:
        self.client = client
        self.pages: int | None = None
        self.size = 1000

    async def read(self, emails: set[str]) -> MembersRead:
        """Members by e-mail (None when unknown), and the e-mails whose read failed (→ error)."""
        if len(emails) > 10 * (self.pages or 1) * max(1, self.size // 1000):
            try:
                everyone = await self.client.list_members(status="all")
            except AuthError:
                raise
            except Exception:  # noqa: BLE001 - fall back to one call per e-mail
                pass
            else:
                self.pages, self.size = max(1, -(-len(everyone) // 10_000)), len(everyone)
                by_email = {str(m["email"]).lower(): m for m in everyone}
                return MembersRead({e: by_email.get(e) for e in emails}, {})
        ordered = sorted(emails)
        results = await asyncio.gather(*(self.client.get_member(e) for e in ordered), return_exceptions=True)
        members: dict[str, dict | None] = {}
        errors: dict[str, str] = {}
        for email, result in zip(ordered, results, strict=True):
            if isinstance(result, AuthError):
                raise result
            if isinstance(result, BaseException):
                errors[email] = error_text(result)
            else:
                members[email] = result
        return MembersRead(members, errors)


class MembersRead(NamedTuple):
    """Cyberimpact members by e-mail (None: no such member), and the e-mails whose read failed (→ error)."""

    members: dict[str, dict | None]
    unreadable: dict[str, str]


class ArchiveLookups(NamedTuple):
    """The contacts of thin deletes found in "Clients Amilia": e-mail → events, and e-mail → member."""

    events: dict[str, set[int]]
    members: dict[str, dict]


async def resolve_archive_lookups(side: CyberimpactAccount, plan: BatchPlan) -> ArchiveLookups:
    """Thin deletes Amilia no longer answers (404): the contacts whose Amilia.PersonId / Amilia.AccountId matches,
    read from "Clients Amilia"."""
    if not plan.archive_lookups:
        return ArchiveLookups({}, {})
    field_of = {"person": side.field_ids["Amilia.PersonId"], "account": side.field_ids["Amilia.AccountId"]}
    members = await side.client.list_group_members(int(side.group_ids[CLIENTS_GROUP]), status="all")
    found: dict[str, set[int]] = defaultdict(set)
    matched: dict[str, dict] = {}
    for m in members:
        values = m.get("customFields") or {}
        for (kind, ident), events in plan.archive_lookups.items():
            if str(values.get(field_of[kind], "")).strip() == str(ident):
                found[str(m["email"]).lower()].update(events)
                matched[str(m["email"]).lower()] = m
    return ArchiveLookups(dict(found), matched)


async def write_plan(side: CyberimpactAccount, plan: BatchPlan, members: dict[str, dict | None],
                     archive_emails: dict[str, set[int]], store_url: str | None = None) -> WriteOutcome:
    """Apply the plan: contacts and group adds, and the removals, both at once. Only the events of a failed
    write fail."""
    out = WriteOutcome()
    existing = [m for m in members.values() if m]
    unsubscribed = {str(m["email"]).lower() for m in existing if m.get("status") == "unsubscribed"}
    started = time.perf_counter()
    changes = diff_contacts(plan.contacts, plan.adds, existing, unsubscribed, side.field_names, side.group_titles,
                            membership_forward_only=True) if not plan.contacts.empty else None
    writes: dict[str, dict[str, Any]] = {}
    groups: dict[str, set[str]] = defaultdict(set)
    by_email = {e: set(ids) for e, ids in plan.by_email.items()}
    if changes is not None:
        static = {t for t in changes.group_adds if t != CLIENTS_GROUP}
        side.known_titles |= static
        out.timings["diff"] = time.perf_counter() - started
        started = time.perf_counter()
        await side.ensure_groups(static, {t: dynamic_criteria(t) for t in plan.hierarchy_titles})
        out.timings["create groups"] = time.perf_counter() - started
        for m in (*changes.creates, *changes.updates):
            writes[m["email"]] = to_batch_member(m, side.field_ids)
            groups[m["email"]].add(side.group_ids[CLIENTS_GROUP])
        for title, emails in changes.group_adds.items():
            for email in emails:
                writes.setdefault(email, {"email": email})
                groups[email].add(side.group_ids[title])
    archived_field = side.field_ids[ARCHIVED_FIELD]
    for email, events in archive_emails.items():
        member = members.get(email)
        by_email.setdefault(email, set()).update(events)
        if member and member.get("status") != "unsubscribed" and \
                str((member.get("customFields") or {}).get(archived_field)) != "True":
            writes.setdefault(email, {"email": email}).setdefault("customFields", {})[archived_field] = "True"

    async def removals() -> None:
        started = time.perf_counter()
        await _remove(side, plan, members, archive_emails, by_email, out, store_url)
        out.timings["remove"] = time.perf_counter() - started

    async def adds() -> None:
        started = time.perf_counter()
        await _add(side, writes, groups, by_email, out)
        out.timings["add"] = time.perf_counter() - started

    # adds and removals never touch the same (member, group): the plan settled those by event order
    results = await asyncio.gather(adds(), removals(), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return out


async def _add(side: CyberimpactAccount, writes: dict[str, dict], groups: dict[str, set[str]],
               by_email: dict[str, set[int]], out: WriteOutcome) -> None:
    """One batch for the contacts with changed fields (added to "Clients Amilia" too) and one batch per group
    for the group adds, all submitted at once: ``addMembers`` creates or updates, so their order does not
    matter. (Batches, not ``POST /members/{key}/groups``: that call answers the member's groups with their
    member counts, which Cyberimpact — and the emulator, ~40 ms — recomputes after every write.)"""
    clients = side.group_ids[CLIENTS_GROUP]
    upserts = [m for m in writes.values() if len(m) > 1]
    for m in upserts:
        groups[m["email"]].discard(clients)
    by_title: dict[str, list[str]] = defaultdict(list)
    for email, gids in sorted(groups.items()):
        for gid in sorted(gids):
            by_title[gid].append(email)
    add = side.client.add_members  # addMembers batches, submitted together, polled from 50 ms on
    jobs = [([m["email"] for m in upserts], add(upserts, [int(clients)], RELATION_TYPE))] if upserts else []
    jobs += [(emails, add([{"email": e} for e in emails], [int(gid)], RELATION_TYPE))
             for gid, emails in sorted(by_title.items())]
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    failed: set[str] = set()
    for index, ((emails, _), result) in enumerate(zip(jobs, results, strict=True)):
        if isinstance(result, AuthError):
            raise result
        if isinstance(result, BaseException):
            errors = dict.fromkeys(emails, error_text(result))
        else:
            errors = {str(e.get("email", "")).lower(): f"Cyberimpact refused it: {e.get('message')}"
                      for e in result.errors if e.get("message") != UNSUBSCRIBED}
        for email, error in errors.items():
            failed.add(email)
            for eid in by_email.get(email, ()):
                out.failed[eid] = error
        if upserts and index == 0:
            out.contacts_written = sum(1 for e in emails if e not in errors)
    out.group_adds = sum(len(emails) for gid, emails in by_title.items()) - sum(
        1 for emails in by_title.values() for e in emails if e in failed)


async def _remove(side: CyberimpactAccount, plan: BatchPlan, members: dict[str, dict | None],
                  archive_emails: dict[str, set[int]], by_email: dict[str, set[int]], out: WriteOutcome,
                  store_url: str | None) -> None:
    wanted: dict[tuple[str, str], set[int]] = defaultdict(set)
    for (email, title), events in plan.removals.items():
        if title in side.group_ids:
            wanted[(email, side.group_ids[title])].update(events)
    archived = set(archive_emails)
    if not plan.contacts.empty:
        archived |= set(plan.contacts.loc[plan.contacts["archived"].astype(bool), "email"])
    titles = side.group_titles
    for email in archived:
        for gid in (members.get(email) or {}).get("groups") or []:
            if side.is_amilia_group(titles.get(str(gid), "")):
                wanted[(email, str(gid))].update(by_email.get(email, ()))
    for email, keep in plan.archive_keeps.items():  # shared with a live person: only the groups it gives stay
        for gid in (members.get(email) or {}).get("groups") or []:
            title = titles.get(str(gid), "")
            if title not in keep and side.is_amilia_group(title):
                wanted[(email, str(gid))].update(by_email.get(email, ()))
    todo = []
    for (email, gid), events in sorted(wanted.items()):
        member = members.get(email)
        if not member or member.get("status") == "unsubscribed" or int(gid) not in \
                {int(g) for g in member.get("groups") or []}:
            continue
        keys = {event_key(eid, f"remove:{gid}:{email}") for eid in events}
        todo.append((email, gid, events, keys))
    done = await off_loop(store_url, done_keys, {k for *_, keys in todo for k in keys}, url=store_url)
    todo = [t for t in todo if not (t[3] & done)]
    results = await asyncio.gather(*(_remove_one(side.client, email, gid) for email, gid, _, _ in todo),
                                   return_exceptions=True)
    # done: a re-run does not send them again. Recorded together, in one store transaction, once the calls are
    # answered; one killed before this finds the member already out of the group (the members read).
    await off_loop(store_url, record_effects, {k for (*_, keys), result in zip(todo, results, strict=True)
                                               if not isinstance(result, BaseException) for k in keys},
                   url=store_url)
    for (_, _, events, _), result in zip(todo, results, strict=True):
        if isinstance(result, AuthError):
            raise result
        if isinstance(result, BaseException):
            out.failed.update({eid: error_text(result) for eid in events})
        else:
            out.removals += 1


async def _remove_one(client: CyberimpactClient, email: str, gid: str) -> None:
    with contextlib.suppress(NotFoundError):  # member or group gone: nothing left to remove
        await client.remove_member_group(email, int(gid))
