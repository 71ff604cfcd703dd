"""Reconciliation of Amilia and Cyberimpact: the drift the initial sync's diff does not see.

The initial sync only adds: missing contacts, changed fields, newer consent, missing group memberships
(tasks/amilia_cyberimpact/diff.py repairs all of those). Reconciliation also finds memberships that should no
longer be there — a cancellation or an archive whose webhook was lost (Amilia drops its queue after 72 h
of failures) — and reports every repair.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.cyberimpact.client import CyberimpactClient
from tasks.amilia_cyberimpact.diff import SyncChanges
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP
from tasks.amilia_cyberimpact.transforms import ContactPlan


@dataclass
class Drift:
    """What reconciliation found (and, unless dry run, repaired)."""

    contacts_missing: list[str] = field(default_factory=list)
    contacts_with_changed_fields: dict[str, list[str]] = field(default_factory=dict)  # email → fields
    memberships_missing: list[tuple[str, str]] = field(default_factory=list)  # (email, group title)
    memberships_extra: list[tuple[str, str]] = field(default_factory=list)  # (email, group title)

    @property
    def total(self) -> int:
        return (len(self.contacts_missing) + len(self.contacts_with_changed_fields)
                + len(self.memberships_missing) + len(self.memberships_extra))

    def rows(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = [{"drift": "contact missing in Cyberimpact", "contact": e, "detail": "recreated"}
                for e in self.contacts_missing]
        rows += [{"drift": "fields differ from Amilia", "contact": e, "detail": ", ".join(f)}
                 for e, f in self.contacts_with_changed_fields.items()]
        rows += [{"drift": "group membership missing", "contact": e, "detail": t}
                 for e, t in self.memberships_missing]
        rows += [{"drift": "group membership no longer valid", "contact": e, "detail": t}
                 for e, t in self.memberships_extra]
        return rows[:limit]


def extra_memberships(plan: ContactPlan, members: list[dict], group_titles_by_id: dict[str, str]) -> \
        list[tuple[str, str]]:
    """(email, title) memberships of Amilia contacts in Amilia-managed static groups the plan does not hold.

    Managed groups are the activity and membership groups with at least one live enrolment in the window.
    An activity whose registrations are all cancelled has none, so its group and members stay intact
    (seed: "Si une activité est complètement annulée pour tous les participants, nous conserverons le
    groupe de l'activité avec sa liste de contacts intacte"). Contacts that did not come from Amilia, and
    groups Passerelle does not manage, are never touched; an Amilia contact is one in "Clients Amilia",
    whether or not it still has a live enrolment.

    An address still registered in an activity through another account (a live registration of the window)
    keeps its group: the plan's pairs are per e-mail, over every account — the webhooks' keep rule is the
    same (docs/amilia-webhooks.md, "Keep rule of a cancellation").

    Archived persons and accounts: the plan gives no group from their enrolments — also to an address a live
    person shares (:func:`tasks.amilia_cyberimpact.transforms.plan_contacts`) — while their activities and memberships
    stay managed. So the memberships only an archived account gave are extra here, a lost archive webhook is
    repaired, and the shared address keeps the live person's groups (seed: "Les adresses courriel des
    personnes et du propriétaire du compte archivé seront retirées des groupes d'activités et d'abonnements
    correspondants").
    """
    managed = set(plan.activity_titles) | set(plan.membership_titles)
    wanted = set(zip(plan.memberships["email"], plan.memberships["group_title"], strict=True))
    extra = []
    for member in members:
        email = str(member.get("email", "")).lower()
        titles = {group_titles_by_id.get(str(g)) for g in member.get("groups") or []}
        if CLIENTS_GROUP not in titles or member.get("status") == "unsubscribed":
            continue  # not a contact that came from Amilia, or left alone as unsubscribed
        extra += [(email, t) for t in titles if t in managed and (email, t) not in wanted]
    return sorted(extra)


def describe_drift(changes: SyncChanges, extra: list[tuple[str, str]]) -> Drift:
    drift = Drift(contacts_missing=sorted(m["email"] for m in changes.creates))
    for update in changes.updates:
        fields = [k for k in update if k not in ("email", "customFields")]
        fields += list(update.get("customFields", {}))
        drift.contacts_with_changed_fields[update["email"]] = fields
    created = set(drift.contacts_missing)
    drift.memberships_missing = sorted(
        (email, title) for title, emails in changes.group_adds.items() for email in emails
        if email not in created)
    drift.memberships_extra = extra
    return drift


@task(name="remove-invalid-memberships", cache_policy=NO_CACHE)
async def remove_memberships(cyberimpact: CyberimpactClient, extra: list[tuple[str, str]],
                             group_ids: dict[str, str]) -> int:
    """Remove members from groups they should no longer be in. Returns how many were removed."""
    await asyncio.gather(*(cyberimpact.remove_member_group(email, group_ids[title]) for email, title in extra))
    return len(extra)
