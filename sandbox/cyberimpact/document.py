"""Cyberimpact emulator, part 3: the state document (what `PUT|GET /_sandbox/cyberimpact/state` carry).

`parse_document` validates and normalises a document into the internal tables of `CyberimpactState`;
it raises KeyError/TypeError/ValueError (answered 422 by the control API) and never half-loads.
Normalising means: defaults filled in, e-mails lower-cased, countries upper-cased, custom field values in
their stored type, member group ids sorted, every list sorted by id. The format is in docs/sandbox.md.
"""

from __future__ import annotations

from typing import Any

from sandbox.cyberimpact.model import (
    BATCH_TYPES,
    CONSENT_FIELDS,
    DEFAULT_TOKEN,
    FIELD_TYPES,
    MEMBER_KEYS,
    MEMBER_STATUSES,
    PLANS,
    FieldError,
    apply_fields,
    blank_member,
    check_criteria,
    check_optional_date,
    check_optional_text,
    check_relation,
    check_static_groups,
    consent_for,
    flag,
    is_date,
    is_stamp,
    normalise_email,
    now_stamp,
    prepare_fields,
)

DEFAULT_ACCOUNT = {"id": 1, "name": "Sandbox", "plan": "pro", "customFieldsLimit": 50}
GROUP_KEYS = ("id", "title", "isPublic", "isDynamic", "criteria", "createdOn")
COMPUTED_GROUP_KEYS = ("membersCount", "mailingsCount")  # accepted (and ignored) so GET /groups output loads


def _keys(obj: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TypeError(f"{what} must be an object")
    unknown = set(obj) - set(allowed)
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}")
    return obj


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer")
    return value


def _stamp(value: Any, what: str, default: str) -> str:
    if value is None:
        return default
    if not is_stamp(value):
        raise ValueError(f"{what} must be 'YYYY-MM-DD HH:MM:SS'")
    return value


