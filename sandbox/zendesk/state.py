"""Zendesk emulator, part 2: one account in memory (users, tickets, ticket forms and fields, API tokens), the
ticket-creation rules, the user search, Idempotency-Key replay and the account-wide per-minute rate limit.

`reset`, `load` and `dump` take `lock` themselves (the control API calls them from worker threads); the HTTP
routes hold `lock` around every other call.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from typing import Any

from sandbox.budget import RequestBudget
from sandbox.zendesk.document import (
    PRIORITIES,
    STATUSES,
    TYPES,
    ZendeskError,
    bad_request,
    now_iso,
    parse_account,
    parse_document,
    record_invalid,
)

IDEMPOTENCY_TTL = 2 * 3600  # Zendesk keeps an Idempotency-Key two hours
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TERM = re.compile(r'(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)')
RATE_LIMITED = "Number of allowed API requests per minute exceeded"


class ZendeskState:
    """One Zendesk Support account."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # --- control protocol --------------------------------------------------------------------------------

    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.account: dict[str, Any] = fresh["account"]
            self.api_tokens: list[str] = fresh["api_tokens"]
            self.users: dict[int, dict[str, Any]] = fresh["users"]
            self.ticket_fields: dict[int, dict[str, Any]] = fresh["ticket_fields"]
            self.ticket_forms: dict[int, dict[str, Any]] = fresh["ticket_forms"]
            self.tickets: dict[int, dict[str, Any]] = fresh["tickets"]
            self.idempotency: dict[str, tuple[str, int, float]] = {}
            self.budget = RequestBudget()
            self.budget.set(self.account["rate_limit_per_minute"], self.account["rate_limit_window_seconds"])

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "account": dict(self.account),
                "api_tokens": list(self.api_tokens),
                "users": [dict(u) for u in self.users.values()],
                "ticket_fields": [{k: v for k, v in f.items() if k != "system"} for f in self.ticket_fields.values()],
                "ticket_forms": [dict(f, ticket_field_ids=list(f["ticket_field_ids"]))
                                 for f in self.ticket_forms.values()],
                "tickets": [dict(t, tags=list(t["tags"]), custom_fields=[dict(c) for c in t["custom_fields"]],
                                 comments=[dict(c) for c in t["comments"]]) for t in self.tickets.values()],
            }

    # --- auth and rate limit -----------------------------------------------------------------------------

    def authenticate(self, email: str, token: str) -> dict[str, Any] | None:
        """The agent or admin that ``{email}/token:{token}`` acts as, or None (API tokens are account-wide)."""
        if token not in self.api_tokens:
            return None
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u["email"] == wanted and u["role"] != "end-user"), None)

    def set_rate_limit(self, per_minute: int | None = None, window_seconds: float = 60, **extra: Any) -> dict[str, Any]:
        """Set the account's per-window budget (validated as the account document is); ValueError names a bad value."""
        with self.lock:
            if extra:
                raise ValueError(f"unknown keys {sorted(extra)}; allowed: per_minute, window_seconds")
            self.account.update(parse_account({**self.account, "rate_limit_per_minute": per_minute,
                                               "rate_limit_window_seconds": window_seconds}))
            return self.budget.set(self.account["rate_limit_per_minute"], self.account["rate_limit_window_seconds"])

    def take(self, now: float | None = None) -> dict[str, str]:
        """Count one request against the account's budget; the rate headers to answer, or a 429."""
        limit = self.budget.per_minute
        if limit is None:
            return {}
        wait = self.budget.take(now)
        if wait is not None:
            raise ZendeskError(429, RATE_LIMITED, {"Retry-After": f"{wait:g}", "X-Rate-Limit": str(limit),
                                                   "X-Rate-Limit-Remaining": "0"})
        return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(limit - self.budget.used)}

    # --- users -------------------------------------------------------------------------------------------

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u["email"] == wanted), None)

    def search_users(self, query: str | None, external_id: str | None) -> list[dict[str, Any]]:
        """``external_id``: exact. ``query``: every term must hold — ``email:``, ``name:``, ``role:``,
        ``external_id:`` (exact, case-insensitive; a trailing ``*`` is a prefix), or a bare term found in the
        name or e-mail."""
        if external_id is not None:
            return [u for u in self.users.values() if u["external_id"] == external_id]
        if not (query or "").strip():
            raise bad_request("InvalidSearchQuery", "Provide a query or an external_id")
        tests = []
        for quoted_key, quoted_value, key, value, phrase, bare in _TERM.findall(query or ""):
            key, value = (quoted_key, quoted_value) if quoted_key else (key, value)
            if key and key.lower() in ("email", "name", "role", "external_id"):
                tests.append(_matcher(key.lower(), value.lower()))
            else:
                term = (phrase or bare or f"{key}:{value}").lower()
                tests.append(lambda u, t=term: t in (u["name"] or "").lower() or t in (u["email"] or ""))
        return [u for u in self.users.values() if all(test(u) for test in tests)]

    def _end_user(self, requester: Any) -> dict[str, Any]:
        """The user of a ``requester {name, email, locale_id}`` object, created as an end user if unknown."""
        if not isinstance(requester, dict):
            raise record_invalid(requester=("Requester: must be an object with name and email", "InvalidValue"))
        email = str(requester.get("email") or "").strip()
        if not email:
            raise record_invalid(requester=("Requester: Email cannot be blank", "BlankValue"))
        if not _EMAIL.fullmatch(email):
            raise record_invalid(requester=(f"Requester: Email {email} is not properly formatted", "InvalidFormat"))
        found = self.user_by_email(email)
        if found is not None:
            return found
        stamp = now_iso()
        user = {"id": max(self.users, default=0) + 1, "name": str(requester.get("name") or email.split("@")[0]),
                "email": email.lower(), "role": "end-user", "external_id": None,
                "locale_id": requester.get("locale_id", 1), "created_at": stamp, "updated_at": stamp}
        self.users[user["id"]] = user
        return user

    # --- tickets -----------------------------------------------------------------------------------------

    def create_ticket(self, body: Any, author: dict[str, Any], key: str | None) -> tuple[dict[str, Any], str | None]:
        """Create a ticket from a ``POST /api/v2/tickets`` body; the ticket and the ``x-idempotency-lookup``
        answer (``miss``/``hit``, None without a key). Raises ``ZendeskError`` (400/422)."""
        if not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ticket")
        if key is not None:
            fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            seen = self.idempotency.get(key)
            if seen and time.monotonic() - seen[2] < IDEMPOTENCY_TTL and seen[1] in self.tickets:
                if seen[0] != fingerprint:
                    raise bad_request("IdempotentRequestError", "Request parameters do not match the original "
                                      "request for this idempotency key")
                return self.tickets[seen[1]], "hit"
        ticket = self._new_ticket(body["ticket"], author)
        self.tickets[ticket["id"]] = ticket
        if key is not None:
            self.idempotency[key] = (fingerprint, ticket["id"], time.monotonic())
            return ticket, "miss"
        return ticket, None

    def _check_values(self, data: dict[str, Any]) -> None:
        """The enumerated fields and the form of a ticket being created or updated (422 RecordInvalid)."""
        checks = (("status", STATUSES, "Status"), ("priority", PRIORITIES, "Priority"), ("type", TYPES, "Type"))
        for key, allowed, label in checks:
            if data.get(key) is not None and data[key] not in allowed:
                raise record_invalid(**{key: (f"{label}: {data[key]!r} is not valid", "InvalidValue")})
        form_id = data.get("ticket_form_id")
        if form_id is not None and not (form_id in self.ticket_forms and self.ticket_forms[form_id]["active"]):
            raise record_invalid(ticket_form_id=(f"Ticket form {form_id} is invalid", "InvalidValue"))

    def _new_ticket(self, data: dict[str, Any], author: dict[str, Any]) -> dict[str, Any]:
        comment = data.get("comment")
        if not isinstance(comment, dict) or not (comment.get("body") or comment.get("html_body")):
            raise record_invalid(description=("Description: cannot be blank", "BlankValue"))
        self._check_values(data)
        form_id = data.get("ticket_form_id")
        if data.get("requester_id") is not None:
            requester = self.users.get(data["requester_id"]) if isinstance(data["requester_id"], int) else None
            if requester is None:
                raise record_invalid(requester_id=(f"Requester: {data['requester_id']} is invalid", "InvalidValue"))
        elif data.get("requester") is not None:
            requester = self._end_user(data["requester"])
        else:
            requester = author
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise record_invalid(tags=("Tags: must be a list of strings", "InvalidValue"))
        ticket_id = max(self.tickets, default=0) + 1
        stamp = now_iso()
        first = {"id": ticket_id * 1000 + 1, "type": "Comment",
                 "author_id": comment.get("author_id") if comment.get("author_id") in self.users else requester["id"],
                 "body": comment.get("body") or _strip_html(comment.get("html_body", "")),
                 "html_body": comment.get("html_body") or f"<p>{comment.get('body', '')}</p>",
                 "plain_body": comment.get("body") or _strip_html(comment.get("html_body", "")),
                 "public": bool(comment.get("public", True)), "created_at": stamp}
        return {"id": ticket_id, "subject": data.get("subject") or first["body"][:80],
                "description": first["body"], "status": data.get("status") or "new",
                "priority": data.get("priority"), "type": data.get("type"), "requester_id": requester["id"],
                "submitter_id": author["id"], "ticket_form_id": form_id or self.default_form_id(),
                "external_id": None if data.get("external_id") is None else str(data["external_id"]),
                "tags": sorted(set(tags)), "custom_fields": self._custom_values(data.get("custom_fields")),
                "comments": [first], "created_at": stamp, "updated_at": stamp}

    def update_ticket(self, ticket_id: int, body: Any, author: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``PUT /api/v2/tickets/{id}`` body: ``status``, ``priority``, ``type``, ``subject``,
        ``ticket_form_id``, ``custom_fields`` (only the ids given change), ``tags`` (replace), ``comment``
        (appended, by the authenticated user; ``public`` defaults to true). A closed ticket cannot be updated
        (422). Raises ``ZendeskError`` (400/404/422); nothing changes when refused."""
        if not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
            raise bad_request("ParameterMissing", "param is missing or the value is empty: ticket")
        data, ticket = body["ticket"], self.tickets[ticket_id]
        if ticket["status"] == "closed":
            raise record_invalid(status=("Status: closed prevents ticket update", "InvalidValue"))
        self._check_values(data)
        form_id = data.get("ticket_form_id")
        tags = data.get("tags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise record_invalid(tags=("Tags: must be a list of strings", "InvalidValue"))
        comment = data.get("comment")
        if comment is not None and (not isinstance(comment, dict)
                                    or not (comment.get("body") or comment.get("html_body"))):
            raise record_invalid(comment=("Comment: cannot be blank", "BlankValue"))
        named = {e.get("id") for e in data.get("custom_fields") or [] if isinstance(e, dict)}
        given = {c["id"]: c["value"] for c in self._custom_values(data.get("custom_fields")) if c["id"] in named}
        for key in ("status", "priority", "type", "subject"):
            if data.get(key) is not None:
                ticket[key] = data[key]
        if form_id is not None:
            ticket["ticket_form_id"] = form_id
        if tags is not None:
            ticket["tags"] = sorted(set(tags))
        ticket["custom_fields"] = [dict(c, value=given.get(c["id"], c["value"])) for c in ticket["custom_fields"]]
        stamp = now_iso()
        if comment is not None:
            text = comment.get("body") or _strip_html(comment.get("html_body", ""))
            ticket["comments"].append({
                "id": ticket_id * 1000 + len(ticket["comments"]) + 1, "type": "Comment", "author_id": author["id"],
                "body": text, "html_body": comment.get("html_body") or f"<p>{text}</p>", "plain_body": text,
                "public": bool(comment.get("public", True)), "created_at": stamp})
        ticket["updated_at"] = stamp
        return ticket

    def default_form_id(self) -> int | None:
        return next((f["id"] for f in self.ticket_forms.values() if f["default"]), None)

    def _custom_values(self, given: Any) -> list[dict[str, Any]]:
        """Values for the account's custom fields; ids that are no custom field are ignored, as Zendesk does."""
        if given is not None and not isinstance(given, list):
            raise record_invalid(custom_fields=("Custom fields: must be a list of {id, value}", "InvalidValue"))
        values: dict[int, Any] = {}
        for entry in given or []:
            if not isinstance(entry, dict) or "id" not in entry:
                raise record_invalid(custom_fields=("Custom fields: every entry needs an id", "InvalidValue"))
            values[entry["id"]] = entry.get("value")
        return [{"id": f["id"], "value": values.get(f["id"])}
                for f in self.ticket_fields.values() if not f["system"]]

    def render_ticket(self, ticket: dict[str, Any], root: str) -> dict[str, Any]:
        """A ticket as the API answers it (comments are under ``/tickets/{id}/comments``)."""
        out = {k: v for k, v in ticket.items() if k != "comments"}
        out["url"] = f"{root}/api/v2/tickets/{ticket['id']}.json"
        out["via"] = {"channel": "api"}
        out["fields"] = [dict(c) for c in ticket["custom_fields"]]
        out["custom_fields"] = [dict(c) for c in ticket["custom_fields"]]
        return out


def _matcher(key: str, value: str):
    prefix = value.endswith("*")
    value = value.rstrip("*")

    def test(user: dict[str, Any]) -> bool:
        have = str(user.get(key) or "").lower()
        return have.startswith(value) if prefix else have == value

    return test


def _strip_html(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html or "").strip()
