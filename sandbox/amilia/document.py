"""The Amilia emulator's state document: its format, validation and normalisation.

`normalise(document)` checks every item's fields (types, required keys, allowed values, no unknown keys)
and returns the sections with defaults filled in; errors are ValueError naming the section, the index and
the id of the bad item. Cross-references (a registration's person, an account's owner...) are checked
when `sandbox.amilia.state.AmiliaData` indexes the result. The format is in docs/sandbox-amilia.md.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

DEFAULT_ORGANIZATION = {"Id": 8008, "Name": "Centre récréatif Passerelle", "RewriteUrl": "centre-passerelle"}
DEFAULT_CREDENTIALS = [{"username": "demo@passerelle.dev", "password": "demo-password"}]

GENDERS = ("Male", "Female", "Other")
MEMBERSHIP_TYPES = ("Individual", "Family")
REGISTRATION_PREFIXES = ("SUB-", "DI-", "PL-")
ADDRESS_KEYS = ("Address1", "City", "StateProvince", "Country", "PostalCode")
SECTIONS = ("organization", "credentials", "today", "persons", "accounts", "programs", "activities",
            "registrations", "memberships", "membershipPersons")

_MISSING = object()


def default_document() -> dict[str, Any]:
    """The state after a reset: the demo organisation, its credentials, no data, the real clock."""
    return {"organization": dict(DEFAULT_ORGANIZATION), "credentials": [dict(c) for c in DEFAULT_CREDENTIALS],
            "today": None, "persons": [], "accounts": [], "programs": [], "activities": [],
            "registrations": [], "memberships": [], "membershipPersons": []}


# --------------------------------------------------------------------------------------------------
# Field readers: every error names the section, the index and the id of the bad item.


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(v: Any) -> date | None:
    """A strict `YYYY-MM-DD` date, or None."""
    if not isinstance(v, str) or not _DATE_RE.fullmatch(v):
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        return None


def _norm_date(v: Any) -> str | None:
    d = parse_date(v)
    return d.isoformat() if d else None


def _norm_datetime(v: Any) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS` (a bare date gets `T00:00:00`; fractions of a second are dropped)."""
    if not isinstance(v, str) or not _DATE_RE.match(v):
        return None
    try:
        return datetime.fromisoformat(v).isoformat(timespec="seconds")
    except ValueError:
        return None


class _Item:
    """Typed access to one object of the document; raises ValueError naming the item."""

    def __init__(self, section: str, index: int | None, raw: Any, allowed: tuple[str, ...]) -> None:
        where = section if index is None else f"{section}[{index}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
        if "Id" in raw:
            where += f" (Id {raw['Id']!r})"
        self.where, self.raw = where, raw
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            self.fail(f"unknown field(s) {unknown}; allowed: {list(allowed)}")

    def fail(self, message: str) -> None:
        raise ValueError(f"{self.where}: {message}")

    def _get(self, key: str, kind: str, default: Any, nullable: bool, convert) -> Any:
        if key not in self.raw:
            if default is _MISSING:
                self.fail(f"{key} is required")
            return default
        value = self.raw[key]
        if value is None:
            if not nullable:
                self.fail(f"{key} must be {kind}, not null")
            return None
        out = convert(value)
        if out is None:
            self.fail(f"{key} must be {kind}, got {value!r}")
        return out

    def int(self, key: str, default: Any = _MISSING, nullable: bool = False) -> Any:
        return self._get(key, "an integer", default, nullable, lambda v: v if _is_int(v) else None)

    def str(self, key: str, default: Any = _MISSING, nullable: bool = False) -> Any:
        return self._get(key, "a string", default, nullable, lambda v: v if isinstance(v, str) else None)

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, "true or false", default, False, lambda v: v if isinstance(v, bool) else None)

    def number(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, "a number", default, False,
                         lambda v: v if isinstance(v, int | float) and not isinstance(v, bool) else None)

    def date(self, key: str, default: Any = _MISSING, nullable: bool = False) -> Any:
        return self._get(key, "a date YYYY-MM-DD", default, nullable, _norm_date)

    def datetime(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, "a date-time YYYY-MM-DDTHH:MM:SS", default, False, _norm_datetime)


def _section(document: dict[str, Any], name: str) -> list[Any]:
    value = document.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name}: expected a list, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------------------
