"""Prefect tasks of the Amilia → Cyberimpact initial sync.

Each task is a thin verb around a connector call or a pure transform (tasks/amilia_cyberimpact/transforms.py,
tasks/amilia_cyberimpact/diff.py). Tasks get connector clients, never raw credentials, and use NO_CACHE: their
inputs are large frames and live clients that must not be hashed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, NamedTuple

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import Field, WithJsonSchema

from connectors._http.errors import OutcomeUnknown, ValidationError
from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient, Row
from passerelle.store.registrations import remember_registrations
from tasks.amilia_cyberimpact.diff import REASON_UNSUBSCRIBED, SyncChanges, diff_contacts
from tasks.amilia_cyberimpact.mapping import (
    ARCHIVED_FIELD,
    ARCHIVED_GROUP,
    CLIENTS_GROUP,
    CUSTOM_FIELDS,
    RELATION_TYPE,
    archived_criteria,
    dynamic_criteria,
)
from tasks.amilia_cyberimpact.transforms import (
    ContactPlan,
    accounts_frame,
    enrolments_frame,
    persons_frame,
    plan_contacts,
    registration_facts,
    registration_row,
)

# Flow parameter types. Prefect 3.8.8 checks a run's parameters against the deployment's JSON schema when the
# run is created (types, minimum/maximum, pattern) but not `format: date`, hence the pattern: a day that
# cannot exist in any month ("2026-13-45") is refused at creation, with the field named.
LINK_PATTERN = r"^[a-z0-9-]+$"  # a Prefect block name: the link's credentials are blocks of this name
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
LinkName = Annotated[str, Field(pattern=LINK_PATTERN, min_length=1, max_length=100)]
Day = Annotated[date, WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN})]


class PreflightError(RuntimeError):
    """The Cyberimpact account cannot receive the sync; nothing was written."""


@dataclass
class AmiliaExtract:
    persons: list[dict]
    accounts: list[dict]
    registrations: list[tuple]  # rows of tasks.amilia_cyberimpact.transforms.registration_row
    membership_persons: list[dict]


@dataclass
class CyberimpactSnapshot:
    account: dict[str, Any]
    custom_fields: list[dict]
    groups: list[dict]
    members: list[dict]
    unsubscribed: set[str]

    def field_ids(self) -> dict[str, str]:
        return {f["name"]: str(f["id"]) for f in self.custom_fields}

    def group_ids(self) -> dict[str, str]:
        return {g["title"]: str(g["id"]) for g in self.groups}


@dataclass
class LoadOutcome:
    created: int = 0
    updated: int = 0
    group_memberships_added: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


@task(name="read-cyberimpact-state", cache_policy=NO_CACHE)
async def read_cyberimpact_state(cyberimpact: CyberimpactClient) -> CyberimpactSnapshot:
    """Read the account, custom fields, groups, members and unsubscribed list of Cyberimpact.

    Returns:
        A CyberimpactSnapshot the preflight and the diff work from.
    """
    account, custom_fields, groups, members, unsubscribed = await asyncio.gather(
        cyberimpact.get_account(), cyberimpact.list_custom_fields(), cyberimpact.list_groups(),
        cyberimpact.list_members(status="all"), cyberimpact.list_unsubscribed())
    return CyberimpactSnapshot(account, custom_fields, groups, members,
                               {str(m["email"]).lower() for m in unsubscribed})


@task(name="check-cyberimpact-can-hold-fields", cache_policy=NO_CACHE)
def check_custom_field_room(snapshot: CyberimpactSnapshot) -> list[str]:
    """Fail before any write when the account cannot hold the 14 Amilia custom fields.

    Seed: "vous devez avoir un forfait Plus ou Pro de Cyberimpact, puisque vous aurez besoin d'au moins
    14 champs personnalisés pour les informations synchronisées."

    Returns:
        The names of the custom fields that will be created.
    """
    existing = {f["name"]: f for f in snapshot.custom_fields}
    wrong_type = [f"{cf.name} is of type {existing[cf.name]['type']!r}, expected {cf.type!r}"
                  for cf in CUSTOM_FIELDS if cf.name in existing and existing[cf.name]["type"] != cf.type]
    if wrong_type:
        raise PreflightError("Cyberimpact custom fields have the wrong type: " + "; ".join(wrong_type)
                             + ". Rename or delete them in Cyberimpact, then run the sync again.")
    missing = [cf.name for cf in CUSTOM_FIELDS if cf.name not in existing]
    limit = snapshot.account.get("customFieldsLimit")
    if limit is not None and len(snapshot.custom_fields) + len(missing) > int(limit):
        plan = snapshot.account.get("plan", "?")
        raise PreflightError(
            f"The Cyberimpact account (plan {plan!r}) can hold {limit} custom fields and already has "
            f"{len(snapshot.custom_fields)}; the Amilia sync needs {len(CUSTOM_FIELDS)} 'Amilia.*' fields, "
            f"{len(missing)} of them missing. Nothing was written. Move to the Plus or Pro plan, or delete "
            f"unused custom fields, then run the sync again.")
    return missing


@task(name="extract-amilia", cache_policy=NO_CACHE)
async def extract_amilia(amilia: AmiliaClient, since: date, until: date) -> AmiliaExtract:
    """Read persons, accounts (archived too), registrations of the window and active memberships."""
    persons, accounts, registrations, memberships = await asyncio.gather(
        amilia.list_persons(), amilia.list_accounts(show_archived=True),
        amilia.list_registrations(since, until, show_ended=True, project=registration_row),
        amilia.list_memberships())
    # kept while the holders are read: what webhooks need to resolve a Delete that carries only a
    # registration's Id (docs/amilia-webhooks.md)
    holders, _ = await asyncio.gather(
        asyncio.gather(*(amilia.list_membership_persons(m["Id"], status="Active") for m in memberships)),
        asyncio.to_thread(remember_registrations, amilia.organization, registration_facts(registrations)))
    names = {m["Id"]: m["Name"] for m in memberships}
    membership_persons = [{**row, "MembershipName": row.get("MembershipName") or names[m_id]}
                          for m_id, rows in zip(names, holders, strict=True) for row in rows]
    get_run_logger().info("Amilia: %d persons, %d accounts, %d registrations, %d active memberships",
                          len(persons), len(accounts), len(registrations), len(membership_persons))
    return AmiliaExtract(persons, accounts, registrations, membership_persons)


@task(name="plan-contacts", cache_policy=NO_CACHE)
def plan_sync(extract: AmiliaExtract, since: date, until: date) -> ContactPlan:
    """Apply the seed's rules: who becomes a contact, with which fields, groups and consent."""
    return plan_contacts(persons_frame(extract.persons), accounts_frame(extract.accounts),
                         enrolments_frame(extract.registrations, extract.membership_persons,
                                          since=since, until=until))


