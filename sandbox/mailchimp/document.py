"""Mailchimp emulator, part 1: the state document and Mailchimp's error shape (``application/problem+json``).

The document (``PUT|GET /_sandbox/mailchimp/state``; everything optional, unknown keys refused):

    {"api_keys": ["sandbox-mailchimp-key-us21"],
     "lists": [{"id": "8e3b1f0c2a", "name": "Passerelle sandbox",
                "merge_fields": [{"tag": "FNAME", "name": "First Name", "type": "text", "required": false}],
                "members": [{"email_address": "lea@example.org", "status": "subscribed",
                             "merge_fields": {"FNAME": "Léa"}, "tags": ["okast"]}],
                "forgotten": ["gone@example.org"]}]}

``forgotten`` holds addresses that were permanently deleted: Mailchimp refuses to add them back by API.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

DEFAULT_KEY = "sandbox-mailchimp-key-us21"
DEFAULT_LIST = "8e3b1f0c2a"
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
MEMBER_STATUSES = (*STATUSES, "archived")
MERGE_TYPES = ("text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown", "birthday",
               "zip")
LIST_KEYS = {"id", "name", "merge_fields", "members", "forgotten"}
FIELD_KEYS = {"tag", "name", "type", "required"}
MEMBER_KEYS = {"email_address", "status", "merge_fields", "tags", "language", "vip", "timestamp_signup",
               "timestamp_opt", "last_changed"}
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,.]+")
INVALID = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."


class MailchimpError(Exception):
    """An answer in Mailchimp's problem shape (raised by the state and routes, answered by the route class)."""

    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, title)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": ERROR_DOCS, "title": self.title, "status": self.status, "detail": self.detail,
                                "instance": str(uuid.uuid4())}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def not_found() -> MailchimpError:
    return MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")


def invalid(*errors: tuple[str, str], detail: str = INVALID) -> MailchimpError:
    """400 "Invalid Resource" with the ``errors`` array: ``(field, message)`` pairs (field "" = the body)."""
    return MailchimpError(400, "Invalid Resource", detail, [{"field": f, "message": m} for f, m in errors])


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def member_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def _keys(kind: str, row: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"every {kind} must be an object; got {row!r}")
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"unknown {kind} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return row


def default_merge_fields() -> list[dict[str, Any]]:
    return [{"tag": "FNAME", "name": "First Name", "type": "text", "required": False},
            {"tag": "LNAME", "name": "Last Name", "type": "text", "required": False},
            {"tag": "PHONE", "name": "Phone Number", "type": "phone", "required": False}]


def parse_field(row: Any, position: int) -> dict[str, Any]:
    field = _keys("merge field", row, FIELD_KEYS)
    tag = field.get("tag")
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Z0-9_]{1,10}", tag):
        raise ValueError(f"merge field tag must be 1-10 upper-case letters, digits or _; got {tag!r}")
    kind = field.get("type", "text")
    if kind not in MERGE_TYPES:
        raise ValueError(f"merge field {tag}: type must be one of {MERGE_TYPES}; got {kind!r}")
    return {"merge_id": position, "tag": tag, "name": str(field.get("name") or tag), "type": kind,
            "required": bool(field.get("required", False))}


def parse_member(row: Any, tags: dict[str, int]) -> dict[str, Any]:
    member = _keys("member", row, MEMBER_KEYS)
    email = member.get("email_address")
    if not isinstance(email, str) or not EMAIL.fullmatch(email.strip()):
        raise ValueError(f"member email_address must be an e-mail address; got {email!r}")
    status = member.get("status", "subscribed")
    if status not in MEMBER_STATUSES:
        raise ValueError(f"member {email}: status must be one of {MEMBER_STATUSES}; got {status!r}")
    names = member.get("tags", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"member {email}: tags must be a list of tag names")
    stamp = member.get("last_changed") or now_iso()
    for name in names:
        tags.setdefault(name.strip(), len(tags) + 1)
    return {"email_address": email.strip(), "status": status, "merge_fields": dict(member.get("merge_fields") or {}),
            "tags": [{"id": tags[n.strip()], "name": n.strip(), "date_added": stamp} for n in names],
            "language": str(member.get("language") or ""), "vip": bool(member.get("vip", False)),
            "timestamp_signup": member.get("timestamp_signup") or "",
            "timestamp_opt": member.get("timestamp_opt") or (stamp if status == "subscribed" else ""),
            "last_changed": stamp}


def parse_list(row: Any) -> dict[str, Any]:
    data = _keys("list", row, LIST_KEYS)
    list_id = data.get("id", DEFAULT_LIST)
    if not isinstance(list_id, str) or not re.fullmatch(r"[0-9a-zA-Z]{1,32}", list_id):
        raise ValueError(f"list id must be letters and digits (Mailchimp's are 10 hex digits); got {list_id!r}")
    raw_fields = data.get("merge_fields", default_merge_fields())
    if not isinstance(raw_fields, list):
        raise ValueError(f"list {list_id}: merge_fields must be a list")
    fields = [parse_field(f, i) for i, f in enumerate(raw_fields, 1)]
    if len({f["tag"] for f in fields}) != len(fields):
        raise ValueError(f"list {list_id}: duplicate merge field tags")
    tags: dict[str, int] = {}
    members: dict[str, dict[str, Any]] = {}
    for raw in data.get("members", []) or []:
        member = parse_member(raw, tags)
        key = member_hash(member["email_address"])
        if key in members:
            raise ValueError(f"list {list_id}: member {member['email_address']} appears twice")
        members[key] = member
    forgotten = data.get("forgotten", [])
    if not isinstance(forgotten, list) or not all(isinstance(e, str) for e in forgotten):
        raise ValueError(f"list {list_id}: forgotten must be a list of e-mail addresses")
    return {"id": list_id, "name": str(data.get("name") or "Passerelle sandbox"), "merge_fields": fields,
            "members": members, "tags": tags, "forgotten": {e.strip().lower() for e in forgotten},
            "date_created": now_iso()}


def parse_document(document: Any) -> dict[str, Any]:
    doc = _keys("document", document if document is not None else {}, {"api_keys", "lists"})
    keys = doc.get("api_keys", [DEFAULT_KEY])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError("api_keys must be a list of API keys (strings such as sandbox-mailchimp-key-us21)")
    raw_lists = doc.get("lists", [{"id": DEFAULT_LIST}])
    if not isinstance(raw_lists, list):
        raise ValueError("lists must be a list")
    lists = {}
    for raw in raw_lists:
        parsed = parse_list(raw)
        if parsed["id"] in lists:
            raise ValueError(f"duplicate list id {parsed['id']}")
        lists[parsed["id"]] = parsed
    return {"api_keys": list(keys), "lists": lists}
