"""State of the Amilia emulator: the normalised state document with its read indexes, and the tokens.

The document (see docs/sandbox-amilia.md) is normalised: a registration stores ids only, and the nested
objects the API answers with (Program, Category, Activity, Person, AccountOwner...) are derived from the
stored activity, person and account when a call is answered (see `sandbox/amilia/render.py`).

`AmiliaData.build(document)` validates and normalises a document (`sandbox/amilia/document.py`), checks
every reference between items, and builds every index a list call needs
(lists sorted by id, per-person / per-account / per-program / per-membership id lists), so that a page of
a 40 000-registration list is a slice, not a scan. A built `AmiliaData` is never mutated afterwards (only
its filter cache grows); `AmiliaState.load` swaps in a new one, so a call being answered keeps a
consistent snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sandbox.amilia.document import default_document, normalise

TOKEN_LIFETIME_S = 365 * 24 * 3600  # Amilia JWTs are valid one year


def _unique(section: str, items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    by_id: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if item["Id"] in by_id:
            raise ValueError(f"{section}[{i}] (Id {item['Id']}): duplicate Id")
        by_id[item["Id"]] = item
    return by_id



@dataclass
class AmiliaData:
    """A validated, normalised state document plus its read indexes (immutable once built)."""

    organization: dict[str, Any]
    credentials: list[dict[str, str]]
    today: str | None
    persons: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    programs: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    registrations: list[dict[str, Any]]
    memberships: list[dict[str, Any]]
    membership_persons: list[dict[str, Any]]
    # indexes
    person_by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    account_by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    program_by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    activity_by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    membership_by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    persons_sorted: list[dict[str, Any]] = field(default_factory=list)
    accounts_sorted: list[dict[str, Any]] = field(default_factory=list)
    programs_sorted: list[dict[str, Any]] = field(default_factory=list)
    memberships_sorted: list[dict[str, Any]] = field(default_factory=list)
    registrations_sorted: list[dict[str, Any]] = field(default_factory=list)
    registrations_by_person: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    registrations_by_account: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    activities_by_program: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    holders_by_membership: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    accounts_by_owner_email: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cache: dict[tuple, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, document: dict[str, Any]) -> AmiliaData:
        """Validate and normalise `document` (ValueError naming the bad item) and index it."""
        doc = normalise(document)
        data = cls(organization=doc["organization"], credentials=doc["credentials"], today=doc["today"],
                   persons=doc["persons"], accounts=doc["accounts"], programs=doc["programs"],
                   activities=doc["activities"], registrations=doc["registrations"],
                   memberships=doc["memberships"], membership_persons=doc["membershipPersons"])
        data._index()
        return data

    def _index(self) -> None:
        self.person_by_id = _unique("persons", self.persons)
        self.account_by_id = _unique("accounts", self.accounts)
        self.program_by_id = _unique("programs", self.programs)
        self.activity_by_id = _unique("activities", self.activities)
        self.membership_by_id = _unique("memberships", self.memberships)
        _unique("registrations", self.registrations)
        members_of: dict[int, set[int]] = {}

        for i, a in enumerate(self.accounts):
            where = f"accounts[{i}] (Id {a['Id']})"
            for pid in a["MemberPersonIds"]:
                if pid not in self.person_by_id:
                    raise ValueError(f"{where}: MemberPersonIds names unknown person {pid}")
            if a["OwnerPersonId"] not in self.person_by_id:
                raise ValueError(f"{where}: OwnerPersonId {a['OwnerPersonId']} is not a known person")
            if a["OwnerPersonId"] not in a["MemberPersonIds"]:
                raise ValueError(f"{where}: the owner {a['OwnerPersonId']} must be listed in MemberPersonIds")
            members_of[a["Id"]] = set(a["MemberPersonIds"])
        for i, p in enumerate(self.persons):
            if p["AccountId"] not in self.account_by_id:
                raise ValueError(f"persons[{i}] (Id {p['Id']}): AccountId {p['AccountId']} is not a known "
                                 f"account")
            if p["Id"] not in members_of[p["AccountId"]]:
                raise ValueError(f"persons[{i}] (Id {p['Id']}): not listed in MemberPersonIds of its account "
                                 f"{p['AccountId']}")

        categories: dict[int, tuple] = {}
        subcategories: dict[int, tuple] = {}
        for i, act in enumerate(self.activities):
            where = f"activities[{i}] (Id {act['Id']})"
            if act["ProgramId"] not in self.program_by_id:
                raise ValueError(f"{where}: ProgramId {act['ProgramId']} is not a known program")
            cat = (act["CategoryName"], act["ProgramId"])
            if act["CategoryId"]:
                if categories.setdefault(act["CategoryId"], cat) != cat:
                    raise ValueError(f"{where}: category {act['CategoryId']} has another name or program "
                                     f"in an earlier activity")
            elif act["CategoryName"] is not None:
                raise ValueError(f"{where}: CategoryName without a CategoryId")
            sub = (act["SubCategoryName"], act["CategoryId"])
            if act["SubCategoryId"]:
                if not act["CategoryId"]:
                    raise ValueError(f"{where}: a subcategory needs a category")
                if subcategories.setdefault(act["SubCategoryId"], sub) != sub:
                    raise ValueError(f"{where}: subcategory {act['SubCategoryId']} has another name or "
                                     f"category in an earlier activity")
            elif act["SubCategoryName"] is not None:
                raise ValueError(f"{where}: SubCategoryName without a SubCategoryId")

        for i, r in enumerate(self.registrations):
            where = f"registrations[{i}] (Id {r['Id']})"
            if r["ActivityId"] not in self.activity_by_id:
                raise ValueError(f"{where}: ActivityId {r['ActivityId']} is not a known activity")
            self._check_person_in_account(where, r["PersonId"], r["AccountId"], members_of)
        for i, mp in enumerate(self.membership_persons):
            where = f"membershipPersons[{i}] (MembershipId {mp['MembershipId']}, PersonId {mp['PersonId']})"
            if mp["MembershipId"] not in self.membership_by_id:
                raise ValueError(f"{where}: MembershipId {mp['MembershipId']} is not a known membership")
            self._check_person_in_account(where, mp["PersonId"], mp["AccountId"], members_of)

        def by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(items, key=lambda x: x["Id"])

        self.persons_sorted = by_id(self.persons)
        self.accounts_sorted = by_id(self.accounts)
        self.programs_sorted = by_id(self.programs)
        self.memberships_sorted = sorted(self.memberships, key=lambda m: (m["Position"], m["Id"]))
        self.registrations_sorted = by_id(self.registrations)
        for r in self.registrations_sorted:
            self.registrations_by_person.setdefault(r["PersonId"], []).append(r)
            self.registrations_by_account.setdefault(r["AccountId"], []).append(r)
        for act in by_id(self.activities):
            self.activities_by_program.setdefault(act["ProgramId"], []).append(act)
        for mp in self.membership_persons:
            self.holders_by_membership.setdefault(mp["MembershipId"], []).append(mp)
        for a in self.accounts_sorted:
            email = self.person_by_id[a["OwnerPersonId"]]["Email"]
            if email:
                self.accounts_by_owner_email.setdefault(email.strip().casefold(), []).append(a)

    def _check_person_in_account(self, where: str, person_id: int, account_id: int,
                                 members_of: dict[int, set[int]]) -> None:
        if person_id not in self.person_by_id:
            raise ValueError(f"{where}: PersonId {person_id} is not a known person")
        if account_id not in self.account_by_id:
            raise ValueError(f"{where}: AccountId {account_id} is not a known account")
        if person_id not in members_of[account_id]:
            raise ValueError(f"{where}: person {person_id} is not a member of account {account_id}")

    def dump(self) -> dict[str, Any]:
        def copy(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return json.loads(json.dumps(items))

        return {"organization": dict(self.organization), "credentials": copy(self.credentials),
                "today": self.today, "persons": copy(self.persons), "accounts": copy(self.accounts),
                "programs": copy(self.programs), "activities": copy(self.activities),
                "registrations": copy(self.registrations), "memberships": copy(self.memberships),
                "membershipPersons": copy(self.membership_persons)}

    def clock(self) -> date:
        """The emulator's today: the document's `today`, or the real date when it is null."""
        return date.fromisoformat(self.today) if self.today else date.today()

    def filtered(self, key: tuple, items: list[dict[str, Any]], keep) -> list[dict[str, Any]]:
        """`[x for x in items if keep(x)]`, remembered under `key` (one scan per distinct filter)."""
        hit = self.cache.get(key)
        if hit is None:
            if len(self.cache) >= 256:
                self.cache.clear()
            hit = self.cache[key] = [x for x in items if keep(x)]
        return hit


# --------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AmiliaState:
    """The Amilia emulator's state: the current `AmiliaData` snapshot and the tokens handed out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._tokens: dict[str, dict[str, Any]] = {}
        self.data = AmiliaData.build(default_document())

    # VendorState protocol -----------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.data = AmiliaData.build(default_document())
            self._tokens.clear()

    def load(self, document: dict[str, Any]) -> None:
        data = AmiliaData.build(document)  # validate fully before swapping anything in
        with self._lock:
            self.data = data

    def dump(self) -> dict[str, Any]:
        return self.data.dump()

    # tokens ------------------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> str | None:
        """A new JWT-looking token for the organisation, or None when the credentials are wrong."""
        data = self.data
        ok = any(c["username"].casefold() == username.casefold()
                 and hmac.compare_digest(c["password"].encode(), password.encode()) for c in data.credentials)
        if not ok:
            return None
        now = int(time.time())
        claims = {"sub": username, "org": data.organization["Id"], "iat": now, "exp": now + TOKEN_LIFETIME_S,
                  "jti": secrets.token_hex(8)}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
        token = f"{head}.{body}.{sig}"
        with self._lock:
            self._tokens[token] = claims
        return token

    def token_claims(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            claims = self._tokens.get(token)
        if claims is None or claims["exp"] < time.time():
            return None
        return claims
