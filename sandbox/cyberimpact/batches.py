"""Cyberimpact emulator, part 4: batches (`POST /batches`, `GET /batches/{id}`).

A batch is applied when it is created, but it is reported `queued` on its first poll and `completed` from
the second one on, so that clients have to poll as they must with the real, asynchronous API.
"""

from __future__ import annotations

from typing import Any

from sandbox.cyberimpact.model import (
    BATCH_TYPES,
    MAX_BATCH,
    FieldError,
    check_optional_date,
    check_optional_text,
    check_relation,
    consent_for,
    invalid,
    normalise_email,
    not_found,
    now_stamp,
)
from sandbox.cyberimpact.state import CyberimpactState


def create_batch(state: CyberimpactState, body: dict[str, Any]) -> dict[str, Any]:
    """Validate and apply a batch; store its record (status "queued") and return the 201 answer."""
    btype = body.get("batchType")
    if btype not in BATCH_TYPES:
        raise invalid("batchType", f"The selected batchType is invalid; one of: {', '.join(BATCH_TYPES)}.")
    stamp = now_stamp()
    try:
        if btype == "addMembers":
            members = _items(body, "members")
            relation = check_relation(body.get("relationType"))
            default_date = check_optional_date(body.get("defaultConsentDate"), "defaultConsentDate")
            default_proof = check_optional_text(body.get("defaultConsentProof"), "defaultConsentProof")
            groups = state.static_groups(body.get("groups"))
        else:
            ids = _items(body, "ids")
    except FieldError as exc:
        raise exc.api() from None
    if btype == "addMembers":
        errors = _add_members(state, members, relation, default_date, default_proof, groups, stamp)
        total = len(members)
    else:
        errors = _by_ids(state, btype, ids, stamp)
        total = len(ids)
    state.touch()
    bid = max(state.batches, default=0) + 1
    state.batches[bid] = {"id": bid, "batchType": btype, "status": "queued", "createdOn": stamp,
                          "result": {"successes": total - len(errors), "failures": len(errors),
                                     "errors": errors}}
    return {"id": bid, "batchType": btype, "status": "queued", "createdOn": stamp}


def poll_batch(state: CyberimpactState, key: str, show_errors: bool) -> dict[str, Any]:
    record = state.batches.get(int(key)) if key.strip().isdigit() else None
    if record is None:
        raise not_found("Batch")
    out = {"id": record["id"], "batchType": record["batchType"], "status": record["status"],
           "createdOn": record["createdOn"], "result": None}
    if record["status"] == "queued":
        record["status"] = "completed"  # the next poll sees the work done
        return out
    res = record["result"]
    out["result"] = {"successes": res["successes"], "failures": res["failures"]}
    if show_errors:
        out["result"]["errors"] = [dict(e) for e in res["errors"]]
    return out


def _items(body: dict[str, Any], field: str) -> list[Any]:
    items = body.get(field)
    if not isinstance(items, list) or not items:
        raise FieldError(field, f"The {field} field is required and must be a non-empty list.")
    if len(items) > MAX_BATCH:
        raise FieldError(field, f"The {field} may not have more than {MAX_BATCH} items.")
    return items


def _error(index: int, email: Any, message: str) -> dict[str, Any]:
    return {"index": index, "email": "" if email is None else str(email), "message": message}


def _add_members(state: CyberimpactState, members: list[Any], relation: str, default_date: str | None,
                 default_proof: str | None, groups: list[int], stamp: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    batch_groups = set(groups)
    for index, item in enumerate(members):
        raw_email = item.get("email") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise FieldError("member", "Each member must be an object.")
            email = normalise_email(raw_email)
            mid = state.by_email.get(email)
            m = None if mid is None else state.members[mid]
            if m is not None and m["status"] == "unsubscribed":
                errors.append(_error(index, raw_email, "member is unsubscribed"))
                continue
            fields, cf_set, cf_clear = state.prepare(item, batch=True)
            day = check_optional_date(item.get("consentDate"), "consentDate") or default_date
            proof = check_optional_text(item.get("consentProof"), "consentProof") or default_proof
        except FieldError as exc:
            errors.append(_error(index, raw_email, str(exc)))
            continue
        created = m is None
        if m is None:
            m = state.new_member(email, stamp)
        changed = state.apply(m, fields, cf_set, cf_clear)
        if not batch_groups.issubset(m["groups"]):
            m["groups"] = sorted(batch_groups.union(m["groups"]))
            changed = True
        if day is not None:
            consent = consent_for(relation, day, proof)
            # an express consent is never overridden by an implied relation (skipped silently)
            if not (m["consentType"] == "express" and consent["consentType"] == "implied") and any(
                    m[k] != v for k, v in consent.items()):
                m.update(consent)
                changed = True
        if changed and not created:
            m["updatedOn"] = stamp
    return errors


def _by_ids(state: CyberimpactState, btype: str, ids: list[Any], stamp: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for index, key in enumerate(ids):
        if isinstance(key, bool) or not isinstance(key, str | int):
            errors.append(_error(index, key, "invalid id"))
            continue
        m = state.find_member(key)
        if m is None:
            errors.append(_error(index, key, "member not found"))
        elif btype == "unsubscribe":
            state.unsubscribe(m, stamp)
        else:
            state.delete_member(m)
    return errors
