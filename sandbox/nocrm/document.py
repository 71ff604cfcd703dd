"""noCRM emulator, part 1: the state document (the default demo account, validation) and the error shape.

The document read by ``PUT /_sandbox/nocrm/state`` and written by ``GET`` (docs/connector-nocrm.md, "The
emulator"): ``account``, ``api_keys``, ``users``, ``teams``, ``pipelines``, ``steps``, ``activities``,
``email_templates``, ``leads`` (each lead holds its ``activities`` logged and its ``emails`` sent). A key left
out takes its default (the demo account below), so ``{}`` is the default state; unknown keys are refused
(typos); ids left out are given after the largest one present; references (a lead's step and owner, a team's
members, a template's owner) must exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

DEFAULT_KEY = "sandbox-nocrm-key"
STATUSES = ("todo", "standby", "won", "lost", "cancelled")

ACCOUNT_KEYS = {"subdomain", "random_seed", "rate_limit_per_minute", "rate_limit_window_seconds"}
USER_KEYS = {"id", "firstname", "lastname", "email", "is_admin", "is_disabled", "mailbox_synced"}
TEAM_KEYS = {"id", "name", "user_ids"}
PIPELINE_KEYS = {"id", "name", "is_default"}
STEP_KEYS = {"id", "name", "position", "pipeline_id"}
ACTIVITY_KEYS = {"id", "name"}
TEMPLATE_KEYS = {"id", "name", "subject", "body", "shared", "user_id"}
LEAD_KEYS = {"id", "title", "description", "status", "step_id", "user_id", "amount", "currency", "tags",
             "remind_date", "remind_activity_id", "created_at", "updated_at", "closed_at", "activities", "emails"}
LOGGED_KEYS = {"id", "activity_id", "user_id", "content", "created_at"}
EMAIL_KEYS = {"id", "email_template_id", "from_user_id", "to", "subject", "body", "sent_at"}

_T0 = "2026-01-05T09:00:00.000Z"


def _user(uid: int, first: str, last: str, email: str, admin: bool = False, synced: bool = True) -> dict[str, Any]:
    return {"id": uid, "firstname": first, "lastname": last, "email": email, "is_admin": admin,
            "is_disabled": False, "mailbox_synced": synced}


def _lead(lid: int, title: str, description: str, step_id: int, user_id: int | None = None) -> dict[str, Any]:
    return {"id": lid, "title": title, "description": description, "status": "todo", "step_id": step_id,
            "user_id": user_id, "amount": 0.0, "currency": "EUR", "tags": [], "remind_date": None,
            "remind_activity_id": None, "created_at": _T0, "updated_at": _T0, "closed_at": None,
            "activities": [], "emails": []}


def default_document() -> dict[str, Any]:
    """The demo account: two admins and three sales people (one without a synchronised mailbox), two teams, two
    pipelines of steps, four activities, three e-mail templates (one not shared, one using a field some leads
    lack) and four leads (one without an e-mail address)."""
    return {
        "account": {"subdomain": "passerelle-demo", "random_seed": 7, "rate_limit_per_minute": None,
                    "rate_limit_window_seconds": 60},
        "api_keys": [DEFAULT_KEY],
        "users": [_user(1, "Camille", "Bernard", "admin@passerelle.dev", admin=True),
                  _user(2, "Rana", "Haddad", "rana@passerelle.dev"),
                  _user(3, "Louis", "Martin", "louis@passerelle.dev", synced=False),
                  _user(4, "Inès", "Roy", "ines@passerelle.dev"),
                  _user(5, "Paul", "Girard", "paul@passerelle.dev", admin=True)],
        "teams": [{"id": 24, "name": "Ventes web", "user_ids": [2, 3]},
                  {"id": 25, "name": "Grands comptes", "user_ids": [4, 5]}],
        "pipelines": [{"id": 1, "name": "Ventes", "is_default": True},
                      {"id": 2, "name": "Partenariats", "is_default": False}],
        "steps": [{"id": 21, "name": "Entrant", "position": 1, "pipeline_id": 1},
                  {"id": 22, "name": "Contacté", "position": 2, "pipeline_id": 1},
                  {"id": 23, "name": "Proposition", "position": 3, "pipeline_id": 1},
                  {"id": 24, "name": "Négociation", "position": 4, "pipeline_id": 1},
                  {"id": 31, "name": "Premier contact", "position": 1, "pipeline_id": 2},
                  {"id": 32, "name": "Accord", "position": 2, "pipeline_id": 2}],
        "activities": [{"id": 45, "name": "Appel"}, {"id": 46, "name": "E-mail"},
                       {"id": 47, "name": "Rendez-vous"}, {"id": 48, "name": "Démo"}],
        "email_templates": [
            {"id": 12, "name": "Bienvenue", "shared": True, "user_id": 1,
             "subject": "Bienvenue chez Passerelle, {{lead.contact}}",
             "body": "Bonjour {{lead.contact}},\n\nMerci pour votre intérêt ({{lead.title}}).\n\n"
                     "{{user.firstname}} {{user.lastname}}"},
            {"id": 13, "name": "Relance personnelle", "shared": False, "user_id": 2,
             "subject": "Petite relance", "body": "Bonjour {{lead.contact}}, avez-vous pu regarder notre offre ?"},
            {"id": 14, "name": "Offre entreprise", "shared": True, "user_id": 1,
             "subject": "Offre pour {{lead.entreprise}}",
             "body": "Bonjour {{lead.contact}},\n\nVoici notre offre pour {{lead.entreprise}}.\n\n{{user.firstname}}"},
        ],
        "leads": [
            _lead(145676, "Boulangerie Dupont — site web",
                  "Contact: Marie Dupont\nEmail: marie@boulangerie-dupont.fr\nEntreprise: Boulangerie Dupont", 21),
            _lead(145677, "Garage Lemieux — flotte", "Contact: Jean Lemieux\nEmail: jean@garage-lemieux.fr", 22, 2),
            _lead(145678, "Fleuriste du marché", "Contact: Claire Petit\nTéléphone: 01 23 45 67 89", 21),
            _lead(145679, "Cabinet Moreau — partenariat",
                  "Contact: Luc Moreau\nEmail: luc@cabinet-moreau.fr\nEntreprise: Cabinet Moreau", 31, 4),
        ],
    }


class NocrmError(Exception):
    """An answer in noCRM's error shape: ``{"error": <status>, "message": <prose>, "type": <code>}``."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": status, "message": message, "type": kind}
        self.headers = headers or {}


