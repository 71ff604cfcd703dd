"""noCRM emulator, part 3: the rules of the simplified API's lead actions (seed: nocrm-simplified-api.txt).

Each rule takes the state, the lead, the query parameters (strings, as a GET carries them) and the user the
API key acts as; it changes the lead or raises a :class:`NocrmError` leaving it untouched, and returns the
answer (the lead, or the comment ``add_activity`` created). A call that finds the lead already as it would
leave it changes nothing (not even ``updated_at``): that is what makes the idempotent actions safe to resend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.nocrm.document import NocrmError, invalid, missing, not_found, now_iso
from sandbox.nocrm.state import NocrmState

Query = Mapping[str, str]
Rule = Callable[[NocrmState, dict[str, Any], Query, dict[str, Any]], dict[str, Any]]
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
CLOSED = ("won", "lost", "cancelled")


def _param(query: Query, name: str) -> str:
    value = (query.get(name) or "").strip()
    if not value:
        raise missing(name)
    return value


def _int_param(query: Query, name: str) -> int:
    value = _param(query, name)
    if not value.isdigit() or int(value) < 1:
        raise invalid(f"{name} must be a positive integer")
    return int(value)


def _update(lead: dict[str, Any], **changes: Any) -> None:
    """Apply ``changes``; ``updated_at`` moves only when something did."""
    if any(lead.get(k) != v for k, v in changes.items()):
        lead.update(changes)
        lead["updated_at"] = now_iso()


def _status(lead: dict[str, Any], status: str, **changes: Any) -> None:
    closed_at = lead["closed_at"] if lead["status"] == status else (now_iso() if status in CLOSED else None)
    _update(lead, status=status, closed_at=closed_at, **changes)


def _user(state: NocrmState, ref: str) -> dict[str, Any]:
    user = state.user_by_ref(ref)
    if user is None:
        raise not_found(f"User not found: {ref}")
    if user["is_disabled"]:
        raise invalid(f"User {user['email']} is disabled")
    return user


# --- status ------------------------------------------------------------------------------------------------

def standby(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    days = _int_param(query, "days")
    activity_id = None
    if (query.get("activity_id") or "").strip():
        activity_id = _int_param(query, "activity_id")
        if activity_id not in state.activities:
            raise not_found(f"Activity not found: {activity_id}")
    remind = (datetime.now(UTC).date() + timedelta(days=days)).isoformat()
    _status(lead, "standby", remind_date=remind, remind_activity_id=activity_id)
    return state.render_lead(lead)


def won(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    changes = {}
    if (query.get("amount") or "").strip():
        try:
            amount = Decimal(query["amount"].strip())
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            raise invalid("amount must be a number greater than or equal to 0")
        changes["amount"] = float(amount)
    _status(lead, "won", remind_date=None, **changes)
    return state.render_lead(lead)


def _plain(status: str) -> Rule:
    def rule(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
        _status(lead, status, remind_date=None, remind_activity_id=None)
        return state.render_lead(lead)
    rule.__name__ = status
    return rule


# --- owner -------------------------------------------------------------------------------------------------

def assign(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    _update(lead, user_id=_user(state, _param(query, "user_id"))["id"])
    return state.render_lead(lead)


def _draw(state: NocrmState, lead: dict[str, Any], users: list[dict[str, Any]], none_left: str) -> dict[str, Any]:
    pool = sorted((u for u in users if not u["is_disabled"]), key=lambda u: u["id"])
    if not pool:
        raise NocrmError(422, "no_user_available", none_left)
    _update(lead, user_id=state.rng.choice(pool)["id"])
    return state.render_lead(lead)


def assign_random(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    no_admin = (query.get("no_admin") or "").strip().lower() == "true"
    users = [u for u in state.users.values() if not (no_admin and u["is_admin"])]
    return _draw(state, lead, users, "No user to assign the lead to" + (" who is not an admin" if no_admin else ""))


def assign_random_in_a_team(state: NocrmState, lead: dict[str, Any], query: Query,
                            _: dict[str, Any]) -> dict[str, Any]:
    team_id = _int_param(query, "team_id")
    team = state.teams.get(team_id)
    if team is None:
        raise not_found(f"Team not found: {team_id}")
    members = [state.users[uid] for uid in team["user_ids"]]
    return _draw(state, lead, members, f"Team {team['name']} has no active member to assign the lead to")


# --- pipeline ----------------------------------------------------------------------------------------------

def next_step(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    steps = state.pipeline_steps(state.steps[lead["step_id"]]["pipeline_id"])
    index = [s["id"] for s in steps].index(lead["step_id"])
    if index + 1 >= len(steps):
        raise NocrmError(422, "last_step", f"The lead is already at the last step of its pipeline "
                                           f"({steps[index]['name']})")
    _update(lead, step_id=steps[index + 1]["id"])
    return state.render_lead(lead)


def move_to_step(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    step_id = _int_param(query, "step_id")
    if step_id not in state.steps:
        raise not_found(f"Step not found: {step_id}")
    _update(lead, step_id=step_id)
    return state.render_lead(lead)


def add_tag(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    tags = list(lead["tags"])
    for name in (t.strip() for t in _param(query, "tag").split(",")):
        if name and name.lower() not in {t.lower() for t in tags}:
            tags.append(name)
    _update(lead, tags=tags)
    return state.render_lead(lead)


# --- e-mail and activities -----------------------------------------------------------------------------------

def _variables(state: NocrmState, lead: dict[str, Any], sender: dict[str, Any]) -> dict[str, str]:
    step = state.steps[lead["step_id"]]
    values = {f"lead.{k}": v for k, v in state.fields(lead).items()}
    values.update({"lead.title": lead["title"] or "", "lead.step": step["name"],
                   "lead.amount": f"{lead['amount']:g}" if lead["amount"] else "",
                   "lead.email": state.contact_email(lead) or "", "user.firstname": sender["firstname"],
                   "user.lastname": sender["lastname"], "user.email": sender["email"]})
    return {k: v for k, v in values.items() if v}


def _replace(text: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)


def send_email_from_template(state: NocrmState, lead: dict[str, Any], query: Query,
                             _: dict[str, Any]) -> dict[str, Any]:
    """The seed's four refusals, in its order: template not accessible (only shared ones), variables left after
    replacement, no e-mail address on the lead, sender's mailbox not synchronised. Nothing is sent then."""
    template_id = _int_param(query, "email_template_id")
    sender = _user(state, _param(query, "from_user_id"))
    template = state.email_templates.get(template_id)
    if template is None:
        raise not_found(f"Email template not found: {template_id}")
    if not template["shared"]:
        raise NocrmError(422, "template_not_accessible", f"{sender['email']} cannot use the e-mail template "
                         f"'{template['name']}': only shared templates can be used")
    values = _variables(state, lead, sender)
    subject, body = _replace(template["subject"], values), _replace(template["body"], values)
    left = sorted({m.group(0) for m in _VARIABLE.finditer(subject + "\n" + body)})
    if left:
        raise NocrmError(422, "template_variables_left", "Variables remain in the subject or body after replacing "
                         f"the template's fields: {', '.join(left)}")
    to = state.contact_email(lead)
    if to is None:
        raise NocrmError(422, "lead_without_email", f"The lead {lead['id']} has no e-mail address")
    if not sender["mailbox_synced"]:
        raise NocrmError(422, "mailbox_not_synchronized", f"{sender['email']} has not synchronized their mailbox "
                         "with noCRM")
    lead["emails"].append({"id": state.next_logged_id(), "email_template_id": template_id,
                           "from_user_id": sender["id"], "to": to, "subject": subject, "body": body,
                           "sent_at": now_iso()})
    lead["updated_at"] = now_iso()
    return state.render_lead(lead)


def add_activity(state: NocrmState, lead: dict[str, Any], query: Query, _: dict[str, Any]) -> dict[str, Any]:
    activity_id = _int_param(query, "activity_id")
    if activity_id not in state.activities:
        raise not_found(f"Activity not found: {activity_id}")
    user = _user(state, _param(query, "user_id"))
    logged = {"id": state.next_logged_id(), "activity_id": activity_id, "user_id": user["id"],
              "content": query.get("content") or "", "created_at": now_iso()}
    lead["activities"].append(logged)
    lead["updated_at"] = logged["created_at"]
    return state.render_activity(lead, logged)


# The simplified API's paths after /api/simple/leads/{lead_id}/, and their rules.
RULES: dict[str, Rule] = {
    "standby": standby, "won": won, "cancelled": _plain("cancelled"), "lost": _plain("lost"), "todo": _plain("todo"),
    "assign": assign, "assign/random": assign_random, "assign/random_in_a_team": assign_random_in_a_team,
    "next_step": next_step, "move_to_step": move_to_step, "add_tag": add_tag,
    "send_email_from_template": send_email_from_template, "add_activity": add_activity,
}
