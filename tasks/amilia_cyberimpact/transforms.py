"""Pure pandas transforms of the Amilia → Cyberimpact sync (no Prefect, no HTTP).

Amilia records (lists of dicts with Amilia's field names) come in; frames of contacts, group memberships
and skipped persons come out. Each rule names the seed sentence it implements
(`../shared/seeds/cyberimpact-amilia-sync.txt`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from dateutil.relativedelta import relativedelta

from tasks.amilia_cyberimpact.mapping import GENDERS, group_title

# Why a person did not become a contact of their own.
REASON_NO_EMAIL = "no e-mail in Amilia"
REASON_CHILD = "child: only the account owner is added"
REASON_SAME_EMAIL = "same e-mail as the account owner"

PERSON_COLUMNS = [
    "person_id", "account_id", "firstname", "lastname", "email", "gender", "birthdate", "is_child",
    "city", "province", "country", "postalCode", "telephone", "mobile", "skills", "external_id",
    "person_archived", "join_date",
]
ENROLMENT_COLUMNS = [
    "kind", "person_id", "account_id", "owner_person_id", "activity_title", "program", "category",
    "subcategory", "date", "proof", "membership_name", "purchased_date", "effective_date",
    "expiration_date",
]


def window_start(today: date, months: int) -> date:
    """First day of the import window: registrations "effectuées dans les derniers 24 derniers mois"."""
    return today - relativedelta(months=months)


def _day(value: Any) -> str | None:
    """Amilia date or datetime string → 'YYYY-MM-DD' (None when empty)."""
    if value in (None, ""):
        return None
    return str(value)[:10]


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _email(value: Any) -> str | None:
    text = _clean(value)
    return text.lower() if text and "@" in text else None


def persons_frame(persons: list[dict]) -> pd.DataFrame:
    """Amilia persons → one row per person, in Cyberimpact's vocabulary."""
    rows = []
    for p in persons:
        address = p.get("Address") or {}
        skills = p.get("Skills") or []
        rows.append((
            int(p["Id"]), p.get("AccountId"), _clean(p.get("FirstName")), _clean(p.get("LastName")),
            _email(p.get("Email")), GENDERS.get(str(p.get("Gender") or "").strip().lower()),
            _day(p.get("DateOfBirth")), bool(p.get("IsChild")), _clean(address.get("City")),
            _clean(address.get("StateProvince")), _clean(address.get("Country")),
            _clean(address.get("PostalCode")), _clean(p.get("Telephone")), _clean(p.get("TelephoneMobile")),
            ", ".join(str(s.get("Name") if isinstance(s, dict) else s).strip() for s in skills) or None,
            _clean(p.get("ExternalId")), bool(p.get("IsArchived")), _day(p.get("DateCreated")),
        ))
    frame = pd.DataFrame.from_records(rows, columns=PERSON_COLUMNS)
    frame["account_id"] = frame["account_id"].astype("Int64")
    return frame.drop_duplicates("person_id", keep="last").set_index("person_id", drop=False)


def accounts_frame(accounts: list[dict]) -> pd.DataFrame:
    """Amilia accounts → account id, owner person id, archived flag."""
    rows = []
    for a in accounts:
        owners = a.get("Owners") or []
        owner = owners[0].get("AccountOwnerId") if owners else a.get("OwnerPersonId")
        rows.append((int(a["Id"]), owner, bool(a.get("IsArchived"))))
    frame = pd.DataFrame.from_records(rows, columns=["account_id", "owner_person_id", "account_archived"])
    frame["owner_person_id"] = frame["owner_person_id"].astype("Int64")
    return frame.set_index("account_id", drop=False)


def _name(obj: Any) -> str | None:
    return _clean(obj.get("Name")) if isinstance(obj, dict) else None


def registration_row(r: dict) -> tuple:
    """The fields of an Amilia registration the sync reads, as a compact row.

    Used as the connector's per-page projection, so a 24-month extract never holds every full
    registration (nested Program/Category/… objects) at once. Names are interned: thousands of
    registrations share a few hundred activity names.
    """
    person, owner = r.get("Person") or {}, r.get("AccountOwner") or {}
    program, category, subcategory, activity = (
        _intern(_name(r.get(k))) for k in ("Program", "Category", "SubCategory", "Activity"))
    return (bool(r.get("IsCancelled")), str(r.get("DateCreated") or "")[:19], person.get("Id"),
            owner.get("AccountId"), owner.get("Id"), program, category, subcategory, activity,
            str(r.get("RegistrationId") or r.get("Id")), r.get("Id"), (r.get("Activity") or {}).get("Id"))


