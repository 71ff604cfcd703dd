"""The iAdvize emulator's state document: parsing (with errors naming the field) and the default account.

The format is in docs/sandbox-iadvize.md ("State document"). `parse_document` validates a document and
returns it normalised: every key present, times as UTC `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, message ids filled
in (a UUID derived from the conversation id and the message's position, so a dump reloads unchanged).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

CHANNELS = ("APPLE_BUSINESS_CHAT", "CALL", "CHAT", "FACEBOOK", "FACEBOOK_BUSINESS_ON_MESSENGER",
            "GOOGLE_BUSINESS_MESSAGES", "INSTAGRAM", "MOBILE_APP", "SMS", "TWITTER", "VIDEO", "WHATSAPP")
USER_TYPES = ("Professional", "Expert", "Bot")
AUTHORS = ("visitor", "operator", "system")
PLATFORMS = ("ha", "sd")

DEFAULT_LOGIN = {"username": "demo@passerelle.dev", "password": "demo-password"}
DEFAULTS: dict[str, Any] = {
    "account": {"clientId": 335, "platform": "ha"},
    "logins": [DEFAULT_LOGIN],
    "tokenLifetime": 86400,
    "loginLimits": {"perUser": 10, "perIp": 100, "windowSeconds": 60.0},
    "webhook": {"url": None, "secret": None},
    "projects": [], "operators": [], "visitors": [], "conversations": [],
}
TOP_KEYS = set(DEFAULTS)


class DocumentError(ValueError):
    """An invalid state document; the message starts with the field's path."""