# Normalisers, one per kind of item.

PERSON_KEYS = ("Id", "AccountId", "FirstName", "LastName", "Email", "Gender", "DateOfBirth", "IsChild",
               "Address", "Telephone", "TelephoneMobile", "Skills", "ExternalId", "IsArchived", "DateCreated")
ACCOUNT_KEYS = ("Id", "IsArchived", "Corporate", "DateCreated", "OwnerPersonId", "MemberPersonIds")
PROGRAM_KEYS = ("Id", "Name", "IsArchived")
ACTIVITY_KEYS = ("Id", "Name", "ProgramId", "CategoryId", "CategoryName", "SubCategoryId", "SubCategoryName",
                 "EndDate")
REGISTRATION_KEYS = ("Id", "RegistrationId", "ActivityId", "PersonId", "AccountId", "DateCreated",
                     "IsCancelled", "DropInDate")
MEMBERSHIP_KEYS = ("Id", "Name", "Description", "Price", "Position", "IsArchived", "IsVisible", "DateCreated",
                   "MembershipType")
MEMBERSHIP_PERSON_KEYS = ("MembershipId", "PersonId", "AccountId", "PurchasedDate", "EffectiveDate",
                          "ExpirationDate")


def _person(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("persons", i, raw, PERSON_KEYS)
    gender = it.str("Gender", None, nullable=True)
    if gender is not None and gender not in GENDERS:
        it.fail(f"Gender must be one of {list(GENDERS)} or null, got {gender!r}")
    address_raw = raw.get("Address")
    address = dict.fromkeys(ADDRESS_KEYS)
    if address_raw is not None:
        a = _Item(f"{it.where}.Address", None, address_raw, ADDRESS_KEYS)
        address = {k: a.str(k, None, nullable=True) for k in ADDRESS_KEYS}
    skills = []
    skills_raw = raw.get("Skills") or []
    if not isinstance(skills_raw, list):
        it.fail("Skills must be a list")
    for j, s in enumerate(skills_raw):
        sk = _Item(f"{it.where}.Skills", j, s, ("Id", "Name"))
        skills.append({"Id": sk.int("Id"), "Name": sk.str("Name")})
    return {
        "Id": it.int("Id"), "AccountId": it.int("AccountId"),
        "FirstName": it.str("FirstName"), "LastName": it.str("LastName"),
        "Email": it.str("Email", None, nullable=True), "Gender": gender,
        "DateOfBirth": it.date("DateOfBirth", None, nullable=True), "IsChild": it.bool("IsChild", False),
        "Address": address,
        "Telephone": it.str("Telephone", None, nullable=True),
        "TelephoneMobile": it.str("TelephoneMobile", None, nullable=True),
        "Skills": skills, "ExternalId": it.str("ExternalId", None, nullable=True),
        "IsArchived": it.bool("IsArchived", False), "DateCreated": it.datetime("DateCreated"),
    }


def _account(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("accounts", i, raw, ACCOUNT_KEYS)
    members = raw.get("MemberPersonIds", [])
    if not isinstance(members, list) or not all(_is_int(m) for m in members):
        it.fail("MemberPersonIds must be a list of person ids")
    if len(set(members)) != len(members):
        it.fail("MemberPersonIds lists a person twice")
    return {"Id": it.int("Id"), "IsArchived": it.bool("IsArchived", False),
            "Corporate": it.bool("Corporate", False), "DateCreated": it.datetime("DateCreated"),
            "OwnerPersonId": it.int("OwnerPersonId"), "MemberPersonIds": list(members)}


def _program(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("programs", i, raw, PROGRAM_KEYS)
    return {"Id": it.int("Id"), "Name": it.str("Name"), "IsArchived": it.bool("IsArchived", False)}


def _activity(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("activities", i, raw, ACTIVITY_KEYS)
    return {"Id": it.int("Id"), "Name": it.str("Name"), "ProgramId": it.int("ProgramId"),
            "CategoryId": it.int("CategoryId", None, nullable=True),
            "CategoryName": it.str("CategoryName", None, nullable=True),
            "SubCategoryId": it.int("SubCategoryId", None, nullable=True),
            "SubCategoryName": it.str("SubCategoryName", None, nullable=True),
            "EndDate": it.date("EndDate", None, nullable=True)}


def _registration(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("registrations", i, raw, REGISTRATION_KEYS)
    out = {"Id": it.int("Id"), "RegistrationId": it.str("RegistrationId"), "ActivityId": it.int("ActivityId"),
           "PersonId": it.int("PersonId"), "AccountId": it.int("AccountId"),
           "DateCreated": it.datetime("DateCreated"), "IsCancelled": it.bool("IsCancelled", False),
           "DropInDate": it.date("DropInDate", None, nullable=True)}
    if not out["RegistrationId"].startswith(REGISTRATION_PREFIXES):
        it.fail(f"RegistrationId must start with one of {list(REGISTRATION_PREFIXES)}")
    if out["RegistrationId"].startswith("DI-") != (out["DropInDate"] is not None):
        it.fail("a drop-in (RegistrationId DI-...) has a DropInDate, and only a drop-in has one")
    return out


def _membership(i: int, raw: Any, org_id: int) -> dict[str, Any]:
    it = _Item("memberships", i, raw, (*MEMBERSHIP_KEYS, "OrganizationId"))
    if "OrganizationId" in raw and raw["OrganizationId"] != org_id:
        it.fail(f"OrganizationId {raw['OrganizationId']!r} is not the organisation's id {org_id}")
    out = {"Id": it.int("Id"), "Name": it.str("Name"),
           "Description": it.str("Description", None, nullable=True), "Price": it.number("Price", 0),
           "Position": it.int("Position", 0),
           "IsArchived": it.bool("IsArchived", False), "IsVisible": it.bool("IsVisible", True),
           "DateCreated": it.datetime("DateCreated"), "MembershipType": it.str("MembershipType")}
    if out["MembershipType"] not in MEMBERSHIP_TYPES:
        it.fail(f"MembershipType must be one of {list(MEMBERSHIP_TYPES)}")
    return out


def _membership_person(i: int, raw: Any) -> dict[str, Any]:
    it = _Item("membershipPersons", i, raw, MEMBERSHIP_PERSON_KEYS)
    out = {"MembershipId": it.int("MembershipId"), "PersonId": it.int("PersonId"),
           "AccountId": it.int("AccountId"), "PurchasedDate": it.datetime("PurchasedDate"),
           "EffectiveDate": it.date("EffectiveDate"),
           "ExpirationDate": it.date("ExpirationDate", None, nullable=True)}
    if out["ExpirationDate"] is not None and out["ExpirationDate"] < out["EffectiveDate"]:
        it.fail("ExpirationDate is before EffectiveDate")
    return out


def _organization(raw: Any) -> dict[str, Any]:
    it = _Item("organization", None, raw, ("Id", "Name", "RewriteUrl"))
    org = {"Id": it.int("Id"), "Name": it.str("Name"), "RewriteUrl": it.str("RewriteUrl")}
    if not org["RewriteUrl"] or org["RewriteUrl"].isdigit() or "/" in org["RewriteUrl"]:
        it.fail("RewriteUrl must be a non-numeric URL slug")
    return org


def _credentials(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise ValueError("credentials: expected a list")
    out = []
    for i, c in enumerate(raw):
        it = _Item("credentials", i, c, ("username", "password"))
        out.append({"username": it.str("username"), "password": it.str("password")})
    return out


def normalise(document: Any) -> dict[str, Any]:
    """The document with every item validated and normalised (references are not checked here)."""
    if not isinstance(document, dict):
        raise ValueError("the Amilia state document must be a JSON object")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; allowed: {list(SECTIONS)}")
    org = _organization(document.get("organization", DEFAULT_ORGANIZATION))
    today = document.get("today")
    if today is not None and _norm_date(today) is None:
        raise ValueError(f"today must be a date YYYY-MM-DD or null, got {today!r}")

    def each(name: str, parse) -> list[dict[str, Any]]:
        return [parse(i, x) for i, x in enumerate(_section(document, name))]

    return {"organization": org,
            "credentials": _credentials(document.get("credentials", DEFAULT_CREDENTIALS)),
            "today": _norm_date(today), "persons": each("persons", _person),
            "accounts": each("accounts", _account),
            "programs": each("programs", _program), "activities": each("activities", _activity),
            "registrations": each("registrations", _registration),
            "memberships": each("memberships", lambda i, x: _membership(i, x, org["Id"])),
            "membershipPersons": each("membershipPersons", _membership_person)}
