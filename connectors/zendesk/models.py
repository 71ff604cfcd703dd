"""Zendesk Support: the domain rule and typed views of the objects the connector reads.

The views are pydantic models that keep every field Zendesk sends (``extra="allow"``) and type the few the
iAdvize archival uses; build them with ``Ticket.model_validate(client_answer)``. The client itself returns
plain dicts, so a caller that needs one more field never waits for this module.

Example:
    >>> zendesk_domain("https://Acme.zendesk.com/")
    'https://acme.zendesk.com'
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

DOMAIN_FORM = "https://<subdomain>.zendesk.com"
_DOMAIN = re.compile(r"https://([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.zendesk\.com/?")
_BARE_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


def zendesk_domain(value: str) -> str:
    """The Zendesk domain in its canonical form (``https://acme.zendesk.com``), or a ``ValueError`` saying
    the form expected (the iAdvize app's rule: "https://[votredomaine].zendesk.com").

    Case and one trailing slash are forgiven (host names are case-insensitive); anything else is refused:
    ``http://``, another host, a path, a port, a bare subdomain (the message then suggests the full URL).
    """
    text = (value or "").strip()
    match = _DOMAIN.fullmatch(text.lower())
    if match:
        return f"https://{match.group(1)}.zendesk.com"
    hint = ""
    if _BARE_SUBDOMAIN.fullmatch(text.lower()):
        hint = f" (did you mean https://{text.lower()}.zendesk.com?)"
    raise ValueError(f"the Zendesk domain must be of the form {DOMAIN_FORM}, e.g. https://acme.zendesk.com; "
                     f"got {text!r}{hint}")


def check_email(value: str, field: str = "email") -> str:
    """``value`` stripped, or a ``ValueError`` naming ``field`` when it is not an e-mail address."""
    text = (value or "").strip()
    if not _EMAIL.fullmatch(text):
        raise ValueError(f"{field} must be an e-mail address (e.g. admin@acme.com); got {text!r}")
    return text


class _View(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(_View):
    """A Zendesk user (``role``: ``end-user``, ``agent`` or ``admin``)."""

    id: int | None = None
    name: str | None = None
    email: str | None = None
    role: str | None = None
    external_id: str | None = None


class CustomFieldValue(_View):
    """One ``custom_fields`` entry of a ticket: ``{"id": field id, "value": ...}``."""

    id: int
    value: Any = None


class Ticket(_View):
    """A ticket as ``POST /api/v2/tickets`` and ``GET /api/v2/tickets`` answer it."""

    id: int
    status: str | None = None
    subject: str | None = None
    description: str | None = None
    external_id: str | None = None
    requester_id: int | None = None
    ticket_form_id: int | None = None
    custom_fields: list[CustomFieldValue] = []


class TicketForm(_View):
    """A ticket form and the ids of the fields it shows."""

    id: int
    name: str
    active: bool = True
    default: bool = False
    ticket_field_ids: list[int] = []


class TicketField(_View):
    """A ticket field: a system one (``type`` ``subject``, ``status``…) or a custom one (``text``,
    ``tagger``…) whose ``id`` goes in a ticket's ``custom_fields``."""

    id: int
    type: str
    title: str
    active: bool = True
