"""Realistic data generator for the sandbox: an Amilia organisation and the Cyberimpact account it syncs to.

    doc = generate(persons=2000, months=24, seed=7, today=date(2026, 3, 1))
    load_into("http://127.0.0.1:8765", doc)      # PUT /_sandbox/{amilia,cyberimpact}/state
    write_json("seed.json", doc)

The result is deterministic for (persons, months, seed, today) and costs O(persons). What it plants and in
which proportions is described in docs/sandbox-amilia.md ("The generator"). Planted edge cases come first
(the lowest account and person ids), then random households until `persons` persons exist.
"""

from __future__ import annotations

import bisect
import calendar
import json
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from sandbox.amilia import seed_data as D
from sandbox.amilia.document import ADDRESS_KEYS, DEFAULT_CREDENTIALS, DEFAULT_ORGANIZATION

CYBERIMPACT_TOKEN = "sandbox-cyberimpact-token"
FIRST_PERSON_ID, FIRST_ACCOUNT_ID, FIRST_ACTIVITY_ID, FIRST_REGISTRATION_ID = 10001, 2001, 3001, 60001
Json = dict[str, Any]


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, the day clamped to the month's length."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_start(today: date, months: int = 24) -> date:
    """First day (inclusive) of the sync window: `today` minus `months` months."""
    return add_months(today, -months)


def _slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_.lower() if c.isalnum() or c == "-")


def _stamp(d: date, h: int, m: int, s: int) -> str:
    return datetime(d.year, d.month, d.day, h, m, s).isoformat()


@dataclass(frozen=True)
class _Session:
    season: str
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.season} {self.start.year}"