def registration_facts(rows: list[tuple]) -> list[dict[str, Any]]:
    """:func:`registration_row` rows → the facts the store keeps to resolve a Delete that carries only an Id
    (passerelle/store/registrations.py)."""
    return [{"registration_id": str(rid), "number": proof, "date_created": created or None, "person_id": person,
             "account_id": account, "owner_person_id": owner, "activity_id": activity_id, "program": program,
             "category": category, "subcategory": subcategory, "activity": activity}
            for _, created, person, account, owner, program, category, subcategory, activity, proof, rid,
            activity_id in rows if rid is not None and person is not None and activity]


def _intern(text: str | None) -> str | None:
    return sys.intern(text) if text else text


def enrolments_frame(registrations: list[dict | tuple], membership_persons: list[dict], *, since: date,
                     until: date) -> pd.DataFrame:
    """Registrations (activities, drop-ins, passes) and active memberships → one row per enrolment.

    `registrations` are API records or rows already made by :func:`registration_row`.

    Seed: "nous récupérons toutes les inscriptions d'activité effectuées dans les derniers 24 derniers
    mois, ainsi que tous les contacts ayant un abonnement actif." Cancelled registrations are not
    enrolments ("En cas de désinscription, nous retirerons … des groupes"). Drop-ins count like any
    registration ("sera également ajoutée aux groupes des activités auxquelles ils participent").
    """
    since_s, until_s = since.isoformat(), until.isoformat()
    rows = []
    for r in registrations:
        cancelled, created, person_id, account_id, owner_id, program, category, subcategory, activity, \
            proof = (r if isinstance(r, tuple) else registration_row(r))[:10]
        if cancelled or not created or not (since_s <= created[:10] <= until_s):
            continue
        rows.append(("activity", person_id, account_id, owner_id,
                     group_title(program, category, subcategory, activity),
                     program, category, subcategory, created, proof, None, None, None, None))
    for m in membership_persons:
        if m.get("Status", "Active") != "Active":
            continue
        name = _clean(m.get("MembershipName"))
        rows.append(("membership", m.get("PersonId"), m.get("AccountId"), None, None, None, None, None,
                     str(m.get("PurchasedDate"))[:19], name, name, _day(m.get("PurchasedDate")),
                     _day(m.get("EffectiveDate")), _day(m.get("ExpirationDate"))))
    frame = pd.DataFrame.from_records(rows, columns=ENROLMENT_COLUMNS)
    for column in ("person_id", "account_id", "owner_person_id"):
        frame[column] = frame[column].astype("Int64")
    return frame


@dataclass
class ContactPlan:
    """What Cyberimpact should hold after the sync, before comparing with what it holds now."""

    contacts: pd.DataFrame      # one row per e-mail: fields, consent, archived flag, groups
    memberships: pd.DataFrame   # (email, group_title, kind) for static activity/membership groups
    skipped: pd.DataFrame       # (person_id, email, reason) for persons who are not a contact of their own
    activity_titles: list[str]  # static activity groups to exist
    membership_titles: list[str]  # static membership groups to exist
    hierarchy_titles: list[str]  # program / category / subcategory dynamic groups to exist


def _hierarchy_titles(enrolments: pd.DataFrame) -> list[str]:
    titles: set[str] = set()
    acts = enrolments[enrolments["kind"] == "activity"]
    for program, category, subcategory in acts[["program", "category", "subcategory"]].drop_duplicates() \
            .itertuples(index=False):
        levels = [lvl for lvl in (program, category, subcategory) if isinstance(lvl, str) and lvl]
        for depth in range(1, len(levels) + 1):
            titles.add(group_title(*levels[:depth]))
    return sorted(titles)


def _flag(values: pd.Series) -> pd.Series:
    """A flag looked up by id, as bool; an id the frame lacks (a person or account not read) is False."""
    return values.astype("object").fillna(False).astype(bool)


def _archived_row(kept: pd.DataFrame, persons: pd.DataFrame, accounts: pd.DataFrame) -> pd.Series:
    """Per (enrolment, person) row: the person is archived, or their account, or the enrolment's account is.

    Seed: "Les adresses courriel des personnes et du propriétaire du compte archivé seront retirées des
    groupes d'activités et d'abonnements correspondants."
    """
    archived_account = accounts["account_archived"]
    person_account = kept["source_person_id"].map(persons["account_id"])
    return (_flag(kept["source_person_id"].map(persons["person_archived"]))
            | _flag(person_account.map(archived_account))
            | _flag(kept["account_id"].map(archived_account)))


