"""The pure diff's inputs, hand-built: a planned contact row, the member Cyberimpact holds for it, and `diff`
over them with fixed custom-field ids and groups (tasks/amilia_cyberimpact/diff.py; no Prefect, no HTTP)."""

from __future__ import annotations

import pandas as pd

from tasks.amilia_cyberimpact.diff import diff_contacts, planned_member
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP, CUSTOM_FIELD_NAMES
from tests.support.amilia_org import BALLET

FIELD_IDS = {name: str(i) for i, name in enumerate(CUSTOM_FIELD_NAMES, start=1)}
NAMES_BY_ID = {v: k for k, v in FIELD_IDS.items()}
GROUPS = {"1": CLIENTS_GROUP, "2": BALLET}


def planned(email: str, **over) -> dict:
    """A planned contact row of an address (Léa Roy, consent from SUB-9); `over` replaces its columns."""
    row = {"email": email, "firstname": "Léa", "lastname": "Roy", "gender": "f", "birthdate": "1986-04-02",
           "country": "CA", "postalCode": "H2X 1Y4", "consent_date": "2026-10-01", "consent_proof": "SUB-9"}
    row.update({name: None for name in CUSTOM_FIELD_NAMES})
    row.update({"Amilia.PersonId": 501, "Amilia.IsArchived": "False", "Amilia.Address.City": "Montréal"})
    row.update(over)
    return row


def as_member(row: dict, groups=("1", "2"), **over) -> dict:
    """The member Cyberimpact holds once a planned row is written (custom fields by id, in `groups` of GROUPS);
    `over` replaces its keys."""
    m = planned_member(row)
    member = {k: v for k, v in m.items() if k not in ("customFields", "consentDate", "consentProof")}
    member.update({"customFields": {FIELD_IDS[k]: v for k, v in m["customFields"].items()},
                   "relationType": "active-clients", "consentType": "implied",
                   "consentDate": m["consentDate"], "consentProof": m["consentProof"],
                   "status": "active", "groups": list(groups)})
    member.update(over)
    return member


def diff(rows, existing, unsubscribed=frozenset(), memberships=None):
    """`diff_contacts` of planned rows against the members Cyberimpact holds; each row in the ballet group
    unless `memberships` says otherwise."""
    contacts = pd.DataFrame(rows)
    if memberships is None:
        memberships = pd.DataFrame([{"email": r["email"], "group_title": GROUPS["2"], "kind": "activity"}
                                    for r in rows])
    return diff_contacts(contacts, memberships, existing, set(unsubscribed), NAMES_BY_ID, GROUPS)