def not_found(message: str = "Record not found") -> NocrmError:
    return NocrmError(404, "record_not_found", message)


def missing(name: str) -> NocrmError:
    return NocrmError(422, "missing_parameter", f"{name} is missing")


def invalid(message: str) -> NocrmError:
    return NocrmError(422, "invalid_parameter", message)


def now_iso() -> str:
    """Now, as noCRM writes times: ``2026-01-05T09:00:00.000Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# --- validation -------------------------------------------------------------------------------------------

def _rows(kind: str, rows: Any, allowed: set[str]) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise ValueError(f"{kind}s must be a list")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"every {kind} must be an object; got {row!r}")
        unknown = set(row) - allowed
        if unknown:
            raise ValueError(f"unknown {kind} keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        out.append(dict(row))
    given = [r["id"] for r in out if r.get("id") is not None]
    if any(not isinstance(i, int) or isinstance(i, bool) or i < 1 for i in given):
        raise ValueError(f"{kind} ids must be positive integers")
    if len(given) != len(set(given)):
        raise ValueError(f"duplicate {kind} ids")
    following = max(given, default=0)
    for row in out:
        if row.get("id") is None:
            following += 1
            row["id"] = following
    return out


def _need(kind: str, value: Any, known: dict[int, Any], what: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in known:
        raise ValueError(f"{kind}: {what} {value!r} does not exist")


def parse_document(document: dict[str, Any]) -> dict[str, Any]:
    """A validated, normalised copy of a state document (defaults for the keys left out)."""
    if not isinstance(document, dict):
        raise ValueError("the state document must be a JSON object")
    default = default_document()
    unknown = set(document) - set(default)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {sorted(default)}")
    doc = {**default, **document}
    account = {**default["account"], **(doc["account"] or {})}
    if set(account) - ACCOUNT_KEYS:
        raise ValueError(f"unknown account keys {sorted(set(account) - ACCOUNT_KEYS)}")
    limit = account["rate_limit_per_minute"]
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError("account.rate_limit_per_minute must be a positive integer or null")
    if not isinstance(account["rate_limit_window_seconds"], int | float) or account["rate_limit_window_seconds"] <= 0:
        raise ValueError("account.rate_limit_window_seconds must be a positive number")
    keys = doc["api_keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError("api_keys must be a list of non-empty strings")
    users = {u["id"]: {"firstname": "", "lastname": "", "is_admin": False, "is_disabled": False,
                       "mailbox_synced": True, **u} for u in _rows("user", doc["users"], USER_KEYS)}
    for user in users.values():
        if not isinstance(user.get("email"), str) or "@" not in user["email"]:
            raise ValueError(f"user {user['id']}: email must be an e-mail address")
        user["email"] = user["email"].strip().lower()
    pipelines = {p["id"]: {"is_default": False, **p} for p in _rows("pipeline", doc["pipelines"], PIPELINE_KEYS)}
    steps = {s["id"]: s for s in _rows("step", doc["steps"], STEP_KEYS)}
    for step in steps.values():
        _need(f"step {step['id']}", step.get("pipeline_id"), pipelines, "pipeline_id")
        step.setdefault("position", step["id"])
    teams = {t["id"]: {"user_ids": [], **t} for t in _rows("team", doc["teams"], TEAM_KEYS)}
    for team in teams.values():
        for uid in team["user_ids"]:
            _need(f"team {team['id']}", uid, users, "user")
    activities = {a["id"]: a for a in _rows("activity", doc["activities"], ACTIVITY_KEYS)}
    templates = {t["id"]: {"subject": "", "body": "", "shared": True, "user_id": None, **t}
                 for t in _rows("email template", doc["email_templates"], TEMPLATE_KEYS)}
    for template in templates.values():
        _need(f"email template {template['id']}", template["user_id"], users, "user_id", optional=True)
    leads = {}
    default_pipeline = next((p for p in pipelines.values() if p["is_default"]), None)
    first = min((s for s in steps.values() if default_pipeline and s["pipeline_id"] == default_pipeline["id"]),
                key=lambda s: s["position"], default=None)
    for row in _rows("lead", doc["leads"], LEAD_KEYS):
        lead = {**_lead(row["id"], "", "", first["id"] if first else 0), **row}
        where = f"lead {lead['id']}"
        if lead["status"] not in STATUSES:
            raise ValueError(f"{where}: status must be one of {', '.join(STATUSES)}")
        _need(where, lead["step_id"], steps, "step_id")
        _need(where, lead["user_id"], users, "user_id", optional=True)
        if not isinstance(lead["tags"], list) or not all(isinstance(t, str) for t in lead["tags"]):
            raise ValueError(f"{where}: tags must be a list of strings")
        lead["activities"] = _rows(f"{where} activity", lead["activities"], LOGGED_KEYS)
        lead["emails"] = _rows(f"{where} email", lead["emails"], EMAIL_KEYS)
        leads[lead["id"]] = lead
    return {"account": account, "api_keys": list(keys), "users": users, "teams": teams, "pipelines": pipelines,
            "steps": steps, "activities": activities, "email_templates": templates, "leads": leads}
