"""Mailchimp emulator, part 2: one account in memory (API keys, audiences, members, tags) and the rules of the
member upsert and the tags call.

Rules kept from the live API (API-NOTES §8, vendor error answers seen in public issue threads):

- ``PUT …/members/{subscriber_hash}``: the path takes the MD5 of the lower-cased address (or the address itself);
  ``email_address`` and ``status_if_new`` are required for a new member; ``status`` changes an existing one.
  A path hash that is not the body address's while that address is already a member → 400 "Member Exists".
- Compliance: a member who unsubscribed or was cleaned cannot be set ``subscribed`` again by API (400 "Member In
  Compliance State"; pending is allowed after an unsubscribe, not after a bounce); a permanently deleted
  address (``forgotten``) cannot be added back (400 "Forgotten Email Not Subscribed").
- Merge fields: tags the audience does not have are ignored; a required one missing on a new member → 400
  "Your merge fields were invalid." unless ``skip_merge_validation=true``.
- ``POST …/tags``: ``active`` adds (creating an unknown tag), ``inactive`` removes; 204; unknown member → 404.

`reset`, `load` and `dump` take `lock` themselves; the routes hold `lock` around every other call.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from sandbox.budget import RequestBudget
from sandbox.mailchimp.document import (
    EMAIL,
    STATUSES,
    MailchimpError,
    invalid,
    member_hash,
    not_found,
    now_iso,
    parse_document,
)

COMPLIANCE = ("{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be "
              "subscribed.")


class MailchimpState:
    """One Mailchimp account."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.budget = RequestBudget()
        self.reset()

    # --- control protocol --------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.load({})
            self.budget.set(None)

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.api_keys: list[str] = fresh["api_keys"]
            self.lists: dict[str, dict[str, Any]] = fresh["lists"]

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"api_keys": list(self.api_keys), "lists": [self._dump_list(a) for a in self.lists.values()]}

    @staticmethod
    def _dump_list(audience: dict[str, Any]) -> dict[str, Any]:
        return {"id": audience["id"], "name": audience["name"],
                "merge_fields": [{k: f[k] for k in ("tag", "name", "type", "required")}
                                 for f in audience["merge_fields"]],
                "members": [{"email_address": m["email_address"], "status": m["status"],
                             "merge_fields": dict(m["merge_fields"]), "tags": [t["name"] for t in m["tags"]],
                             "language": m["language"], "vip": m["vip"], "timestamp_signup": m["timestamp_signup"],
                             "timestamp_opt": m["timestamp_opt"], "last_changed": m["last_changed"]}
                            for m in audience["members"].values()],
                "forgotten": sorted(audience["forgotten"])}

    # --- lookups -----------------------------------------------------------------------------------------
    def audience(self, list_id: str) -> dict[str, Any]:
        found = self.lists.get(list_id)
        if found is None:
            raise not_found()
        return found

    @staticmethod
    def key_of(audience: dict[str, Any], subscriber: str) -> str:
        """The member key a path segment names: the hash itself, or an e-mail address (hashed)."""
        return member_hash(subscriber) if "@" in subscriber else subscriber.lower()

    def member(self, list_id: str, subscriber: str) -> dict[str, Any]:
        audience = self.audience(list_id)
        found = audience["members"].get(self.key_of(audience, subscriber))
        if found is None:
            raise not_found()
        return found

    # --- upsert ------------------------------------------------------------------------------------------
    def upsert(self, list_id: str, subscriber: str, body: Any, skip_merge_validation: bool) -> dict[str, Any]:
        audience = self.audience(list_id)
        if not isinstance(body, dict):
            raise invalid(("", "Schema describes object, " + type(body).__name__ + " found instead"))
        key = self.key_of(audience, subscriber)
        existing = audience["members"].get(key)
        email = body.get("email_address")
        if existing is None:
            missing = [f for f in ("email_address", "status_if_new") if f not in body]
            if missing:
                raise invalid(("", f"Required fields were not provided: {', '.join(missing)}"))
        self._check_fields(body)
        if email is not None:
            address = email.strip()
            other = audience["members"].get(member_hash(address))
            if other is not None and other is not existing:
                raise MailchimpError(400, "Member Exists", f"{address} is already a list member. Use PUT to insert "
                                     "or update list members.")
        if existing is None:
            return self._create(audience, key, body, skip_merge_validation)
        return self._update(audience, existing, body)

    @staticmethod
    def _check_fields(body: dict[str, Any]) -> None:
        email = body.get("email_address")
        if email is not None and not isinstance(email, str):
            raise invalid(("email_address", f"Schema describes string, {type(email).__name__} found instead"))
        if isinstance(email, str) and not email.strip():
            raise invalid(("email_address", "This value should not be blank."))
        if isinstance(email, str) and not EMAIL.fullmatch(email.strip()):
            raise invalid(("email_address", "Please provide a valid email address."),
                          detail=f"{email.strip()} looks fake or invalid, please enter a real email address.")
        for name in ("status", "status_if_new"):
            value = body.get(name)
            if value is not None and value not in STATUSES:
                raise invalid((name, f"Value must be one of: {', '.join(STATUSES)}"))
        merge = body.get("merge_fields")
        if merge is not None and not isinstance(merge, dict):
            raise invalid(("merge_fields", "Schema describes object, " + type(merge).__name__ + " found instead"))
        for tag, value in (merge or {}).items():
            if isinstance(value, dict | list):
                raise invalid((f"merge_fields.{tag}", "Data did not match any of the schemas described in anyOf."))

    @staticmethod
    def _merge(audience: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
        """The merge fields the audience has, from `given` (others are ignored, as Mailchimp does)."""
        known = {f["tag"] for f in audience["merge_fields"]}
        return {tag: ("" if value is None else value) for tag, value in (given or {}).items() if tag in known}

    def _create(self, audience: dict[str, Any], key: str, body: dict[str, Any], skip: bool) -> dict[str, Any]:
        address = body["email_address"].strip()
        if member_hash(address) != key:
            key = member_hash(address)  # the path named someone else: the member is keyed by its address
        if address.lower() in audience["forgotten"]:
            raise MailchimpError(400, "Forgotten Email Not Subscribed", f"{address} was permanently deleted and "
                                 "cannot be re-imported. The contact must re-subscribe to get back on the list.")
        merge = self._merge(audience, body.get("merge_fields"))
        if not skip:
            missing = [f["tag"] for f in audience["merge_fields"]
                       if f["required"] and merge.get(f["tag"]) in (None, "")]
            if missing:
                raise invalid(*((tag, "Please enter a value") for tag in missing),
                              detail="Your merge fields were invalid.")
        status = body.get("status") or body["status_if_new"]
        stamp = now_iso()
        member = {"email_address": address, "status": status,
                  "merge_fields": {f["tag"]: merge.get(f["tag"], "") for f in audience["merge_fields"]},
                  "tags": [], "language": str(body.get("language") or ""), "vip": bool(body.get("vip", False)),
                  "timestamp_signup": body.get("timestamp_signup") or "",
                  "timestamp_opt": body.get("timestamp_opt") or (stamp if status == "subscribed" else ""),
                  "last_changed": stamp}
        audience["members"][key] = member
        return member

    def _update(self, audience: dict[str, Any], member: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        status = body.get("status")
        if status is not None and status != member["status"]:
            blocked = {"subscribed"} if member["status"] == "unsubscribed" else {"subscribed", "pending"}
            if member["status"] in ("unsubscribed", "cleaned") and status in blocked:
                raise MailchimpError(400, "Member In Compliance State",
                                     COMPLIANCE.format(email=member["email_address"]))
        changed = False
        merge = self._merge(audience, body.get("merge_fields"))
        if any(member["merge_fields"].get(tag) != value for tag, value in merge.items()):
            member["merge_fields"].update(merge)
            changed = True
        for field in ("language", "vip"):
            if field in body and body[field] != member[field]:
                member[field], changed = body[field], True
        if status is not None and status != member["status"]:
            member["status"], changed = status, True
            if status == "subscribed":
                member["timestamp_opt"] = now_iso()
        if changed:
            member["last_changed"] = now_iso()
        return member

    # --- tags --------------------------------------------------------------------------------------------
    def set_tags(self, list_id: str, subscriber: str, body: Any) -> None:
        audience = self.audience(list_id)
        member = self.member(list_id, subscriber)
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list):
            raise invalid(("", "Required fields were not provided: tags"))
        for i, tag in enumerate(tags):
            if not isinstance(tag, dict) or not isinstance(tag.get("name"), str) or not tag["name"].strip():
                raise invalid((f"tags.{i}.name", "This value should not be blank."))
            if tag.get("status") not in ("active", "inactive"):
                raise invalid((f"tags.{i}.status", "Value must be one of: inactive, active"))
        stamp = now_iso()
        for tag in tags:
            name = tag["name"].strip()
            held = next((t for t in member["tags"] if t["name"].lower() == name.lower()), None)
            if tag["status"] == "active" and held is None:
                tag_id = audience["tags"].setdefault(name, len(audience["tags"]) + 1)
                member["tags"].append({"id": tag_id, "name": name, "date_added": stamp})
            elif tag["status"] == "inactive" and held is not None:
                member["tags"].remove(held)

    # --- rendering ---------------------------------------------------------------------------------------
    @staticmethod
    def render_member(list_id: str, member: dict[str, Any]) -> dict[str, Any]:
        key = member_hash(member["email_address"])
        merge = member["merge_fields"]
        return {"id": key, "email_address": member["email_address"],
                "unique_email_id": key[:10], "contact_id": str(uuid.UUID(key)), "web_id": int(key[:7], 16),
                "full_name": " ".join(str(merge[t]) for t in ("FNAME", "LNAME") if merge.get(t)),
                "email_type": "html", "status": member["status"], "merge_fields": dict(merge), "interests": {},
                "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "",
                "timestamp_signup": member["timestamp_signup"], "ip_opt": "", "timestamp_opt": member["timestamp_opt"],
                "member_rating": 2, "last_changed": member["last_changed"], "language": member["language"],
                "vip": member["vip"], "email_client": "", "source": "API - Generic",
                "tags_count": len(member["tags"]), "tags": [{"id": t["id"], "name": t["name"]} for t in member["tags"]],
                "list_id": list_id, "_links": []}

    def render_list(self, audience: dict[str, Any]) -> dict[str, Any]:
        counts = {s: sum(1 for m in audience["members"].values() if m["status"] == s) for s in STATUSES}
        return {"id": audience["id"], "web_id": int(member_hash(audience["id"])[:6], 16), "name": audience["name"],
                "date_created": audience["date_created"], "list_rating": 0, "email_type_option": False,
                "visibility": "prv", "double_optin": False, "marketing_permissions": False,
                "stats": {"member_count": counts["subscribed"], "unsubscribe_count": counts["unsubscribed"],
                          "cleaned_count": counts["cleaned"]}, "_links": []}
