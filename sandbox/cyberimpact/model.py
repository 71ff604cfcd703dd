"""Cyberimpact emulator, part 1: constants, errors and input validation shared by state and routes.

Everything here is pure (no state): the rules follow docs/contracts.md, section "Cyberimpact REST API".
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from typing import Any

DEFAULT_TOKEN = "sandbox-cyberimpact-token"
EMPTY = "__EMPTY__"  # batch addMembers: clears a field
MAX_LIMIT = 10_000
MAX_BATCH = 10_000
DEFAULT_LIMIT = 20

PLANS = ("basic", "plus", "pro")
FIELD_TYPES = ("text", "date", "integer", "decimal")
MEMBER_STATUSES = ("active", "unsubscribed")
BATCH_TYPES = ("addMembers", "unsubscribe", "deleteMembers")
GENDERS = ("m", "f", "o")
RELATION_TYPES = (
    "express-consent", "active-clients", "information-request", "business-card", "web-contacts",
    "purchased-list", "contest-participants", "mixed-list", "association-members", "employees", "partners",
    "inactive-clients",
)
# Months of validity of an implied consent; absent = no expiry. express-consent never expires.
CONSENT_MONTHS = {"active-clients": 24, "information-request": 6}

# Plain string fields of a member that clients may write (email is handled apart).
TEXT_FIELDS = ("firstname", "lastname", "company", "language", "postalCode", "note")
CHECKED_FIELDS = ("gender", "birthdate", "country")
WRITABLE_FIELDS = TEXT_FIELDS + CHECKED_FIELDS
CONSENT_FIELDS = ("consentType", "relationType", "consentDate", "consentExpiration", "consentProof")
MEMBER_KEYS = ("id", "email", *TEXT_FIELDS[:3], "gender", "language", "birthdate", "postalCode", "country",
               "note", "joinedOn", "updatedOn", *CONSENT_FIELDS, "status", "customFields", "groups")

_EMAIL_RE = re.compile(r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_DEC_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")


class ApiError(Exception):
    """An error answered as `{"message": ..., "errors": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errors": self.errors}


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "The given data was invalid.", {field: [message]})


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found.")


class FieldError(ValueError):
    """One invalid input field (becomes a 422 on single calls, a failure line in batches)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def api(self) -> ApiError:
        return invalid(self.field, self.message)


# --- clock -----------------------------------------------------------------------------------------------

def now_stamp() -> str:
    """Current UTC time as Cyberimpact prints it: "YYYY-MM-DD HH:MM:SS"."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def add_months(day: str, months: int) -> str:
    d = date.fromisoformat(day)
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1])).isoformat()


# --- scalar checks ---------------------------------------------------------------------------------------

def is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_stamp(value: Any) -> bool:
    if not isinstance(value, str) or not _STAMP_RE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def normalise_email(value: Any) -> str:
    """Lower-cased, stripped e-mail; FieldError("email") when it is not an address."""
    if not isinstance(value, str) or not _EMAIL_RE.match(value.strip()) or len(value) > 255:
        raise FieldError("email", "The email must be a valid email address.")
    return value.strip().lower()


def check_field(name: str, value: Any) -> str:
    """Validate one writable member field (not email); "" and None mean empty. Returns the stored value."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(name, f"The {name} must be a string.")
    value = str(value).strip()
    if value == "":
        return ""
    if name == "gender":
        if value.lower() not in GENDERS:
            raise FieldError(name, "The selected gender is invalid (m, f or o).")
        return value.lower()
    if name == "birthdate":
        if not is_date(value):
            raise FieldError(name, "The birthdate does not match the format Y-m-d.")
        return value
    if name == "country":
        if not _COUNTRY_RE.match(value):
            raise FieldError(name, "The country must be an ISO 3166-1 alpha-2 code.")
        return value.upper()
    if len(value) > 65535 or (name != "note" and len(value) > 255):
        raise FieldError(name, f"The {name} may not be greater than 255 characters.")
    return value


def coerce_custom(field_id: str, ftype: str, value: Any) -> str | int | float:
    """Validate a non-empty custom field value against its type and return its stored form.

    Stored forms: text → str, date → "YYYY-MM-DD", integer → int, decimal → float.
    """
    name = f"customFields.{field_id}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(name, f"The value of custom field {field_id} must be a {ftype}.")
    if ftype == "text":
        text = str(value)
        if len(text) > 65535:
            raise FieldError(name, "The value is too long.")
        return text
    text = str(value).strip()
    if ftype == "integer":
        if isinstance(value, float) and not value.is_integer() or not _INT_RE.match(text.removesuffix(".0")):
            raise FieldError(name, f"The value of custom field {field_id} must be an integer.")
        return int(text.removesuffix(".0"))
    if ftype == "decimal":
        if not _DEC_RE.match(text):
            raise FieldError(name, f"The value of custom field {field_id} must be a decimal number.")
        return float(text)
    if ftype == "date":
        if not is_date(text):
            raise FieldError(name, f"The value of custom field {field_id} does not match the format Y-m-d.")
        return text
    raise FieldError(name, f"unknown custom field type {ftype!r}")


def parse_ids(value: Any, field: str = "groups") -> list[int]:
    """Group ids given as CSV ("1,2,3"), a list, or one number."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list):
        items = value
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise FieldError(field, f"The {field} must be a comma-separated list of ids.")
    out: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str) or not _INT_RE.match(str(item).strip()):
            raise FieldError(field, f"The {field} must be a comma-separated list of ids.")
        out.append(int(item))
    return out


def consent_for(relation: str, consent_date: str | None, proof: str | None) -> dict[str, Any]:
    """The five consent fields for a relation type given on `consent_date` (Y-m-d)."""
    months = CONSENT_MONTHS.get(relation)
    return {
        "consentType": "express" if relation == "express-consent" else "implied",
        "relationType": relation,
        "consentDate": consent_date,
        "consentExpiration": add_months(consent_date, months) if months and consent_date else None,
        "consentProof": proof or None,
    }


def check_relation(value: Any, field: str = "relationType") -> str:
    if value not in RELATION_TYPES:
        raise FieldError(field, f"The selected {field} is invalid; one of: {', '.join(RELATION_TYPES)}.")
    return value


def check_optional_date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not is_date(value):
        raise FieldError(field, f"The {field} does not match the format Y-m-d.")
    return value


def check_optional_text(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError(field, f"The {field} must be a string.")
    return value


def blank_member(member_id: int, email: str, stamp: str) -> dict[str, Any]:
    m: dict[str, Any] = {k: "" for k in MEMBER_KEYS}
    m.update({"id": member_id, "email": email, "joinedOn": stamp, "updatedOn": stamp, "status": "active",
              "customFields": {}, "groups": []})
    for k in CONSENT_FIELDS:
        m[k] = None
    return m


def prepare_fields(custom_fields: dict[int, dict[str, Any]], body: dict[str, Any], batch: bool
                   ) -> tuple[dict[str, str], dict[str, Any], set[str]]:
    """Validate the writable fields of `body` → (fields, custom values to set, custom ids to clear).

    Single calls (batch=False): a given "" or null clears. Batches: "" / null / missing keep the current
    value and "__EMPTY__" clears.
    """
    fields: dict[str, str] = {}
    for name in WRITABLE_FIELDS:
        if name not in body:
            continue
        value = body[name]
        if batch and (value is None or value == ""):
            continue
        fields[name] = "" if batch and value == EMPTY else check_field(name, value)
    cf_set: dict[str, Any] = {}
    cf_clear: set[str] = set()
    custom = body.get("customFields")
    if custom is None:
        return fields, cf_set, cf_clear
    if not isinstance(custom, dict):
        raise FieldError("customFields", "The customFields must be an object keyed by field id.")
    for key, value in custom.items():
        skey = str(key).strip()
        field = custom_fields.get(int(skey)) if skey.isdigit() else None
        if field is None:
            raise FieldError(f"customFields.{key}", f"The custom field {key} does not exist.")
        skey = str(field["id"])
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if not batch:
                cf_clear.add(skey)
        elif batch and value == EMPTY:
            cf_clear.add(skey)
        else:
            cf_set[skey] = coerce_custom(skey, field["type"], value)
    return fields, cf_set, cf_clear


def apply_fields(m: dict[str, Any], fields: dict[str, str], cf_set: dict[str, Any],
                 cf_clear: set[str]) -> bool:
    """Write prepared changes into member `m`; True when something changed."""
    changed = False
    for name, value in fields.items():
        if m[name] != value:
            m[name] = value
            changed = True
    cf = m["customFields"]
    for key in cf_clear:
        if key in cf:
            del cf[key]
            changed = True
    for key, value in cf_set.items():
        if cf.get(key, None) != value or type(cf.get(key)) is not type(value):
            cf[key] = value
            changed = True
    return changed


def check_static_groups(groups: dict[int, dict[str, Any]], value: Any, field: str = "groups") -> list[int]:
    """Ids of existing static groups (CSV, list or one id); FieldError(field) otherwise."""
    ids = parse_ids(value, field)
    for gid in ids:
        g = groups.get(gid)
        if g is None:
            raise FieldError(field, f"The group {gid} does not exist.")
        if g["isDynamic"]:
            raise FieldError(field, f"The group {gid} is dynamic; its members are computed.")
    return ids


def flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise FieldError(field, f"The {field} field must be true or false.")


# --- dynamic group criteria ------------------------------------------------------------------------------

def check_criteria(criteria: Any, custom_fields: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Validate a dynamic group's criteria and return its normalised form (raises FieldError)."""
    if not isinstance(criteria, dict):
        raise FieldError("criteria", "The criteria must be an object with match and rules.")
    match = criteria.get("match", "all")
    if match not in ("all", "any"):
        raise FieldError("criteria.match", "The criteria.match must be all or any.")
    rules = criteria.get("rules")
    if not isinstance(rules, list) or not rules:
        raise FieldError("criteria.rules", "The criteria.rules must be a non-empty list.")
    out = []
    for i, rule in enumerate(rules):
        where = f"criteria.rules.{i}"
        if not isinstance(rule, dict):
            raise FieldError(where, "Each rule must be an object.")
        value = rule.get("value")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldError(f"{where}.value", "The rule value must be a string.")
        field = rule.get("field")
        if field == "groupTitle":
            if rule.get("operator") != "contains":
                raise FieldError(f"{where}.operator", "groupTitle rules support the operator contains.")
            out.append({"field": "groupTitle", "operator": "contains", "value": str(value)})
        elif field == "customField":
            if rule.get("operator") != "equals":
                raise FieldError(f"{where}.operator", "customField rules support the operator equals.")
            cf = rule.get("customFieldId")
            if isinstance(cf, bool) or not _INT_RE.match(str(cf)) or int(str(cf)) not in custom_fields:
                raise FieldError(f"{where}.customFieldId", "The customFieldId is not a custom field.")
            out.append({"field": "customField", "customFieldId": str(int(str(cf))), "operator": "equals",
                        "value": str(value)})
        else:
            raise FieldError(f"{where}.field", "The rule field must be groupTitle or customField.")
    return {"match": match, "rules": out}


def canonical(value: Any) -> str:
    """Comparison key of a custom field value for `equals` (case-insensitive; 3 == 3.0 == "3")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if _DEC_RE.match(text):
        try:
            num = float(text)
            return str(int(num)) if num.is_integer() else repr(num)
        except ValueError:
            pass
    return text.casefold()
