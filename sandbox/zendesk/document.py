"""Zendesk emulator, part 1: the state document (defaults, validation, normalisation) and the error shapes.

The document read by `PUT /_sandbox/zendesk/state` and written by `GET` is described in docs/sandbox-zendesk.md.
Everything is optional; unknown keys are refused (to catch typos); ids missing from users, ticket fields,
ticket forms and tickets are given after the largest one present.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

DEFAULT_EMAIL = "admin@passerelle.dev"
DEFAULT_TOKEN = "sandbox-zendesk-token"
ROLES = ("end-user", "agent", "admin")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TYPES = ("problem", "incident", "question", "task")
SYSTEM_FIELD_TYPES = ("subject", "description", "status", "tickettype", "priority", "group", "assignee")
CUSTOM_FIELD_TYPES = ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "partialcreditcard",
                      "multiselect", "tagger", "lookup")

ACCOUNT_KEYS = {"subdomain", "rate_limit_per_minute", "rate_limit_window_seconds"}
USER_KEYS = {"id", "name", "email", "role", "external_id", "locale_id", "created_at", "updated_at"}
FIELD_KEYS = {"id", "type", "title", "active", "required", "position", "description", "system"}
FORM_KEYS = {"id", "name", "display_name", "active", "default", "end_user_visible", "position", "ticket_field_ids",
             "in_all_brands"}
TICKET_KEYS = {"id", "subject", "description", "status", "priority", "type", "requester_id", "submitter_id",
               "ticket_form_id", "external_id", "tags", "custom_fields", "comments", "created_at", "updated_at"}
COMMENT_KEYS = {"id", "type", "author_id", "body", "html_body", "plain_body", "public", "created_at"}


class ZendeskError(Exception):
    """An answer in Zendesk's error shape (raised by the state and the routes, answered by the route class)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def record_invalid(**details: tuple[str, str]) -> ZendeskError:
    """422 ``RecordInvalid``: ``details`` maps each field to ``(description, error code)``."""
    return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                              "details": {f: [{"description": d, "error": e}] for f, (d, e) in details.items()}})


def bad_request(error: str, description: str) -> ZendeskError:
    return ZendeskError(400, {"error": error, "description": description})


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keys(kind: str, row: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"every {kind} must be an object; got {row!r}")
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"unknown {kind} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return dict(row)


