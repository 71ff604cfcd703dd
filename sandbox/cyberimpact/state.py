"""Cyberimpact emulator, part 2: the in-memory account (members, groups, custom fields, tokens, batches).

Members are stored as dicts already in their API shape, indexed by id (insertion order = id order) and by
lower-cased e-mail. Every mutation bumps `version`, which invalidates the cached filtered/sorted lists and
group counts, so paging through a large list costs one linear pass per change, not per page.

The state document read by `load` and written by `dump` is described in docs/sandbox.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox.cyberimpact.document import parse_document
from sandbox.cyberimpact.model import (
    CONSENT_FIELDS,
    FIELD_TYPES,
    ApiError,
    FieldError,
    apply_fields,
    blank_member,
    canonical,
    check_criteria,
    check_optional_date,
    check_optional_text,
    check_relation,
    check_static_groups,
    consent_for,
    flag,
    normalise_email,
    not_found,
    now_stamp,
    prepare_fields,
    today,
)

MEMBER_SORTS: dict[str, tuple[Callable[[dict[str, Any]], Any], bool]] = {
    "id_asc": (lambda m: m["id"], False),
    "id_desc": (lambda m: m["id"], True),
    "email_asc": (lambda m: m["email"], False),
    "email_desc": (lambda m: m["email"], True),
    "updated_asc": (lambda m: (m["updatedOn"], m["id"]), False),
    "updated_desc": (lambda m: (m["updatedOn"], m["id"]), True),
}


class CyberimpactState:
    """One Cyberimpact account.

    `reset`, `load` and `dump` take `lock` themselves (the control API calls them from worker threads);
    the HTTP routes hold `lock` around every other call.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # --- control protocol --------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.load({})

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document)
        with self.lock:
            self.__dict__.update(fresh)
            self.version = getattr(self, "version", 0) + 1
            self._cache: dict[Any, Any] = {}
            self._cache_version = -1

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "account": dict(self.account),
                "tokens": list(self.tokens),
                "customFields": [dict(f) for f in self.custom_fields.values()],
                "groups": [dict(g, criteria=_copy_criteria(g["criteria"])) for g in self.groups.values()],
                "members": [copy_member(m) for m in self.members.values()],
                "batches": [dict(b, result=dict(b["result"], errors=[dict(e) for e in b["result"]["errors"]]))
                            for b in self.batches.values()],
            }

    # --- helpers -----------------------------------------------------------------------------------------

    def touch(self) -> None:
        self.version += 1

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self._cache_version != self.version:
            self._cache = {}
            self._cache_version = self.version
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def find_member(self, key: Any) -> dict[str, Any] | None:
        text = str(key).strip()
        if text.isdigit():
            return self.members.get(int(text))
        mid = self.by_email.get(text.lower())
        return None if mid is None else self.members[mid]

    def member(self, key: str) -> dict[str, Any]:
        m = self.find_member(key)
        if m is None:
            raise not_found("Member")
        return m

    def group(self, key: str) -> dict[str, Any]:
        g = self.groups.get(int(key)) if key.strip().isdigit() else None
        if g is None:
            raise not_found("Group")
        return g

    def static_groups(self, value: Any, field: str = "groups") -> list[int]:
        return check_static_groups(self.groups, value, field)

    # --- reading -----------------------------------------------------------------------------------------

    def member_list(self, status: str, sort: str, group_id: int | None = None) -> list[dict[str, Any]]:
        """Members with `status` (active|unsubscribed|all), sorted, optionally restricted to a group."""

        def compute() -> list[dict[str, Any]]:
            rows = self.members.values()
            if status != "all":
                rows = [m for m in rows if m["status"] == status]
            if group_id is not None:
                test = self.matcher(self.groups[group_id])
                rows = [m for m in rows if test(m)]
            keyf, reverse = MEMBER_SORTS[sort]
            if sort == "id_asc":
                return list(rows)
            return sorted(rows, key=keyf, reverse=reverse)

        return self.cached(("members", status, sort, group_id), compute)

    def matcher(self, group: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
        """Membership test for a group: static = listed in member.groups; dynamic = criteria on read."""
        gid = group["id"]
        if not group["isDynamic"]:
            return lambda m: gid in m["groups"]
        tests: list[Callable[[dict[str, Any]], bool]] = []
        for rule in group["criteria"]["rules"]:
            if rule["field"] == "groupTitle":
                needle = rule["value"].casefold()
                ids = frozenset(g["id"] for g in self.groups.values()
                                if not g["isDynamic"] and needle in g["title"].casefold())
                tests.append(lambda m, ids=ids: not ids.isdisjoint(m["groups"]))
            else:
                key, target = rule["customFieldId"], canonical(rule["value"])
                tests.append(lambda m, k=key, t=target: k in m["customFields"]
                             and canonical(m["customFields"][k]) == t)
        if group["criteria"]["match"] == "any":
            return lambda m: any(t(m) for t in tests)
        return lambda m: all(t(m) for t in tests)

    def group_count(self, gid: int) -> int:
        """Active members of one group: static groups from one shared pass over member.groups, a dynamic
        group by evaluating its criteria, each only when asked (a write answering with a member's groups
        must not re-evaluate every dynamic group of the account)."""

        def static_counts() -> dict[int, int]:
            counts: dict[int, int] = {}
            for m in self.members.values():
                if m["status"] == "active":
                    for g in m["groups"]:
                        counts[g] = counts.get(g, 0) + 1
            return counts

        def dynamic_count() -> int:
            test = self.matcher(self.groups[gid])
            return sum(1 for m in self.members.values() if m["status"] == "active" and test(m))

        group = self.groups.get(gid)
        if group is None:
            return 0
        if group["isDynamic"]:
            return self.cached(("dynamic-count", gid), dynamic_count)
        return self.cached("static-counts", static_counts).get(gid, 0)

    def group_out(self, g: dict[str, Any]) -> dict[str, Any]:
        return {"id": g["id"], "title": g["title"], "isPublic": g["isPublic"], "isDynamic": g["isDynamic"],
                "membersCount": self.group_count(g["id"]), "mailingsCount": 0,
                "createdOn": g["createdOn"], "criteria": _copy_criteria(g["criteria"])}

    # --- member writes -----------------------------------------------------------------------------------

    def prepare(self, body: dict[str, Any], batch: bool) -> tuple[dict[str, str], dict[str, Any], set[str]]:
        return prepare_fields(self.custom_fields, body, batch)

    apply = staticmethod(apply_fields)

    def new_member(self, email: str, stamp: str) -> dict[str, Any]:
        m = blank_member(self.next_member_id, email, stamp)
        self.next_member_id += 1
        self.members[m["id"]] = m
        self.by_email[email] = m["id"]
        return m

    def create_member(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            email = normalise_email(body.get("email"))
            if email in self.by_email:
                raise FieldError("email", "The email has already been taken.")
            fields, cf_set, _ = self.prepare(body, batch=False)
            groups = self.static_groups(body.get("groups"))
            consent = self.consent_from(body) if body.get("relationType") is not None else None
        except FieldError as exc:
            raise exc.api() from None
        m = self.new_member(email, now_stamp())
        self.apply(m, fields, cf_set, set())
        m["groups"] = sorted(set(groups))
        if consent:
            m.update(consent)
        self.touch()
        return m

    def patch_member(self, m: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        try:
            email = normalise_email(body["email"]) if "email" in body else m["email"]
            if email != m["email"] and email in self.by_email:
                raise FieldError("email", "The email has already been taken.")
            fields, cf_set, cf_clear = self.prepare(body, batch=False)
        except FieldError as exc:
            raise exc.api() from None
        changed = self.apply(m, fields, cf_set, cf_clear)
        if email != m["email"]:
            del self.by_email[m["email"]]
            self.by_email[email] = m["id"]
            m["email"] = email
            changed = True
        if changed:
            m["updatedOn"] = now_stamp()
            self.touch()
        return m

    @staticmethod
    def consent_from(body: dict[str, Any]) -> dict[str, Any]:
        """Consent fields of a PUT consent / POST member body; no consentDate → today (UTC)."""
        relation = check_relation(body.get("relationType"))
        day = check_optional_date(body.get("consentDate"), "consentDate") or today()
        proof = check_optional_text(body.get("consentProof"), "consentProof")
        return consent_for(relation, day, proof)

    def put_consent(self, m: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        try:
            consent = self.consent_from(body)
        except FieldError as exc:
            raise exc.api() from None
        if m["consentType"] == "express" and consent["consentType"] == "implied":
            raise ApiError(422, "An express consent cannot be overridden by an implied consent.",
                           {"relationType": ["The member has an express consent; an implied relation "
                                             "cannot override it."]})
        if any(m[k] != consent[k] for k in CONSENT_FIELDS):
            m.update(consent)
            m["updatedOn"] = now_stamp()
            self.touch()
        return consent_of(m)

    def unsubscribe(self, m: dict[str, Any], stamp: str | None = None) -> None:
        if m["status"] != "unsubscribed":
            m["status"] = "unsubscribed"
            m["updatedOn"] = stamp or now_stamp()
            self.touch()

    def delete_member(self, m: dict[str, Any]) -> None:
        del self.members[m["id"]]
        del self.by_email[m["email"]]
        self.touch()

    def set_member_groups(self, m: dict[str, Any], ids: list[int], mode: str) -> None:
        current = set(m["groups"])
        new = current | set(ids) if mode == "add" else set(ids) if mode == "replace" else current - set(ids)
        if new != current:
            m["groups"] = sorted(new)
            m["updatedOn"] = now_stamp()
            self.touch()

    # --- custom fields and groups ------------------------------------------------------------------------

    def create_custom_field(self, body: dict[str, Any]) -> dict[str, Any]:
        name, ftype = body.get("name"), body.get("type")
        if not isinstance(name, str) or not name.strip():
            raise FieldError("name", "The name field is required.").api()
        if any(f["name"].casefold() == name.strip().casefold() for f in self.custom_fields.values()):
            raise FieldError("name", "The name has already been taken.").api()
        if ftype not in FIELD_TYPES:
            raise FieldError("type", f"The selected type is invalid; one of: {', '.join(FIELD_TYPES)}.").api()
        limit = self.account["customFieldsLimit"]
        if len(self.custom_fields) >= limit:
            raise ApiError(422, "customFieldsLimit reached",
                           {"customFieldsLimit": [f"The account may hold at most {limit} custom fields."]})
        fid = max(self.custom_fields, default=0) + 1
        field = {"id": fid, "name": name.strip(), "type": ftype}
        self.custom_fields[fid] = field
        self.touch()
        return field

    def check_title(self, title: Any, exclude: int | None = None) -> str:
        if not isinstance(title, str) or not title.strip():
            raise FieldError("title", "The title field is required.")
        folded = title.strip().casefold()
        if any(g["title"].casefold() == folded and g["id"] != exclude for g in self.groups.values()):
            raise FieldError("title", "The title has already been taken.")
        return title.strip()

    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            title = self.check_title(body.get("title"))
            is_public = flag(body.get("isPublic", False), "isPublic")
            dynamic = flag(body.get("isDynamic", False), "isDynamic")
            criteria = check_criteria(body.get("criteria"), self.custom_fields) if dynamic else None
        except FieldError as exc:
            raise exc.api() from None
        gid = max(self.groups, default=0) + 1
        g = {"id": gid, "title": title, "isPublic": is_public, "isDynamic": dynamic, "criteria": criteria,
             "createdOn": now_stamp()}
        self.groups[gid] = g
        self.touch()
        return g

    def update_group(self, g: dict[str, Any], body: dict[str, Any], replace: bool) -> dict[str, Any]:
        if g["isDynamic"]:
            raise ApiError(422, "Dynamic groups cannot be edited through the API.",
                           {"isDynamic": ["The group is dynamic."]})
        try:
            title = self.check_title(body.get("title"), g["id"]) if replace or "title" in body else g["title"]
            default = False if replace else g["isPublic"]
            is_public = flag(body.get("isPublic", default), "isPublic")
            if body.get("isDynamic"):
                raise FieldError("isDynamic", "A static group cannot become dynamic.")
        except FieldError as exc:
            raise exc.api() from None
        g.update(title=title, isPublic=is_public)
        self.touch()
        return g

    def delete_group(self, g: dict[str, Any]) -> None:
        gid = g["id"]
        del self.groups[gid]
        if not g["isDynamic"]:
            for m in self.members.values():
                if gid in m["groups"]:
                    m["groups"].remove(gid)
        self.touch()


# --- document parsing ------------------------------------------------------------------------------------

def copy_member(m: dict[str, Any]) -> dict[str, Any]:
    return dict(m, customFields=dict(m["customFields"]), groups=list(m["groups"]))


def consent_of(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in CONSENT_FIELDS}


def _copy_criteria(c: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if c is None else {"match": c["match"], "rules": [dict(r) for r in c["rules"]]}