@task(name="diff-with-cyberimpact", cache_policy=NO_CACHE)
def diff_with_cyberimpact(plan: ContactPlan, snapshot: CyberimpactSnapshot) -> SyncChanges:
    """Keep only the writes that change something in Cyberimpact."""
    return diff_contacts(plan.contacts, plan.memberships, snapshot.members, snapshot.unsubscribed,
                         {v: k for k, v in snapshot.field_ids().items()},
                         {v: k for k, v in snapshot.group_ids().items()})


@task(name="ensure-custom-fields", cache_policy=NO_CACHE)
async def ensure_custom_fields(cyberimpact: CyberimpactClient, snapshot: CyberimpactSnapshot,
                               missing: list[str]) -> dict[str, str]:
    """Create the missing Amilia.* custom fields. Returns name → field id for all 14."""
    ids = snapshot.field_ids()
    types = {cf.name: cf.type for cf in CUSTOM_FIELDS}

    created = await asyncio.gather(*(
        create_once(lambda n=name: cyberimpact.create_custom_field(n, types[n]), cyberimpact.list_custom_fields,
                    "name", name) for name in missing))
    ids.update({name: str(field["id"]) for name, field in zip(missing, created, strict=True)})
    return ids


async def create_once(create: Callable[[], Awaitable[Row]], list_all: Callable[[], Awaitable[list[Row]]],
                      key: str, value: str) -> Row:
    """Create one named object (a custom field by `name`, a group by `title`) once, whatever happens on the way:

    - 422 "already taken": another writer created it since we read (a webhook drain during the initial sync,
      two runs of a link) → the existing one is looked up and returned;
    - the answer was lost (``OutcomeUnknown``: a timeout or a 5xx after the request may have arrived; the
      connector does not re-send a POST itself) → look it up: found, it was created; not found, send once more
      (if the first did land meanwhile, Cyberimpact refuses the second with 422, settled as above).

    Raises:
        ValidationError: a refusal that is not a name taken (e.g. no room for another custom field).
        OutcomeUnknown: the second send's answer was lost too.
    """
    try:
        return await _create_or_find(create, list_all, key, value)
    except OutcomeUnknown:
        found = await _find(list_all, key, value)
        return found if found is not None else await _create_or_find(create, list_all, key, value)


