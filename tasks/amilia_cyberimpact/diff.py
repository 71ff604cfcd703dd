"""Compare the planned contacts with what Cyberimpact holds, so that only real changes are written.

Pure functions: the planned contacts frame and Cyberimpact members (dicts, as the API returns them) in,
the list of writes out. A second run of the sync therefore changes nothing (the diff is empty).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP, CUSTOM_FIELD_NAMES, REGULAR_FIELDS, RELATION_TYPE

REASON_UNSUBSCRIBED = "unsubscribed in Cyberimpact: left unsubscribed"
EMPTY = "__EMPTY__"  # in an addMembers batch, clears the field (an empty value keeps it; API-NOTES §2)
IDENTITY_FIELD = "Amilia.PersonId"
# The fields one person fills (docs/amilia-sync.md, "Shared e-mails"): when another person fills the contact,
# each of them comes from that person, an empty value clearing the field. Amilia.IsArchived is always set;
# consent and the Amilia.Membership.* fields describe the contact's enrolments, of whichever person.
PERSON_FIELDS = ("firstname", "lastname", "gender", "birthdate", "country", "postalCode", "Amilia.Address.City",
                 "Amilia.Address.StateProvince", "Amilia.AccountId", IDENTITY_FIELD, "Amilia.Skills",
                 "Amilia.JoinDate", "Amilia.ExternalId", "Amilia.Telephone", "Amilia.TelephoneMobile")
MEMBERSHIP_FIELDS = ("Amilia.Membership.Name", "Amilia.Membership.PurchasedDate",
                     "Amilia.Membership.EffectiveDate", "Amilia.Membership.ExpirationDate")


@dataclass
class SyncChanges:
    """The writes the sync has to make in Cyberimpact."""

    creates: list[dict[str, Any]] = field(default_factory=list)   # new members, every field + consent
    updates: list[dict[str, Any]] = field(default_factory=list)   # changed members, changed fields only
    group_adds: dict[str, list[str]] = field(default_factory=dict)  # group title → e-mails to add
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {email, person_id, reason}
    unchanged: int = 0

    @property
    def group_memberships_added(self) -> int:
        return sum(len(v) for v in self.group_adds.values())


def _norm(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return "" if text in ("<NA>", "nan", "None") else text


def planned_member(row: dict[str, Any]) -> dict[str, Any]:
    """A planned contact row → a member payload (custom fields by name; empty values dropped)."""
    return _member({k: _norm(row.get(k)) for k in MEMBER_COLUMNS})


MEMBER_COLUMNS = (*REGULAR_FIELDS, *CUSTOM_FIELD_NAMES, "consent_date", "consent_proof")


def _member(values: dict[str, str]) -> dict[str, Any]:
    member: dict[str, Any] = {k: values[k] for k in REGULAR_FIELDS if values[k]}
    member["customFields"] = {k: values[k] for k in CUSTOM_FIELD_NAMES if values[k]}
    member["consentDate"] = values["consent_date"] or None
    member["consentProof"] = values["consent_proof"] or None
    return member


def _normalised_columns(contacts: pd.DataFrame) -> dict[str, list[str]]:
    """Every member column as normalised strings, column by column (a per-cell loop costs ~10× more)."""
    out: dict[str, list[str]] = {}
    for column in MEMBER_COLUMNS:
        if column not in contacts:
            out[column] = [""] * len(contacts)
        elif pd.api.types.is_float_dtype(contacts[column]):
            out[column] = [_norm(v) for v in contacts[column].tolist()]
        else:
            out[column] = contacts[column].astype("string").fillna("").str.strip().tolist()
    return out


def _consent_changes(existing: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Consent is refreshed when a later registration or purchase gives a newer date.

    Seed: "Le consentement est mis à jour chaque fois qu'une personne s'inscrit à une nouvelle activité
    ou lors de l'achat d'un nouvel abonnement." An express consent is never downgraded to a tacit one.
    """
    if not desired.get("consentDate"):
        return False
    if (existing.get("consentType") or "").lower() == "express":
        return False
    if existing.get("relationType") != RELATION_TYPE:
        return True
    have, want = _norm(existing.get("consentDate"))[:10], desired["consentDate"]
    return want > have or (want == have and _norm(existing.get("consentProof")) != desired["consentProof"])


