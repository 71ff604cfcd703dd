"""noCRM.io: the account rule, the checks shared by the inputs, and typed views of the answers.

The simplified API (docs/connector-nocrm.md) takes every value in the query string of a GET; these helpers
check each one before anything is sent, naming the field and the fix. The views keep every field noCRM sends
(``extra="allow"``) and type the few a zap reads.

Example:
    >>> nocrm_account("https://Acme.nocrm.io/")
    'acme'
    >>> tag_list(" ProductA, ProductB ,ProductA")
    ['ProductA', 'ProductB']
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

ACCOUNT_FORM = "your noCRM subdomain, e.g. 'acme' for https://acme.nocrm.io"
LEAD_STATUSES = ("todo", "standby", "won", "lost", "cancelled")
MAX_STANDBY_DAYS = 3650  # our bound: ten years; a bigger number is a typo (a date, an id)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


def nocrm_account(value: str) -> str:
    """The account's subdomain (``acme``) from what a person typed: ``acme``, ``acme.nocrm.io`` or
    ``https://acme.nocrm.io/``. Anything else (another host, a path, spaces) raises a ``ValueError`` naming
    ``account`` and the form expected."""
    text = (value or "").strip().lower()
    bare = re.sub(r"^https://", "", text).rstrip("/")
    bare = bare.removesuffix(".nocrm.io")
    if _LABEL.fullmatch(bare):
        return bare
    raise ValueError(f"account must be {ACCOUNT_FORM}; got {value!r}")


def positive_id(value: Any, field: str, what: str, example: int = 23) -> int:
    """A noCRM id (a whole number ≥ 1) from an int or a text of digits ("145676" rendered by a template)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 1:
        shown = value if isinstance(value, int | float) or value is None else repr(str(value)[:40])
        raise ValueError(f"{field} must be the id of the {what} in noCRM, a whole number such as {example}; "
                         f"got {shown}")
    return value


def user_ref(value: Any, field: str) -> str:
    """A user as the simplified API takes it: a user id (digits) or the user's e-mail address."""
    text = str(value if value is not None else "").strip()
    if isinstance(value, bool) or not text:
        raise ValueError(f"{field} is required: give the user's id (e.g. 35) or e-mail address "
                         "(e.g. rana@xyzcorp.com)")
    if text.isdigit() and int(text) >= 1:
        return str(int(text))
    if _EMAIL.fullmatch(text):
        return text
    raise ValueError(f"{field} must be a noCRM user id (e.g. 35) or the user's e-mail address "
                     f"(e.g. rana@xyzcorp.com); got {text[:60]!r}")


def tag_list(value: Any, field: str = "tag") -> list[str]:
    """Tags from a comma-separated text (``"tag1,tag2"``) or a list; trimmed, repeats dropped, order kept."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        parts = [p for v in value for p in v.split(",")]
    else:
        raise ValueError(f"{field} must be a tag name, several separated by commas ('tag1,tag2'), or a list of "
                         "tag names")
    tags: list[str] = []
    for part in (p.strip() for p in parts):
        if part and part not in tags:
            tags.append(part)
    if not tags:
        raise ValueError(f"{field} is empty: give at least one tag name, e.g. ProductA (several: 'tag1,tag2')")
    return tags


def amount_value(value: Any) -> Decimal | None:
    """The amount of a won lead (``155.34``; a comma as decimal separator is read too), or None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip().replace(",", ".") if isinstance(value, str) else str(value)
    try:
        amount = None if isinstance(value, bool) else Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ValueError(f"amount must be a number ≥ 0 such as 155.34 (or left out); got {str(value)[:40]!r}")
    return amount


def query_number(amount: Decimal) -> str:
    """A Decimal as the query string shows it: ``155.34``, ``1200`` (no exponent, no trailing zeros)."""
    return format(amount.normalize(), "f")


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class LeadUser(_View):
    id: int | None = None
    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None


class Lead(_View):
    """A lead as the simplified API answers it (the lead object of the REST API v2)."""

    id: int
    title: str | None = None
    status: str | None = None
    pipeline: str | None = None
    step: str | None = None
    step_id: int | None = None
    amount: float | None = None
    tags: list[str] = []
    user_id: int | None = None
    user: LeadUser | None = None
    remind_date: str | None = None
    closed_at: str | None = None
    updated_at: str | None = None


class Activity(_View):
    """The comment an ``add_activity`` call created on the lead (``activity_id`` names its activity type)."""

    id: int
    content: str | None = None
    activity_id: int | None = None
    user: LeadUser | None = None
    commented_item: dict[str, Any] | None = None
    created_at: str | None = None