class _Generator:
    def __init__(self, rng: random.Random, n_persons: int, months: int, today: date) -> None:
        self.rng, self.n, self.today = rng, n_persons, today
        self.window_start = window_start(today, months)
        self.history_start = add_months(today, -(months + 6))
        self.persons: list[Json] = []
        self.accounts: list[Json] = []
        self.regs: list[Json] = []
        self.holders: list[Json] = []
        self.emails: set[str] = set()
        self.owner_emails: list[str] = []
        self.fixed: set[int] = set()  # planted persons: no random registrations or memberships
        self.planted: dict[str, Json] = {}
        self._catalogue()

    # ---- catalogue -------------------------------------------------------------------------------
    def _catalogue(self) -> None:
        sessions = []
        for year in range(self.history_start.year - 1, self.today.year + 2):
            for season, (sm, sd), (em, ed) in D.SEASONS:
                s = _Session(season, date(year, sm, sd), date(year, em, ed))
                if (s.end >= self.history_start - timedelta(days=120)
                        and s.start <= self.today + timedelta(days=240)):
                    sessions.append(s)
        self.sessions = sessions
        self.session_starts = [s.start for s in sessions]
        programs: dict[str, int] = {}
        for row in D.ACTIVITIES:
            programs.setdefault(row[0], len(programs) + 1)
        programs[D.ARCHIVED_PROGRAM[0]] = len(programs) + 1
        self.programs = [{"Id": pid, "Name": name, "IsArchived": name == D.ARCHIVED_PROGRAM[0]}
                         for name, pid in programs.items()]
        cats: dict[tuple, int] = {}
        subs: dict[tuple, int] = {}
        # (program id, category id, category name, sub id, sub name, name, ages, kind, seasons)
        self.bases = []
        for prog, cat, sub, name, ages, kind, seasons in D.ACTIVITIES:
            cid = cat if cat in (None, 0) else cats.setdefault((prog, cat), 101 + len(cats))
            sid = sub if sub in (None, 0) else subs.setdefault((prog, cat, sub), 201 + len(subs))
            self.bases.append((programs[prog], cid, cat or None, sid, sub or None, name, ages, kind, seasons))
        self.activities: list[Json] = []
        self.activity_of: dict[tuple[int, int], int] = {}
        for si, s in enumerate(sessions):
            for bi, (pid, cid, cname, sid, sname, name, _ages, _kind, seasons) in enumerate(self.bases):
                if seasons is None or s.season in seasons:
                    aid = FIRST_ACTIVITY_ID + len(self.activities)
                    self.activity_of[(si, bi)] = aid
                    self.activities.append({"Id": aid, "Name": f"{name} ({s.label})", "ProgramId": pid,
                                            "CategoryId": cid, "CategoryName": cname, "SubCategoryId": sid,
                                            "SubCategoryName": sname, "EndDate": s.end.isoformat()})
        _, cat, sub = D.ARCHIVED_PROGRAM
        first = sessions[0]
        self.archived_activity = FIRST_ACTIVITY_ID + len(self.activities)
        self.activities.append({"Id": self.archived_activity, "Name": f"{sub} ({first.label})",
                                "ProgramId": programs[D.ARCHIVED_PROGRAM[0]], "CategoryId": 101 + len(cats),
                                "CategoryName": cat, "SubCategoryId": None, "SubCategoryName": None,
                                "EndDate": first.end.isoformat()})
        self.by_season_age: dict[tuple[str, int], list[int]] = {}

    def session_for(self, d: date) -> int:
        """The session a registration made on `d` is for: the running one, or the next when it opens soon."""
        i = bisect.bisect_right(self.session_starts, d)
        if i > 0 and self.sessions[i - 1].end >= d and (i == len(self.sessions)
                                                        or (self.sessions[i].start - d).days > 35):
            return i - 1
        return min(i, len(self.sessions) - 1)

    def candidates(self, season: str, age: int) -> list[int]:
        key = (season, min(max(age, 0), 99))
        hit = self.by_season_age.get(key)
        if hit is None:
            hit = self.by_season_age[key] = [
                bi for bi, b in enumerate(self.bases)
                if b[6][0] <= key[1] <= b[6][1] and (b[8] is None or season in b[8])]
        return hit

    # ---- people ----------------------------------------------------------------------------------
    def room(self) -> int:
        return self.n - len(self.persons)

    def datetime_between(self, lo: date, hi: date) -> datetime:
        d = lo + timedelta(days=self.rng.randint(0, max((hi - lo).days, 0)))
        return datetime(d.year, d.month, d.day, self.rng.randint(7, 21), self.rng.randint(0, 59),
                        self.rng.randint(0, 59))

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        r = self.rng
        f, la = _slug(first), _slug(last)
        local = r.choices([f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}{r.randint(1, 99)}", f"{f}_{la}"],
                          [60, 15, 15, 10])[0]
        domain = domain or r.choices(D.EMAIL_DOMAINS, D.EMAIL_DOMAIN_WEIGHTS)[0]
        out, n = f"{local}@{domain}", 1
        while out.casefold() in self.emails:
            n += 1
            out = f"{local}{n}@{domain}"
        if r.random() < 0.03:  # some people type their address with capitals
            out = f"{first[0].upper()}{out[1:]}" if out[0].isalpha() else out
        self.emails.add(out.casefold())
        return out

    def address(self) -> tuple[Json, str | None]:
        r = self.rng
        if r.random() < 0.02:
            return dict.fromkeys(ADDRESS_KEYS), None
        city, prov, fsas, area_codes = r.choices(D.CITIES, D.CITY_WEIGHTS)[0]
        ldu = f"{r.randint(0, 9)}{r.choice(D.POSTAL_LETTERS)}{r.randint(0, 9)}"
        street = f"{r.randint(10, 9999)} {r.choice(D.STREETS)}"
        if r.random() < 0.15:
            street += f", app. {r.randint(1, 24)}"
        return ({"Address1": street, "City": city, "StateProvince": prov, "Country": "CA",
                 "PostalCode": f"{r.choice(fsas)} {ldu}"}, r.choice(area_codes))

    def phone(self, area: str | None) -> str:
        r = self.rng
        area = area or r.choice(("514", "450", "418", "819"))
        n = f"{r.randint(0, 9999):04d}"
        return r.choices([f"{area}-555-{n}", f"({area}) 555-{n}", f"{area} 555 {n}", f"+1 {area}-555-{n}"],
                         [90, 5, 3, 2])[0]

    def account(self, created: datetime, *, corporate: bool = False, archived: bool = False) -> Json:
        a = {"Id": FIRST_ACCOUNT_ID + len(self.accounts), "IsArchived": archived, "Corporate": corporate,
             "DateCreated": created.isoformat(), "OwnerPersonId": None, "MemberPersonIds": []}
        self.accounts.append(a)
        return a

    def person(self, acct: Json, home: tuple[Json, str | None], first: str, last: str, gender: str | None,
               age: int | None, email: str | None, *, child: bool = False, mobile: bool | None = None,
               home_phone: str | None = None) -> Json:
        r = self.rng
        acct_created = datetime.fromisoformat(acct["DateCreated"])
        dob = None if age is None else self.today - timedelta(days=365 * age + r.randint(0, 364))
        created = acct_created
        if acct["MemberPersonIds"]:  # persons added after the owner
            created += timedelta(days=r.randint(0, 60))
        if dob and created.date() < dob:
            created = datetime(dob.year, dob.month, dob.day, 9) + timedelta(days=30)
        created = min(created, datetime(self.today.year, self.today.month, self.today.day, 6))
        if gender is not None and r.random() < 0.04:
            gender = r.choice(("Other", None, None))
        if mobile is None:
            mobile = not child and r.random() < 0.75
        skills = []
        if r.random() < (0.25 if child else 0.06):
            skills = [{"Id": i, "Name": n} for i, n in sorted(r.sample(D.SKILLS, r.randint(1, 2)))]
        p = {"Id": FIRST_PERSON_ID + len(self.persons), "AccountId": acct["Id"], "FirstName": first,
             "LastName": last, "Email": email, "Gender": gender, "DateOfBirth": dob and dob.isoformat(),
             "IsChild": child, "Address": dict(home[0]), "Telephone": home_phone,
             "TelephoneMobile": self.phone(home[1]) if mobile else None, "Skills": skills,
             "ExternalId": None, "IsArchived": acct["IsArchived"], "DateCreated": created.isoformat()}
        if r.random() < 0.15:
            p["ExternalId"] = f"EXT-{p['Id']:06d}"
        if p["DateOfBirth"] is not None and not child and r.random() < 0.03:
            p["DateOfBirth"] = None
        self.persons.append(p)
        acct["MemberPersonIds"].append(p["Id"])
        if acct["OwnerPersonId"] is None:
            acct["OwnerPersonId"] = p["Id"]
            if email:
                self.owner_emails.append(email)
        return p

    def names(self) -> tuple[str, str, str]:
        if self.rng.random() < 0.5:
            return self.rng.choice(D.FIRST_NAMES_F), self.rng.choice(D.LAST_NAMES), "Female"
        return self.rng.choice(D.FIRST_NAMES_M), self.rng.choice(D.LAST_NAMES), "Male"

    def account_created(self) -> datetime:
        if self.rng.random() < 0.3:
            return self.datetime_between(self.history_start, self.today - timedelta(days=1))
        return self.datetime_between(self.today - timedelta(days=9 * 365), self.history_start)

    def household(self, kind: str, *, archived: bool = False, created: datetime | None = None,
                  owner_email: Any = True) -> list[Json]:
        """One account and its persons. owner_email: True = a fresh address, False = none, str = that one."""
        r = self.rng
        acct = self.account(created or self.account_created(), corporate=kind == "corporate",
                            archived=archived)
        home = self.address()
        home_phone = self.phone(home[1]) if r.random() < 0.55 else None
        first, last, gender = self.names()
        if kind == "corporate":
            company, domain = r.choice(D.COMPANIES)
            out = [self.person(acct, home, first, last, gender, r.randint(30, 60),
                               self.email(first, last, domain), home_phone=self.phone(home[1]))]
            size = r.randint(2, 4)
            while len(out) < size and self.room() > 0:
                f, la, g = self.names()
                out.append(self.person(acct, home, f, la, g, r.randint(22, 60), self.email(f, la, domain)))
            return out
        if owner_email is True:
            owner_email = self.email(first, last)
        owner_age = r.randint(19, 80) if kind == "single" else r.randint(28, 52)
        owner = self.person(acct, home, first, last, gender, owner_age, owner_email or None,
                            home_phone=home_phone)
        out = [owner]
        if kind in ("family", "couple") and self.room() > 0:
            f = r.choice(D.FIRST_NAMES_M if gender == "Female" else D.FIRST_NAMES_F)
            sl = last if r.random() < 0.4 else r.choice(D.LAST_NAMES)
            mode = r.choices(("own", "shared", "none"), (70, 18, 12))[0]
            em = self.email(f, sl) if mode == "own" else (owner["Email"] if mode == "shared" else None)
            out.append(self.person(acct, home, f, sl, "Male" if gender == "Female" else "Female",
                                   owner_age + r.randint(-4, 4), em, home_phone=home_phone))
        if kind in ("family", "single_parent"):
            kid_last = last if r.random() < 0.7 else f"{last}-{r.choice(D.LAST_NAMES)}"
            for _ in range(r.choices((1, 2, 3, 4), (35, 40, 20, 5))[0]):
                if self.room() <= 0:
                    break
                f, _, g = self.names()
                age = r.randint(1, min(17, owner_age - 18))
                mode = r.choices(("none", "owner", "own"), (85, 12, 3))[0]
                em = None if mode == "none" or (mode == "own" and age < 13) else (
                    owner["Email"] if mode == "owner" else self.email(f, kid_last))
                out.append(self.person(acct, home, f, kid_last, g, age, em, child=True,
                                       mobile=mode == "own" and em is not None, home_phone=home_phone))
            if kind == "family" and owner_age > 42 and r.random() < 0.25 and self.room() > 0:
                f, _, g = self.names()
                out.append(self.person(acct, home, f, kid_last, g, r.randint(18, 24), self.email(f, kid_last),
                                       home_phone=home_phone))
        if not archived and len(out) > 1 and r.random() < 0.02:
            out[-1]["IsArchived"] = True  # a person deleted from a live account
        return out

    # ---- registrations and memberships ---------------------------------------------------------------
    def register(self, p: Json, when: datetime, *, cancelled: bool = False, kind: str | None = None,
                 base: int | None = None) -> Json:
        r = self.rng
        d = when.date()
        si = self.session_for(d)
        s = self.sessions[si]
        if base is None:
            dob = date.fromisoformat(p["DateOfBirth"]) if p["DateOfBirth"] else None
            age = (d - dob).days // 365 if dob else 40
            pool = self.candidates(s.season, age) or self.candidates(s.season, 99)
            base = r.choice(pool)
            if (self.bases[base][7] == "pass" or self.bases[base][1] == 0) and r.random() < 0.8:
                base = r.choice(pool)  # passes and one-off events are bought less often than courses
        if (si, base) not in self.activity_of:
            si = next(i for i in range(len(self.sessions)) if (i, base) in self.activity_of)
            s = self.sessions[si]
        if kind is None:
            bkind = self.bases[base][7]
            kind = "PL" if bkind == "pass" else ("DI" if bkind == "dropin" and r.random() < 0.45 else "SUB")
        drop = None
        if kind == "DI":
            drop = min(max(d, s.start) + timedelta(days=r.randint(0, 13)), max(s.end, d)).isoformat()
        reg = {"ActivityId": self.activity_of[(si, base)], "PersonId": p["Id"], "AccountId": p["AccountId"],
               "DateCreated": when.isoformat(), "IsCancelled": cancelled, "DropInDate": drop, "kind": kind}
        self.regs.append(reg)
        return reg

    def random_registrations(self, p: Json) -> None:
        r = self.rng
        count = r.choices((0, 1, 2, 3, 4, 5, 6), (14, 24, 25, 17, 10, 6, 4))[0]
        lo = max(self.history_start, date.fromisoformat(p["DateCreated"][:10]) + timedelta(days=1))
        for _ in range(count if lo <= self.today else 0):
            self.register(p, self.datetime_between(lo, self.today), cancelled=r.random() < 0.06)

    def hold(self, membership: int, p: Json, purchased: datetime, effective: date | None = None,
             months: int | None = 12) -> Json:
        effective = effective or purchased.date()
        expiration = None
        if months is not None:
            expiration = (add_months(effective, months) - timedelta(days=1)).isoformat()
        row = {"MembershipId": membership, "PersonId": p["Id"], "AccountId": p["AccountId"],
               "PurchasedDate": purchased.isoformat(), "EffectiveDate": effective.isoformat(),
               "ExpirationDate": expiration}
        self.holders.append(row)
        return row

    def random_memberships(self, acct: Json, members: list[Json]) -> None:
        r = self.rng
        gym, pool, monthly, honorary, old = 1, 2, 3, 4, 5
        for p in members:
            if p["IsChild"] or p["Id"] in self.fixed:
                continue
            lo = max(self.history_start, date.fromisoformat(p["DateCreated"][:10]) + timedelta(days=1))
            x = r.random() if lo <= self.today else 1.0
            if x < 0.07:
                bought = self.datetime_between(lo, self.today)
                eff = bought.date() if r.random() < 0.8 else add_months(bought.date(), 1).replace(day=1)
                row = self.hold(gym, p, bought, eff)
                renew = date.fromisoformat(row["ExpirationDate"]) + timedelta(days=r.randint(-10, 15))
                expired = row["ExpirationDate"] < self.today.isoformat()
                if expired and renew <= self.today and r.random() < 0.4:
                    self.hold(gym, p, self.datetime_between(renew, renew))
            elif x < 0.095:
                since = max(lo, self.today - timedelta(days=180))
                self.hold(monthly, p, self.datetime_between(since, self.today), months=1)
            elif x < 0.096:
                self.hold(honorary, p, self.datetime_between(lo, self.today), months=None)
            elif x < 0.106 and lo < self.history_start + timedelta(days=90):
                self.hold(old, p, self.datetime_between(lo, self.history_start + timedelta(days=90)))
        lo = max(self.history_start, *(date.fromisoformat(p["DateCreated"][:10]) for p in members))
        if len(members) >= 3 and lo <= self.today and r.random() < 0.08:
            bought = self.datetime_between(lo, self.today)
            for p in members:
                self.hold(pool, p, bought)

    # ---- assembly --------------------------------------------------------------------------------
    def run(self) -> Json:
        from sandbox.amilia.seed_planted import plant  # the named edge cases, kept apart for readability

        plant(self)
        while self.room() > 0:
            kind = self.rng.choices(("family", "single", "single_parent", "couple", "corporate"),
                                    (38, 37, 12, 12, 1))[0]
            email: Any = True
            if kind == "single" and self.owner_emails and self.rng.random() < 0.015:
                email = self.rng.choice(self.owner_emails)  # one address used by two accounts
                if self.rng.random() < 0.5:
                    email = email.upper()
            elif self.rng.random() < 0.04:
                email = False
            members = self.household(kind, archived=self.rng.random() < 0.03, owner_email=email)
            for p in members:
                self.random_registrations(p)
            self.random_memberships(self.accounts[-1], members)
        return self.amilia()

    def amilia(self) -> Json:
        regs = sorted(self.regs, key=lambda x: (x["DateCreated"], x["PersonId"]))
        registrations = []
        for i, reg in enumerate(regs):
            rid = FIRST_REGISTRATION_ID + i
            kind = reg.pop("kind")
            registrations.append({"Id": rid, "RegistrationId": f"{kind}-{rid}", **reg})
        memberships = []
        for i, (name, mtype, _months, price, visible, archived, desc) in enumerate(D.MEMBERSHIPS):
            created = _stamp(date(self.history_start.year - 3 + i % 3, 8, 15), 10, 0, 0)
            memberships.append({"Id": i + 1, "Name": name, "Description": desc, "Price": price,
                                "Position": i + 1, "IsArchived": archived, "IsVisible": visible,
                                "DateCreated": created, "MembershipType": mtype})
        return {"organization": dict(DEFAULT_ORGANIZATION),
                "credentials": [dict(c) for c in DEFAULT_CREDENTIALS], "today": self.today.isoformat(),
                "persons": self.persons, "accounts": self.accounts,
                "programs": self.programs, "activities": self.activities, "registrations": registrations,
                "memberships": memberships, "membershipPersons": self.holders}