async def _create_or_find(create: Callable[[], Awaitable[Row]], list_all: Callable[[], Awaitable[list[Row]]],
                          key: str, value: str) -> Row:
    """Create; after a 422, the object another writer created a moment ago, else the 422 again."""
    try:
        return await create()
    except ValidationError:
        found = await _find(list_all, key, value)
        if found is None:
            raise
        return found


async def _find(list_all: Callable[[], Awaitable[list[Row]]], key: str, value: str) -> Row | None:
    return next((row for row in await list_all() if row.get(key) == value), None)


async def create_group(cyberimpact: CyberimpactClient, title: str, criteria: dict | None = None) -> Row:
    """Create a static group (or a dynamic one with `criteria`), race-safe: the one place groups are created
    (the initial sync, the reconciliation, the webhook drain). A title another writer created meanwhile (a
    drain during the initial sync, two runs of a link) answers 422 "title already taken": the group is then
    looked up and returned; a lost answer is settled by :func:`create_once`."""
    return await create_once(lambda: (cyberimpact.create_dynamic_group(title, criteria) if criteria
                                      else cyberimpact.create_static_group(title)),
                             cyberimpact.list_groups, "title", title)


class WantedGroups(NamedTuple):
    """The groups a plan needs: static titles, and dynamic titles with their criteria."""

    static: list[str]
    dynamic: dict[str, dict]


class GroupIds(NamedTuple):
    """Every group the plan needs (title → Cyberimpact id), and the titles created by this run."""

    ids: dict[str, str]
    created: list[str]


def wanted_groups(plan: ContactPlan) -> WantedGroups:
    """Static group titles and dynamic group criteria (archived group criteria added at load time)."""
    static = [CLIENTS_GROUP, *plan.activity_titles, *plan.membership_titles]
    dynamic = {title: dynamic_criteria(title) for title in plan.hierarchy_titles}
    return WantedGroups(static, dynamic)


@task(name="ensure-groups", cache_policy=NO_CACHE)
async def ensure_groups(cyberimpact: CyberimpactClient, snapshot: CyberimpactSnapshot, plan: ContactPlan,
                        field_ids: dict[str, str]) -> GroupIds:
    """Create missing groups: static (clients, activities, memberships) and dynamic (hierarchy, archived).

    Returns:
        The ids of every group the plan needs, and the titles created.
    """
    ids = snapshot.group_ids()
    static, dynamic = wanted_groups(plan)
    dynamic[ARCHIVED_GROUP] = archived_criteria(field_ids[ARCHIVED_FIELD])
    # Static groups first: a dynamic group's criterion names static group titles. The client bounds how
    # many calls are in flight.
    new_static = [t for t in dict.fromkeys(static) if t not in ids]
    for title, group in zip(new_static, await asyncio.gather(
            *(create_group(cyberimpact, t) for t in new_static)), strict=True):
        ids[title] = str(group["id"])
    new_dynamic = [t for t in dynamic if t not in ids]
    for title, group in zip(new_dynamic, await asyncio.gather(
            *(create_group(cyberimpact, t, dynamic[t]) for t in new_dynamic)), strict=True):
        ids[title] = str(group["id"])
    return GroupIds(ids, new_static + new_dynamic)


def to_batch_member(member: dict[str, Any], field_ids: dict[str, str]) -> dict[str, Any]:
    """A planned member (custom fields by name) → a batch member (custom fields by id)."""
    out = {k: v for k, v in member.items() if k != "customFields" and v is not None}
    out["customFields"] = {field_ids[k]: v for k, v in member.get("customFields", {}).items()}
    return out


