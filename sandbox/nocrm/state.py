"""noCRM emulator, part 2: one account in memory, its API keys and rate limit, lookups and the JSON it answers.

The lead rules of the simplified API are in ``rules.py``. ``reset``, ``load`` and ``dump`` take ``lock``
themselves (the control API calls them from worker threads); the HTTP routes hold ``lock`` around every other
call. Random draws (``assign/random``…) use ``rng``, a ``random.Random`` seeded by ``account.random_seed`` at
each load, so a test that loads a document gets the same draws every time.
"""

from __future__ import annotations

import copy
import math
import random
import re
import threading
import time
from typing import Any

from sandbox.budget import RequestBudget
from sandbox.nocrm.document import NocrmError, not_found, parse_document

EMAIL_FIELDS = ("email", "e-mail", "courriel", "mail")
_EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")


def field_key(name: str) -> str:
    """A description field's name as a template variable: ``Entreprise`` → ``entreprise``."""
    return re.sub(r"\s+", "_", name.strip().lower())


class NocrmState:
    """One noCRM.io account."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # --- control protocol ----------------------------------------------------------------------------

    def reset(self) -> None:
        self.load({})

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.account: dict[str, Any] = fresh["account"]
            self.api_keys: list[str] = fresh["api_keys"]
            self.users: dict[int, dict[str, Any]] = fresh["users"]
            self.teams: dict[int, dict[str, Any]] = fresh["teams"]
            self.pipelines: dict[int, dict[str, Any]] = fresh["pipelines"]
            self.steps: dict[int, dict[str, Any]] = fresh["steps"]
            self.activities: dict[int, dict[str, Any]] = fresh["activities"]
            self.email_templates: dict[int, dict[str, Any]] = fresh["email_templates"]
            self.leads: dict[int, dict[str, Any]] = fresh["leads"]
            self.rng = random.Random(self.account["random_seed"])
            self.budget = RequestBudget()
            self.budget.set(self.account["rate_limit_per_minute"], self.account["rate_limit_window_seconds"])

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy({
                "account": self.account, "api_keys": self.api_keys, "users": list(self.users.values()),
                "teams": list(self.teams.values()), "pipelines": list(self.pipelines.values()),
                "steps": list(self.steps.values()), "activities": list(self.activities.values()),
                "email_templates": list(self.email_templates.values()), "leads": list(self.leads.values())})

    # --- auth and rate limit ---------------------------------------------------------------------------

    def authenticate(self, key: str | None) -> dict[str, Any]:
        """The user an API key acts as (the account's first admin), or a 401 in noCRM's words."""
        if not key:
            raise NocrmError(401, "unauthorized_missing_token", "Unauthorized: missing api_key or user token")
        if key not in self.api_keys:
            raise NocrmError(401, "unauthorized_invalid_token", "Unauthorized: invalid api_key")
        admins = sorted((u for u in self.users.values() if u["is_admin"]), key=lambda u: u["id"])
        return admins[0] if admins else {"id": None, "email": None, "firstname": "API", "lastname": ""}

    def set_rate_limit(self, per_minute: int | None = None, window_seconds: float = 60, **extra: Any) -> dict[str, Any]:
        """Set the per-window budget (and the account document's copy of it); ValueError names a bad value."""
        with self.lock:
            described = self.budget.set(per_minute, window_seconds, **extra)
            self.account.update(rate_limit_per_minute=per_minute, rate_limit_window_seconds=window_seconds)
            return described

    def take(self, now: float | None = None) -> None:
        """Count one call against the budget, or answer 429 with ``API-RETRY-AFTER`` and ``API-LIMIT-RESET``."""
        now = time.monotonic() if now is None else now
        wait = self.budget.take(now)
        if wait is not None:  # the reset: when the window ends (the Retry-After is that, rounded up)
            left = self.budget.window_start + self.budget.window_seconds - now
            raise NocrmError(429, "too_many_requests", "Too many requests: slow down",
                             {"API-RETRY-AFTER": f"{wait:g}", "API-LIMIT-RESET": str(math.ceil(time.time() + left))})

    # --- lookups -----------------------------------------------------------------------------------------

    def lead(self, lead_id: str) -> dict[str, Any]:
        found = self.leads.get(int(lead_id)) if lead_id.isdigit() else None
        if found is None:
            raise not_found()
        return found

    def user_by_ref(self, ref: str) -> dict[str, Any] | None:
        """A user by id (digits) or e-mail address (case-insensitive), as ``user_id`` parameters name them."""
        ref = ref.strip()
        if ref.isdigit():
            return self.users.get(int(ref))
        return next((u for u in self.users.values() if u["email"] == ref.lower()), None)

    def pipeline_steps(self, pipeline_id: int) -> list[dict[str, Any]]:
        return sorted((s for s in self.steps.values() if s["pipeline_id"] == pipeline_id),
                      key=lambda s: (s["position"], s["id"]))

    def team_of(self, user_id: int | None) -> dict[str, Any] | None:
        return next((t for t in sorted(self.teams.values(), key=lambda t: t["id"]) if user_id in t["user_ids"]),
                    None)

    @staticmethod
    def fields(lead: dict[str, Any]) -> dict[str, str]:
        """The lead's fields: the ``Name: value`` lines of its description, by :func:`field_key`."""
        found = {}
        for line in (lead.get("description") or "").splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() and value.strip():
                found.setdefault(field_key(name), value.strip())
        return found

    def contact_email(self, lead: dict[str, Any]) -> str | None:
        fields = self.fields(lead)
        return next((fields[k] for k in EMAIL_FIELDS if k in fields and _EMAIL.fullmatch(fields[k])), None)

    # --- answers -----------------------------------------------------------------------------------------

    @staticmethod
    def render_user(user: dict[str, Any] | None) -> dict[str, Any] | None:
        if user is None:
            return None
        return {k: user[k] for k in ("id", "email", "firstname", "lastname", "is_admin")}

    def render_lead(self, lead: dict[str, Any]) -> dict[str, Any]:
        """A lead as noCRM answers it (the lead object of the REST API v2)."""
        step = self.steps[lead["step_id"]]
        owner = self.users.get(lead["user_id"]) if lead["user_id"] is not None else None
        team = self.team_of(lead["user_id"])
        description = lead["description"] or ""
        return {
            "id": lead["id"], "title": lead["title"], "pipeline": self.pipelines[step["pipeline_id"]]["name"],
            "step": step["name"], "step_id": step["id"], "status": lead["status"], "amount": lead["amount"],
            "currency": lead["currency"], "starred": False, "remind_date": lead["remind_date"], "remind_time": None,
            "created_at": lead["created_at"], "updated_at": lead["updated_at"], "closed_at": lead["closed_at"],
            "description": description, "html_description": description.replace("\n", "<br>"),
            "tags": list(lead["tags"]), "user_id": lead["user_id"], "user": self.render_user(owner),
            "team_id": team["id"] if team else None, "team_name": team["name"] if team else None,
            "client_folder_id": None, "client_folder_name": None,
        }

    def render_activity(self, lead: dict[str, Any], logged: dict[str, Any]) -> dict[str, Any]:
        """The comment an activity logged on a lead is (the comment object of the REST API v2)."""
        activity = self.activities.get(logged["activity_id"])
        return {
            "id": logged["id"], "content": logged["content"] or "", "raw_content": logged["content"] or "",
            "activity_id": logged["activity_id"],
            "activity": {"id": activity["id"], "name": activity["name"]} if activity else None,
            "is_pinned": False, "attachments": [], "reactions": [],
            "commented_item": {"id": lead["id"], "title": lead["title"], "type": "lead"},
            "created_at": logged["created_at"], "user": self.render_user(self.users.get(logged["user_id"])),
        }

    def next_logged_id(self) -> int:
        return 1 + max((x["id"] for lead in self.leads.values() for x in (*lead["activities"], *lead["emails"])),
                       default=500)