def parse_document(doc: dict[str, Any]) -> dict[str, Any]:
    doc = _keys(doc, ("account", "tokens", "customFields", "groups", "members", "batches"), "state")
    stamp = now_stamp()
    acc = _keys(doc.get("account") or {}, tuple(DEFAULT_ACCOUNT), "account")
    account = dict(DEFAULT_ACCOUNT, **acc)
    _int(account["id"], "account.id")
    if not isinstance(account["name"], str):
        raise TypeError("account.name must be a string")
    if account["plan"] not in PLANS:
        raise ValueError(f"account.plan must be one of {PLANS}")
    if _int(account["customFieldsLimit"], "account.customFieldsLimit") < 0:
        raise ValueError("account.customFieldsLimit must be >= 0")

    tokens = doc.get("tokens", [DEFAULT_TOKEN])
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise TypeError("tokens must be a list of non-empty strings")

    custom_fields: dict[int, dict[str, Any]] = {}
    for f in doc.get("customFields") or []:
        f = _keys(f, ("id", "name", "type"), "customFields[]")
        fid = _int(f["id"], "customFields[].id")
        if fid in custom_fields:
            raise ValueError(f"duplicate custom field id {fid}")
        if not isinstance(f["name"], str) or not f["name"]:
            raise ValueError(f"custom field {fid}: name must be a non-empty string")
        if f["type"] not in FIELD_TYPES:
            raise ValueError(f"custom field {fid}: type must be one of {FIELD_TYPES}")
        custom_fields[fid] = {"id": fid, "name": f["name"], "type": f["type"]}

    groups: dict[int, dict[str, Any]] = {}
    titles: set[str] = set()
    for g in doc.get("groups") or []:
        g = _keys(g, GROUP_KEYS + COMPUTED_GROUP_KEYS, "groups[]")
        gid = _int(g["id"], "groups[].id")
        if gid in groups:
            raise ValueError(f"duplicate group id {gid}")
        title = g["title"]
        if not isinstance(title, str) or not title.strip() or title.strip().casefold() in titles:
            raise ValueError(f"group {gid}: title must be a non-empty unique string")
        titles.add(title.strip().casefold())
        dynamic = flag(g.get("isDynamic", False), "isDynamic")
        groups[gid] = {"id": gid, "title": title.strip(),
                       "isPublic": flag(g.get("isPublic", False), "isPublic"), "isDynamic": dynamic,
                       "criteria": check_criteria(g.get("criteria"), custom_fields) if dynamic else None,
                       "createdOn": _stamp(g.get("createdOn"), f"group {gid}: createdOn", stamp)}
        if not dynamic and g.get("criteria") is not None:
            raise ValueError(f"group {gid}: a static group has no criteria")

    raw_members = doc.get("members") or []
    if not isinstance(raw_members, list):
        raise TypeError("members must be a list")
    given_ids = [m.get("id") for m in raw_members if isinstance(m, dict) and m.get("id") is not None]
    next_id = max((i for i in given_ids if isinstance(i, int)), default=0) + 1
    members: dict[int, dict[str, Any]] = {}
    by_email: dict[str, int] = {}
    for raw in raw_members:
        raw = _keys(raw, MEMBER_KEYS, "members[]")
        if raw.get("id") is None:
            mid, next_id = next_id, next_id + 1
        else:
            mid = _int(raw["id"], "members[].id")
        if mid in members:
            raise ValueError(f"duplicate member id {mid}")
        try:
            email = normalise_email(raw.get("email"))
            if email in by_email:
                raise ValueError(f"member {mid}: duplicate email {email}")
            fields, cf_set, _ = prepare_fields(custom_fields, raw, batch=False)
            groups_of = check_static_groups(groups, raw.get("groups"))
        except FieldError as exc:
            raise ValueError(f"member {mid}: {exc}") from None
        m = blank_member(mid, email, stamp)
        apply_fields(m, fields, cf_set, set())
        m["groups"] = sorted(set(groups_of))
        m["joinedOn"] = _stamp(raw.get("joinedOn"), f"member {mid}: joinedOn", stamp)
        m["updatedOn"] = _stamp(raw.get("updatedOn"), f"member {mid}: updatedOn", m["joinedOn"])
        status = raw.get("status") or "active"
        if status not in MEMBER_STATUSES:
            raise ValueError(f"member {mid}: status must be one of {MEMBER_STATUSES}")
        m["status"] = status
        _load_consent(m, raw, mid)
        members[mid] = m
        by_email[email] = mid
    members = dict(sorted(members.items()))

    batches: dict[int, dict[str, Any]] = {}
    for b in doc.get("batches") or []:
        b = _keys(b, ("id", "batchType", "status", "createdOn", "result"), "batches[]")
        bid = _int(b["id"], "batches[].id")
        if b["batchType"] not in BATCH_TYPES or b.get("status", "completed") not in ("queued", "completed"):
            raise ValueError(f"batch {bid}: bad batchType or status")
        res = _keys(b.get("result") or {}, ("successes", "failures", "errors"), f"batch {bid}: result")
        errors = [dict(_keys(e, ("index", "email", "message"), "batch error")) for e in res.get("errors", [])]
        batches[bid] = {"id": bid, "batchType": b["batchType"], "status": b.get("status", "completed"),
                        "createdOn": _stamp(b.get("createdOn"), f"batch {bid}: createdOn", stamp),
                        "result": {"successes": _int(res.get("successes", 0), "successes"),
                                   "failures": _int(res.get("failures", 0), "failures"), "errors": errors}}
    return {"account": account, "tokens": list(tokens), "custom_fields": dict(sorted(custom_fields.items())),
            "groups": dict(sorted(groups.items())), "members": members, "by_email": by_email,
            "next_member_id": max(members, default=0) + 1, "batches": dict(sorted(batches.items()))}


def _load_consent(m: dict[str, Any], raw: dict[str, Any], mid: int) -> None:
    relation = raw.get("relationType")
    if relation is None:
        for k in CONSENT_FIELDS:
            if raw.get(k) is not None:
                raise ValueError(f"member {mid}: {k} given without relationType")
        return
    try:
        check_relation(relation)
        day = check_optional_date(raw.get("consentDate"), "consentDate")
        proof = check_optional_text(raw.get("consentProof"), "consentProof")
    except FieldError as exc:
        raise ValueError(f"member {mid}: {exc}") from None
    consent = consent_for(relation, day, proof)
    if "consentType" in raw:
        if raw["consentType"] not in ("express", "implied"):
            raise ValueError(f"member {mid}: consentType must be express or implied")
        consent["consentType"] = raw["consentType"]
    if "consentExpiration" in raw:
        if raw["consentExpiration"] is not None and not is_date(raw["consentExpiration"]):
            raise ValueError(f"member {mid}: consentExpiration must be Y-m-d or null")
        consent["consentExpiration"] = raw["consentExpiration"]
    m.update(consent)