def live_persons(persons: pd.DataFrame, accounts: pd.DataFrame) -> pd.Series:
    """Persons who would be a contact of their own and are live: an e-mail, not a child unless the account's
    owner, not archived, in an account that is not archived."""
    owner = persons["person_id"].isin(set(accounts["owner_person_id"].dropna().astype(int)))
    live_account = ~_flag(persons["account_id"].map(accounts["account_archived"]))
    return persons["email"].notna() & (~persons["is_child"] | owner) & ~persons["person_archived"] & live_account


def _live_persons_behind(kept: pd.DataFrame, persons: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Live persons sharing the e-mail of a planned contact without being one of its sources (no enrolment):
    the contact is theirs too, so it is not archived while they are live."""
    live = persons[live_persons(persons, accounts) & persons["email"].isin(set(kept["email"]))
                   & ~persons["person_id"].isin(set(kept["source_person_id"]))]
    owner = live["person_id"].isin(set(accounts["owner_person_id"].dropna().astype(int)))
    return pd.DataFrame({"email": live["email"].to_numpy(), "source_person_id": live["person_id"].to_numpy(),
                         "archived": False, "role_rank": (~owner).astype(int).to_numpy(), "date": ""})


def plan_contacts(persons: pd.DataFrame, accounts: pd.DataFrame, enrolments: pd.DataFrame) -> ContactPlan:
    """Decide who becomes a contact, with which fields, groups and consent.

    Seed rules:
    - "Pour être ajouté dans votre compte Cyberimpact, le contact doit posséder une adresse courriel."
    - "Nous importerons l'adresse courriel du propriétaire du compte Amilia qui a effectué l'inscription
      …, ainsi que celle de la personne inscrite (uniquement si différente de la première)."
    - "si la personne inscrite est identifiée comme un "enfant" dans Amilia, seules l'adresse et les
      informations du propriétaire du compte … seront ajoutées."
    - "Les adresses courriel des personnes et du propriétaire du compte archivé seront retirées des groupes
      d'activités et d'abonnements correspondants. Elles demeureront dans la liste générale de vos clients
      Amilia": an enrolment gives its groups only to the persons of it who are live (the person and their
      account not archived, nor the enrolment's account). A contact is archived (Amilia.IsArchived = True)
      when no live person is behind its e-mail; one shared with a live person stays live, with the groups
      the live persons give and none of the groups only archived persons or accounts give.
    - Consent date = latest registration creation or membership purchase date; proof = that
      registration's number or that membership's name.
    """
    enr = enrolments.copy()
    owner_of_account = accounts["owner_person_id"]
    from_account = enr["account_id"].map(owner_of_account).astype("Int64")
    enr["owner_person_id"] = from_account.fillna(enr["owner_person_id"])
    missing_account = enr["account_id"].isna()
    enr.loc[missing_account, "account_id"] = enr.loc[missing_account, "person_id"].map(persons["account_id"])
    enr["enrolment"] = range(len(enr))

    email_of = persons["email"]
    child_of = persons["is_child"]
    owners = enr[["enrolment", "owner_person_id"]].rename(columns={"owner_person_id": "source_person_id"})
    owners["role"] = "owner"
    registered = enr[["enrolment", "person_id", "owner_person_id"]].rename(
        columns={"person_id": "source_person_id"})
    registered = registered[registered["source_person_id"] != registered["owner_person_id"]]
    registered["role"] = "registered"
    reg_email = registered["source_person_id"].map(email_of)
    own_email = registered["owner_person_id"].map(email_of)
    reason = pd.Series(None, index=registered.index, dtype="object")
    reason[_flag(registered["source_person_id"].map(child_of))] = REASON_CHILD
    reason[reason.isna() & reg_email.isna()] = REASON_NO_EMAIL
    reason[reason.isna() & (reg_email == own_email).fillna(False)] = REASON_SAME_EMAIL
    registered["reason"] = reason
    owners["reason"] = owners["source_person_id"].map(email_of).isna().map(
        {True: REASON_NO_EMAIL, False: None})

    sources = pd.concat([owners, registered.drop(columns="owner_person_id")], ignore_index=True)
    sources = sources[sources["source_person_id"].notna()]
    kept = sources[sources["reason"].isna()].copy()
    included_persons = set(kept["source_person_id"].astype(int))
    skipped = (sources[sources["reason"].notna() & ~sources["source_person_id"].isin(included_persons)]
               .drop_duplicates("source_person_id")[["source_person_id", "reason"]]
               .rename(columns={"source_person_id": "person_id"}))
    skipped["email"] = skipped["person_id"].map(email_of)
    skipped = skipped[["person_id", "email", "reason"]].reset_index(drop=True)

    kept = kept.merge(enr, on="enrolment", how="left", suffixes=("", "_enr"))
    kept["source_person_id"] = kept["source_person_id"].astype(int)
    kept["email"] = kept["source_person_id"].map(email_of)
    kept["archived"] = _archived_row(kept, persons, accounts)
    kept["role_rank"] = (kept["role"] != "owner").astype(int)

    # Representative person per e-mail: not archived first, owner first, latest enrolment, lowest id. A live
    # person sharing the e-mail of a contact without enrolling is a candidate too (no enrolment: after the
    # ones of the same rank that have one).
    candidates = pd.concat([kept[["email", "source_person_id", "archived", "role_rank", "date"]],
                            _live_persons_behind(kept, persons, accounts)], ignore_index=True)
    ordered = candidates.sort_values(["email", "archived", "role_rank", "date", "source_person_id"],
                                     ascending=[True, True, True, False, True], kind="stable")
    representative = ordered.drop_duplicates("email")[["email", "source_person_id", "archived"]]
    # Consent: the latest enrolment; on the same instant, the proof sorting last (see docs/amilia-sync.md).
    latest = kept.sort_values(["date", "proof"], kind="stable").drop_duplicates("email", keep="last")[
        ["email", "date", "proof"]]
    membership_rows = kept[kept["kind"] == "membership"].sort_values(
        ["purchased_date", "date", "membership_name"], kind="stable").drop_duplicates("email", keep="last")[
        ["email", "membership_name", "purchased_date", "effective_date", "expiration_date"]]

    contacts = representative.merge(latest, on="email").merge(membership_rows, on="email", how="left")
    p = persons.loc[contacts["source_person_id"]].reset_index(drop=True)
    out = pd.DataFrame({
        "email": contacts["email"].to_numpy(),
        "firstname": p["firstname"].to_numpy(), "lastname": p["lastname"].to_numpy(),
        "gender": p["gender"].to_numpy(), "birthdate": p["birthdate"].to_numpy(),
        "country": p["country"].to_numpy(), "postalCode": p["postalCode"].to_numpy(),
        "Amilia.Address.City": p["city"].to_numpy(),
        "Amilia.Address.StateProvince": p["province"].to_numpy(),
        "Amilia.AccountId": p["account_id"].to_numpy(),
        "Amilia.PersonId": p["person_id"].to_numpy(),
        "Amilia.IsArchived": contacts["archived"].map({True: "True", False: "False"}).to_numpy(),
        "Amilia.Skills": p["skills"].to_numpy(),
        "Amilia.JoinDate": p["join_date"].to_numpy(),
        "Amilia.Membership.Name": contacts["membership_name"].to_numpy(),
        "Amilia.Membership.PurchasedDate": contacts["purchased_date"].to_numpy(),
        "Amilia.Membership.EffectiveDate": contacts["effective_date"].to_numpy(),
        "Amilia.Membership.ExpirationDate": contacts["expiration_date"].to_numpy(),
        "Amilia.ExternalId": p["external_id"].to_numpy(),
        "Amilia.Telephone": p["telephone"].to_numpy(),
        "Amilia.TelephoneMobile": p["mobile"].to_numpy(),
        "consent_date": contacts["date"].str[:10].to_numpy(),
        "consent_proof": contacts["proof"].to_numpy(),
        "archived": contacts["archived"].to_numpy(),
    }).sort_values("email").reset_index(drop=True)

    # Groups per enrolment, not per contact: an enrolment of an archived person or account gives none, even
    # when a live person shares the e-mail (that contact keeps only what its live persons give).
    active = kept[~kept["archived"]]
    memberships = pd.concat([
        active.loc[active["kind"] == "activity", ["email", "activity_title"]]
        .rename(columns={"activity_title": "group_title"}).assign(kind="activity"),
        active.loc[active["kind"] == "membership", ["email", "membership_name"]]
        .rename(columns={"membership_name": "group_title"}).assign(kind="membership"),
    ], ignore_index=True).dropna(subset=["group_title"]).drop_duplicates(["email", "group_title"])
    memberships = memberships.sort_values(["group_title", "email"]).reset_index(drop=True)

    acts = enr[enr["kind"] == "activity"]
    return ContactPlan(
        contacts=out,
        memberships=memberships,
        skipped=skipped,
        activity_titles=sorted(set(acts["activity_title"].dropna())),
        membership_titles=sorted(set(enr.loc[enr["kind"] == "membership", "membership_name"].dropna())),
        hierarchy_titles=_hierarchy_titles(enr),
    )