def _with_ids(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    given = [r["id"] for r in rows if r.get("id") is not None]
    if any(not isinstance(i, int) or isinstance(i, bool) or i < 1 for i in given):
        raise ValueError(f"{kind} ids must be positive integers")
    if len(given) != len(set(given)):
        raise ValueError(f"duplicate {kind} ids")
    following = max(given, default=0)
    for row in rows:
        if row.get("id") is None:
            following += 1
            row["id"] = following
    return sorted(rows, key=lambda r: r["id"])


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def default_fields() -> list[dict[str, Any]]:
    titles = ("Subject", "Description", "Status", "Type", "Priority", "Group", "Assignee")
    return [{"id": i, "type": t, "title": title} for i, (t, title) in enumerate(zip(SYSTEM_FIELD_TYPES, titles,
                                                                                   strict=True), 1)]


def parse_account(value: Any) -> dict[str, Any]:
    account = _keys("account", value or {}, ACCOUNT_KEYS)
    per_minute = account.get("rate_limit_per_minute")
    if per_minute is not None and (not isinstance(per_minute, int) or isinstance(per_minute, bool) or per_minute < 1):
        raise ValueError("account.rate_limit_per_minute must be null (off) or a positive integer (Zendesk: 700 on "
                         "Suite Enterprise)")
    window = account.get("rate_limit_window_seconds", 60)
    if not isinstance(window, int | float) or isinstance(window, bool) or window <= 0:
        raise ValueError("account.rate_limit_window_seconds must be a positive number (Zendesk: 60)")
    return {"subdomain": str(account.get("subdomain", "sandbox")), "rate_limit_per_minute": per_minute,
            "rate_limit_window_seconds": window}


def parse_user(row: Any) -> dict[str, Any]:
    user = _keys("user", row, USER_KEYS)
    role = user.get("role", "end-user")
    if role not in ROLES:
        raise ValueError(f"user role must be one of {ROLES}; got {role!r}")
    email = user.get("email")
    email = str(email).strip().lower() if email else None
    stamp = user.get("created_at") or now_iso()
    return {"id": user.get("id"), "name": str(user.get("name") or (email or "").split("@")[0] or "Unknown"),
            "email": email, "role": role, "external_id": user.get("external_id"),
            "locale_id": user.get("locale_id", 1), "created_at": stamp, "updated_at": user.get("updated_at", stamp)}


def parse_field(row: Any) -> dict[str, Any]:
    field = _keys("ticket field", row, FIELD_KEYS)
    kind, title = field.get("type"), field.get("title")
    if kind not in SYSTEM_FIELD_TYPES + CUSTOM_FIELD_TYPES:
        raise ValueError(f"ticket field type must be one of {SYSTEM_FIELD_TYPES + CUSTOM_FIELD_TYPES}; got {kind!r}")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("every ticket field needs a title")
    return {"id": field.get("id"), "type": kind, "title": title, "active": bool(field.get("active", True)),
            "required": bool(field.get("required", False)), "position": field.get("position", 0),
            "description": str(field.get("description", "")), "system": kind in SYSTEM_FIELD_TYPES}


def parse_form(row: Any, field_ids: set[int]) -> dict[str, Any]:
    form = _keys("ticket form", row, FORM_KEYS)
    if not isinstance(form.get("name"), str) or not form["name"].strip():
        raise ValueError("every ticket form needs a name")
    ids = form.get("ticket_field_ids", sorted(field_ids))
    if not isinstance(ids, list) or not set(ids) <= field_ids:
        raise ValueError(f"ticket form {form['name']!r}: ticket_field_ids must name existing ticket fields")
    return {"id": form.get("id"), "name": form["name"], "display_name": form.get("display_name", form["name"]),
            "active": bool(form.get("active", True)), "default": bool(form.get("default", False)),
            "end_user_visible": bool(form.get("end_user_visible", True)), "position": form.get("position", 0),
            "ticket_field_ids": list(ids), "in_all_brands": bool(form.get("in_all_brands", True))}


def parse_ticket(row: Any, user_ids: set[int]) -> dict[str, Any]:
    ticket = _keys("ticket", row, TICKET_KEYS)
    for key in ("requester_id", "submitter_id"):
        if ticket.get(key) is not None and ticket[key] not in user_ids:
            raise ValueError(f"ticket {ticket.get('id')}: {key} {ticket[key]} is not a user")
    if ticket.get("status", "new") not in STATUSES:
        raise ValueError(f"ticket status must be one of {STATUSES}")
    comments = [_keys("comment", c, COMMENT_KEYS) for c in ticket.get("comments", [])]
    stamp = ticket.get("created_at") or now_iso()
    return {"id": ticket.get("id"), "subject": ticket.get("subject"),
            "description": ticket.get("description", comments[0].get("body", "") if comments else ""),
            "status": ticket.get("status", "new"), "priority": ticket.get("priority"), "type": ticket.get("type"),
            "requester_id": ticket.get("requester_id"), "submitter_id": ticket.get("submitter_id"),
            "ticket_form_id": ticket.get("ticket_form_id"), "external_id": ticket.get("external_id"),
            "tags": list(ticket.get("tags", [])), "custom_fields": [dict(c) for c in ticket.get("custom_fields", [])],
            "comments": comments, "created_at": stamp, "updated_at": ticket.get("updated_at", stamp)}


def parse_document(document: dict[str, Any]) -> dict[str, Any]:
    """The emulator's state from a document (``{}`` = the default account); ``ValueError`` names what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("the Zendesk state document must be an object")
    unknown = set(document) - {"account", "api_tokens", "users", "ticket_fields", "ticket_forms", "tickets"}
    if unknown:
        raise ValueError(f"unknown top-level keys {sorted(unknown)}")
    tokens = document.get("api_tokens", [DEFAULT_TOKEN])
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise ValueError("api_tokens must be a list of non-empty strings")
    users = _with_ids("user", [parse_user(u) for u in _list(document, "users")] if "users" in document else
                      [parse_user({"id": 1, "name": "Sandbox Admin", "email": DEFAULT_EMAIL, "role": "admin"})])
    emails = [u["email"] for u in users if u["email"]]
    if len(emails) != len(set(emails)):
        raise ValueError("user e-mails must be unique (case-insensitive)")
    fields = _with_ids("ticket field", [parse_field(f) for f in _list(document, "ticket_fields")]
                       if "ticket_fields" in document else [parse_field(f) for f in default_fields()])
    field_ids = {f["id"] for f in fields}
    forms = _with_ids("ticket form", [parse_form(f, field_ids) for f in _list(document, "ticket_forms")]
                      if "ticket_forms" in document else
                      [parse_form({"id": 1, "name": "Default Ticket Form", "default": True}, field_ids)])
    user_ids = {u["id"] for u in users}
    tickets = _with_ids("ticket", [parse_ticket(t, user_ids) for t in _list(document, "tickets")])
    for ticket in tickets:
        for i, comment in enumerate(ticket["comments"], 1):
            comment.setdefault("id", ticket["id"] * 1000 + i)
    return {"account": parse_account(document.get("account")), "api_tokens": list(tokens),
            "users": {u["id"]: u for u in users}, "ticket_fields": {f["id"]: f for f in fields},
            "ticket_forms": {f["id"]: f for f in forms}, "tickets": {t["id"]: t for t in tickets},
            "loaded_at": time.time()}