@task(name="load-contacts", cache_policy=NO_CACHE)
async def load_contacts(cyberimpact: CyberimpactClient, changes: SyncChanges, field_ids: dict[str, str],
                        group_ids: dict[str, str], chunk_size: int = 1000) -> LoadOutcome:
    """Upsert new and changed contacts (added to "Clients Amilia"), then add group memberships."""
    outcome = LoadOutcome()
    upserts = [to_batch_member(m, field_ids) for m in (*changes.creates, *changes.updates)]
    failed: set[str] = set()
    if upserts:
        result = await cyberimpact.add_members(upserts, groups=[group_ids[CLIENTS_GROUP]],
                                               relation_type=RELATION_TYPE, chunk_size=chunk_size)
        outcome.failures.extend(result.errors)
        failed = {str(e.get("email", "")).lower() for e in result.errors}
        outcome.created = sum(1 for m in changes.creates if m["email"] not in failed)
        outcome.updated = sum(1 for m in changes.updates if m["email"] not in failed)
    upserted = {m["email"] for m in upserts}
    # "Clients Amilia" adds of upserted contacts were done by the upsert batch itself.
    jobs = [(title, [e for e in emails if not (title == CLIENTS_GROUP and e in upserted)])
            for title, emails in changes.group_adds.items()]
    jobs = [(title, emails) for title, emails in jobs if emails]
    results = await asyncio.gather(*(
        cyberimpact.add_members([{"email": e} for e in emails], groups=[group_ids[title]],
                                relation_type=RELATION_TYPE, chunk_size=chunk_size)
        for title, emails in jobs))
    for result in results:
        outcome.failures.extend(result.errors)
    clients_via_upsert = sum(1 for e in changes.group_adds.get(CLIENTS_GROUP, []) if e in upserted)
    outcome.group_memberships_added = (
        clients_via_upsert - len(failed & set(changes.group_adds.get(CLIENTS_GROUP, [])))
        + sum(len(emails) for _, emails in jobs) - sum(len(r.errors) for r in results))
    return outcome


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary as rows for a Prefect table artifact and the CLI."""
    rows = [{"item": k.replace("_", " "), "count": v} for k, v in summary["counts"].items()]
    rows += [{"item": f"skipped: {reason}", "count": n} for reason, n in summary["skipped"].items()]
    return rows


def explain_sync(summary: dict[str, Any]) -> list[str]:
    """Why the numbers of a sync summary differ, in sentences (the artifact's description and the CLI)."""
    counts, skipped, dry = summary["counts"], dict(summary.get("skipped", {})), summary.get("dry_run")
    planned, rejected = counts["contacts planned"], counts.get("contacts rejected by Cyberimpact", 0)
    unsubscribed = skipped.pop(REASON_UNSUBSCRIBED, 0)
    would = "would be " if dry else ""
    parts = [f"{counts['contacts created']} {would}created", f"{counts['contacts updated']} {would}updated",
             f"{counts['contacts unchanged']} already up to date in Cyberimpact"]
    if unsubscribed:
        parts.append(f"{unsubscribed} left alone because they unsubscribed in Cyberimpact (never written)")
    if rejected:
        parts.append(f"{rejected} rejected by Cyberimpact (listed under failures, with its reason)")
    notes = [f"{planned} contacts planned from Amilia: " + ", ".join(parts) + "."]
    if skipped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in skipped.items())
        notes.append(f"{sum(skipped.values())} Amilia persons are not a contact of their own ({reasons}); "
                     f"their account owner is the contact.")
    notes.append(f"{counts['group memberships added']} group memberships {would}added: one per contact and "
                 f"group it joins, \"{CLIENTS_GROUP}\" included.")
    if counts["failures"]:
        notes.append(f"{counts['failures']} changes refused by Cyberimpact: {rejected} contacts and "
                     f"{counts['failures'] - rejected} group additions (a rejected contact's groups are refused "
                     f"too); each is listed under failures with its reason, and the next run tries again.")
    if dry:
        notes.append("Dry run: nothing was written to Cyberimpact; the counts are what a real run would do.")
    return notes


def skipped_by_reason(plan: ContactPlan, changes: SyncChanges) -> dict[str, int]:
    reasons = pd.concat([plan.skipped["reason"], pd.Series([s["reason"] for s in changes.skipped],
                                                             dtype="object")])
    return {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()}