def _keys(obj: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DocumentError(f"{where}: expected an object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DocumentError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if obj.get(key) in (None, ""):
            raise DocumentError(f"{where}.{key}: required")
    return obj


def _int(value: Any, where: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DocumentError(f"{where}: expected an integer >= {low}, got {value!r}")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DocumentError(f"{where}: expected a string or null, got {value!r}")
    return value


def _uuid(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise DocumentError(f"{where}: expected a UUID, got {value!r}") from None


def stamp(moment: datetime) -> str:
    """UTC, ISO 8601 with a `Z`, microseconds only when there are some."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


def _time(value: Any, where: str) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise DocumentError(f"{where}: expected an ISO 8601 time like 2026-03-02T14:05:00Z, got {value!r}") from None
    if moment.tzinfo is None:
        raise DocumentError(f"{where}: the time {value!r} needs a time zone (Z or +01:00)")
    return stamp(moment)


def _unique(rows: list[dict[str, Any]], where: str) -> dict[Any, dict[str, Any]]:
    index: dict[Any, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        if row["id"] in index:
            raise DocumentError(f"{where}[{i}].id: {row['id']!r} is used twice")
        index[row["id"]] = row
    return index


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    rows = doc.get(key, [])
    if not isinstance(rows, list):
        raise DocumentError(f"{key}: expected a list")
    return rows


def _settings(doc: dict[str, Any]) -> dict[str, Any]:
    account = {**DEFAULTS["account"], **_keys(doc.get("account", {}), "account", {"clientId", "platform"})}
    _int(account["clientId"], "account.clientId")
    if account["platform"] not in PLATFORMS:
        raise DocumentError(f"account.platform: 'ha' or 'sd', got {account['platform']!r}")
    logins = []
    for i, login in enumerate(_list({"logins": doc.get("logins", DEFAULTS["logins"])}, "logins")):
        _keys(login, f"logins[{i}]", {"username", "password"}, ("username", "password"))
        logins.append({"username": str(login["username"]), "password": str(login["password"])})
    limits = {**DEFAULTS["loginLimits"],
              **_keys(doc.get("loginLimits", {}), "loginLimits", {"perUser", "perIp", "windowSeconds"})}
    _int(limits["perUser"], "loginLimits.perUser")
    _int(limits["perIp"], "loginLimits.perIp")
    if not isinstance(limits["windowSeconds"], int | float) or limits["windowSeconds"] <= 0:
        raise DocumentError(f"loginLimits.windowSeconds: a positive number, got {limits['windowSeconds']!r}")
    webhook = {**DEFAULTS["webhook"], **_keys(doc.get("webhook", {}), "webhook", {"url", "secret"})}
    return {"account": account, "logins": logins,
            "tokenLifetime": _int(doc.get("tokenLifetime", 86400), "tokenLifetime"), "loginLimits": limits,
            "webhook": {"url": _text(webhook["url"], "webhook.url"),
                        "secret": _text(webhook["secret"], "webhook.secret")}}


def _people(doc: dict[str, Any]) -> dict[str, Any]:
    projects = []
    for i, p in enumerate(_list(doc, "projects")):
        _keys(p, f"projects[{i}]", {"id", "name", "country"}, ("id", "name"))
        projects.append({"id": _int(p["id"], f"projects[{i}].id"), "name": str(p["name"]),
                         "country": _text(p.get("country"), f"projects[{i}].country")})
    operators = []
    for i, o in enumerate(_list(doc, "operators")):
        where = f"operators[{i}]"
        _keys(o, where, {"id", "type", "firstName", "lastName", "email"}, ("id",))
        kind = o.get("type", "Professional")
        if kind not in USER_TYPES:
            raise DocumentError(f"{where}.type: one of {', '.join(USER_TYPES)}, got {kind!r}")
        operators.append({"id": _int(o["id"], f"{where}.id"), "type": kind,
                          **{k: _text(o.get(k), f"{where}.{k}") for k in ("firstName", "lastName", "email")}})
    visitors = []
    for i, v in enumerate(_list(doc, "visitors")):
        where = f"visitors[{i}]"
        _keys(v, where, {"id", "firstName", "lastName", "email", "country", "externalId"}, ("id",))
        visitors.append({"id": _uuid(v["id"], f"{where}.id"),
                         **{k: _text(v.get(k), f"{where}.{k}")
                            for k in ("firstName", "lastName", "email", "country", "externalId")}})
    return {"projects": projects, "operators": operators, "visitors": visitors}


def _named(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    _keys(value, where, {"id", "name"}, ("id", "name"))
    return {"id": _uuid(value["id"], f"{where}.id"), "name": str(value["name"])}


def _message(m: Any, where: str, conversation_id: str, n: int, operators: dict[int, Any]) -> dict[str, Any]:
    _keys(m, where, {"id", "createdAt", "author", "operatorId", "text", "pushedTo"}, ("createdAt", "author"))
    if m["author"] not in AUTHORS:
        raise DocumentError(f"{where}.author: one of {', '.join(AUTHORS)}, got {m['author']!r}")
    operator_id = m.get("operatorId")
    if (m["author"] == "operator") != (operator_id is not None):
        raise DocumentError(f"{where}.operatorId: required for an operator message, and only there")
    for key, value in (("operatorId", operator_id), ("pushedTo", m.get("pushedTo"))):
        if value is not None and _int(value, f"{where}.{key}") not in operators:
            raise DocumentError(f"{where}.{key}: no operator {value}")
    if m.get("pushedTo") is not None and m["author"] != "system":
        raise DocumentError(f"{where}.pushedTo: only a system message records a push")
    default_id = uuid.uuid5(uuid.UUID(conversation_id), f"message-{n}")
    return {"id": _uuid(m.get("id") or default_id, f"{where}.id"),
            "createdAt": _time(m["createdAt"], f"{where}.createdAt"),
            "author": m["author"], "operatorId": operator_id, "text": _text(m.get("text"), f"{where}.text") or "",
            "pushedTo": m.get("pushedTo")}


def _conversations(doc: dict[str, Any], people: dict[str, Any]) -> list[dict[str, Any]]:
    projects = {p["id"] for p in people["projects"]}
    visitors = {v["id"] for v in people["visitors"]}
    operators = {o["id"]: o for o in people["operators"]}
    rows = []
    for i, c in enumerate(_list(doc, "conversations")):
        where = f"conversations[{i}]"
        _keys(c, where, {"id", "projectId", "channel", "visitorId", "createdAt", "closedAt", "engagementCampaign",
                         "targetingRule", "messages"}, ("id", "projectId", "createdAt"))
        cid = _uuid(c["id"], f"{where}.id")
        if _int(c["projectId"], f"{where}.projectId") not in projects:
            raise DocumentError(f"{where}.projectId: no project {c['projectId']}")
        visitor = c.get("visitorId")
        if visitor is not None and _uuid(visitor, f"{where}.visitorId") not in visitors:
            raise DocumentError(f"{where}.visitorId: no visitor {visitor}")
        channel = c.get("channel", "CHAT")
        if channel not in CHANNELS:
            raise DocumentError(f"{where}.channel: one of {', '.join(CHANNELS)}, got {channel!r}")
        messages = [_message(m, f"{where}.messages[{n}]", cid, n, operators)
                    for n, m in enumerate(_list({"messages": c.get("messages", [])}, "messages"))]
        rows.append({"id": cid, "projectId": c["projectId"], "channel": channel,
                     "visitorId": _uuid(visitor, f"{where}.visitorId") if visitor else None,
                     "createdAt": _time(c["createdAt"], f"{where}.createdAt"),
                     "closedAt": _time(c["closedAt"], f"{where}.closedAt") if c.get("closedAt") else None,
                     "engagementCampaign": _named(c.get("engagementCampaign"), f"{where}.engagementCampaign"),
                     "targetingRule": _named(c.get("targetingRule"), f"{where}.targetingRule"),
                     "messages": sorted(messages, key=lambda m: m["createdAt"])})
    return rows


def parse_document(doc: Any) -> dict[str, Any]:
    """Validate and normalise a state document (docs/sandbox-iadvize.md)."""
    doc = _keys(doc, "document", TOP_KEYS)
    people = _people(doc)
    for key in ("projects", "operators", "visitors"):
        _unique(people[key], key)
    conversations = _conversations(doc, people)
    _unique(conversations, "conversations")
    return {**_settings(doc), **people, "conversations": conversations}