def generate(persons: int, months: int = 24, seed: int = 0, today: date | None = None) -> Json:
    """A realistic Amilia organisation with `persons` persons and the Cyberimpact account it syncs to.

    Args:
        persons: how many Amilia persons (exactly); below 43 some planted edge cases are left out.
        months: the sync window; registrations span `months + 6` months before `today`.
        seed: the random seed; the same arguments give the same document.
        today: the emulator clock written into the Amilia state (default: the real date).

    Returns:
        `{"amilia": <Amilia state document>, "cyberimpact": <Cyberimpact state document>}`.
    """
    from sandbox.amilia.seed_planted import cyberimpact_document

    if persons < 0 or months < 1:
        raise ValueError("persons must be >= 0 and months >= 1")
    gen = _Generator(random.Random(seed), persons, months, today or date.today())
    amilia = gen.run()
    return {"amilia": amilia, "cyberimpact": cyberimpact_document(gen)}


def load_into(base_url: str, document: Json, timeout: float = 300.0) -> list[str]:
    """PUT each vendor's part of `document` to a running sandbox (`base_url` = its root URL)."""
    loaded = []
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout) as client:
        for vendor in ("amilia", "cyberimpact"):
            if vendor in document:
                client.put(f"/_sandbox/{vendor}/state", json=document[vendor]).raise_for_status()
                loaded.append(vendor)
    return loaded


def write_json(path: str | Path, document: Json, indent: int | None = None) -> Path:
    """Write `document` as UTF-8 JSON (compact unless `indent` is given); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
    return path