def _cleared(current: dict[str, Any], have_custom: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Identity rule: another person now fills the contact (its Amilia.PersonId changes), so every field that
    person leaves empty is cleared — a contact never shows one person's name with another's phone."""
    had, now = _norm(have_custom.get(IDENTITY_FIELD)), desired["customFields"].get(IDENTITY_FIELD, "")
    if not had or not now or had == now:
        return {}
    out: dict[str, Any] = {}
    for key in PERSON_FIELDS:
        regular = key in REGULAR_FIELDS
        wanted = desired.get(key) if regular else desired["customFields"].get(key)
        held = current.get(key) if regular else have_custom.get(key)
        if not wanted and _norm(held):
            out[key] = EMPTY
    return out


def _older_membership(have_custom: dict[str, Any], desired: dict[str, Any]) -> bool:
    """The planned membership was bought before the one Cyberimpact shows (webhooks: "Nom du dernier
    abonnement acheté" only moves forward, whatever order the purchases arrive in)."""
    want = desired["customFields"].get("Amilia.Membership.PurchasedDate", "")
    return bool(want) and want < _norm(have_custom.get("Amilia.Membership.PurchasedDate"))[:10]


def diff_contacts(contacts: pd.DataFrame, memberships: pd.DataFrame, existing_members: list[dict],
                  unsubscribed: set[str], field_names_by_id: dict[str, str],
                  group_titles_by_id: dict[str, str], *, membership_forward_only: bool = False) -> SyncChanges:
    """Compare planned contacts and group memberships with Cyberimpact's members.

    Seed: contacts unsubscribed in Cyberimpact stay unsubscribed (they are reported, never written).
    A field that is empty in Amilia keeps the value Cyberimpact already has — unless another person now fills
    the contact (its Amilia.PersonId changes): then every field of that person is written, empty ones cleared.
    `membership_forward_only` (webhooks): the Amilia.Membership.* fields are not moved back to a membership
    bought before the one Cyberimpact shows.
    """
    by_email = {str(m.get("email", "")).lower(): m for m in existing_members}
    changes = SyncChanges()
    writable: set[str] = set()
    columns = _normalised_columns(contacts)
    for i, email in enumerate(columns["email"]):
        current = by_email.get(email)
        if email in unsubscribed or (current and current.get("status") == "unsubscribed"):
            person_id = columns["Amilia.PersonId"][i]
            changes.skipped.append({"email": email, "person_id": int(person_id) if person_id else None,
                                    "reason": REASON_UNSUBSCRIBED})
            continue
        writable.add(email)
        desired = _member({k: values[i] for k, values in columns.items()})
        if current is None:
            changes.creates.append(desired)
            continue
        update: dict[str, Any] = {}
        have_custom = {field_names_by_id.get(str(k), str(k)): v for k, v in
                       (current.get("customFields") or {}).items()}
        cleared = _cleared(current, have_custom, desired)
        for key in REGULAR_FIELDS:
            if key in desired and _norm(current.get(key)) != desired[key]:
                update[key] = desired[key]
            elif key in cleared:
                update[key] = EMPTY
        custom = {k: v for k, v in desired["customFields"].items() if _norm(have_custom.get(k)) != v}
        custom |= {k: v for k, v in cleared.items() if k not in REGULAR_FIELDS}
        if membership_forward_only and _older_membership(have_custom, desired):
            custom = {k: v for k, v in custom.items() if k not in MEMBERSHIP_FIELDS}
        if custom:
            update["customFields"] = custom
        if _consent_changes(current, desired):
            update["consentDate"], update["consentProof"] = desired["consentDate"], desired["consentProof"]
        if update:
            update["email"] = email
            changes.updates.append(update)
        else:
            changes.unchanged += 1

    current_titles: dict[str, set[str]] = {
        email: {group_titles_by_id.get(str(g), "") for g in (m.get("groups") or [])}
        for email, m in by_email.items()}
    adds: dict[str, list[str]] = defaultdict(list)
    for email in sorted(writable):
        if CLIENTS_GROUP not in current_titles.get(email, set()):
            adds[CLIENTS_GROUP].append(email)
    for title, email in memberships[["group_title", "email"]].itertuples(index=False):
        if email in writable and title not in current_titles.get(email, set()):
            adds[title].append(email)
    changes.group_adds = dict(adds)
    return changes
