"""The named edge cases the data generator plants (`sandbox/seed.py`), and its Cyberimpact document.

Each case is a small, fixed household created before the random ones, so they carry the lowest account and
person ids. `gen.planted[name]` keeps the person (or account) of each case for the Cyberimpact part. The
planted persons get only the registrations and memberships written here (none at random), so each one
tests exactly one rule of the sync. The list is in docs/sandbox-amilia.md.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.seed import CYBERIMPACT_TOKEN, add_months

if TYPE_CHECKING:
    from sandbox.seed import _Generator

Json = dict[str, Any]
GYM, POOL, HONORARY, OLD_GYM = 1, 2, 4, 5


def _at(d: date, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm, ss))


class _Planter:
    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.old = _at(gen.history_start - timedelta(days=400), 9, 30)  # every planted account predates data
        self.base = {b[5]: i for i, b in enumerate(gen.bases)}
        span = (gen.today - gen.window_start).days
        self.in_window = [gen.window_start + timedelta(days=span * k // 10) for k in range(2, 10)]

    def household(self, name: str, members: list[tuple], *, archived: bool = False,
                  corporate: bool = False) -> list[Json] | None:
        """members: (first, last, gender, age, email, is_child); email True = a fresh address."""
        gen = self.gen
        if gen.room() < len(members):
            return None
        acct = gen.account(self.old, archived=archived, corporate=corporate)
        home = gen.address()
        out = []
        for first, last, gender, age, email, child in members:
            if email is True:
                email = gen.email(first, last)
            p = gen.person(acct, home, first, last, gender, age, email, child=child)
            gen.fixed.add(p["Id"])
            out.append(p)
        gen.planted[name] = out[0]
        return out

    def reg(self, p: Json, when: datetime, activity: str, kind: str = "SUB", cancelled: bool = False) -> None:
        self.gen.register(p, when, base=self.base[activity], kind=kind, cancelled=cancelled)

    def hold(self, membership: int, p: Json, purchased: date, effective: date,
             expiration: date | None) -> None:
        self.gen.holders.append({
            "MembershipId": membership, "PersonId": p["Id"], "AccountId": p["AccountId"],
            "PurchasedDate": _at(purchased, 9, 15).isoformat(), "EffectiveDate": effective.isoformat(),
            "ExpirationDate": expiration and expiration.isoformat()})


def plant(gen: _Generator) -> None:
    """Create every planted case that fits in `gen.n` persons, in a fixed order."""
    pl = _Planter(gen)
    w = pl.in_window
    today = gen.today

    # A family whose spouse shares the owner's e-mail, with two young children (no e-mail).
    fam = pl.household("shared_spouse_email", [("Marc", "Tremblay", "Male", 41, True, False),
                                               ("Julie", "Tremblay", "Female", 39, None, False),
                                               ("Léo", "Tremblay", "Male", 8, None, True),
                                               ("Emma", "Tremblay", "Female", 5, None, True)])
    if fam:
        fam[1]["Email"] = fam[0]["Email"]
        pl.reg(fam[0], _at(w[0]), "Karaté avancé")
        pl.reg(fam[1], _at(w[1]), "Aquarelle pour adultes")
        pl.reg(fam[2], _at(w[2]), "Natation junior")
        pl.reg(fam[3], _at(w[2], 10, 5), "Ballet 5-7 ans")
        pl.gen.regs.append({"ActivityId": gen.archived_activity, "PersonId": fam[0]["Id"],
                            "AccountId": fam[0]["AccountId"],
                            "DateCreated": _at(gen.history_start + timedelta(days=10)).isoformat(),
                            "IsCancelled": False, "DropInDate": None, "kind": "SUB"})

    # Children: one using the owner's e-mail, a teen with an e-mail of his own (still a child), and an
    # adult child (19, not a child) with an own e-mail.
    kids = pl.household("child_emails", [("Isabelle", "Côté", "Female", 46, True, False),
                                         ("Alice", "Côté", "Female", 10, None, True),
                                         ("Félix", "Côté", "Male", 15, True, True),
                                         ("Jacob", "Côté", "Male", 19, True, False)])
    if kids:
        kids[1]["Email"] = kids[0]["Email"]
        gen.planted["child_with_owner_email"], gen.planted["child_with_own_email"] = kids[1], kids[2]
        gen.planted["adult_child"] = kids[3]
        for k, p in enumerate(kids[1:]):
            pl.reg(p, _at(w[3], 11 + k), ("Bande dessinée 9-13 ans", "Hip-hop ados", "Guitare débutant")[k])

    # An account owner without e-mail (alone), and one whose spouse has the only e-mail of the account.
    alone = pl.household("owner_without_email", [("Réjean", "Roy", "Male", 71, None, False)])
    if alone:
        pl.reg(alone[0], _at(w[4]), "Tai-chi 50 ans et +")
    morin = pl.household("owner_without_email_spouse_with", [("Denis", "Morin", "Male", 44, None, False),
                                                             ("Nathalie", "Morin", "Female", 42, True, False),
                                                             ("Zoé", "Morin", "Female", 9, None, True)])
    if morin:
        pl.reg(morin[2], _at(w[4], 12), "Natation junior")

    # One e-mail used by two accounts, spelled with different capitals; and one spelled the same.
    sophie = pl.household("shared_email_account_a", [("Sophie", "Gagnon", "Female", 38, True, False)])
    ginette = pl.household("shared_email_account_b", [("Ginette", "Gagnon", "Female", 72, None, False)])
    if sophie and ginette:
        local, domain = sophie[0]["Email"].split("@")
        sophie[0]["Email"] = f"{local.title()}@{domain.capitalize()}"
        ginette[0]["Email"] = sophie[0]["Email"].lower()
        pl.reg(sophie[0], _at(w[5]), "Hatha yoga")
        pl.reg(ginette[0], _at(w[5], 14), "Aquaforme")
    jean = pl.household("shared_email_same_case_a", [("Jean", "Fortin", "Male", 66, True, False)])
    luc = pl.household("shared_email_same_case_b", [("Luc", "Fortin", "Male", 35, None, False)])
    if jean and luc:
        luc[0]["Email"] = jean[0]["Email"]
        pl.reg(jean[0], _at(w[6]), "Badminton libre")
        pl.reg(luc[0], _at(w[6], 15), "Karaté avancé")

    # An archived account (its persons archived too) and an archived person in a live account.
    lavoie = pl.household("archived_account", [("Stéphane", "Lavoie", "Male", 45, True, False),
                                               ("Mathis", "Lavoie", "Male", 11, None, True)], archived=True)
    if lavoie:
        pl.reg(lavoie[0], _at(w[2], 16), "Zumba")
        pl.reg(lavoie[1], _at(w[2], 17), "Basketball 10-14 ans")
    pelletier = pl.household("archived_person", [("Karine", "Pelletier", "Female", 40, True, False),
                                                 ("Éric", "Pelletier", "Male", 42, True, False)])
    if pelletier:
        pelletier[1]["IsArchived"] = True
        gen.planted["archived_person"] = pelletier[1]
        pl.reg(pelletier[0], _at(w[3]), "Vinyasa flow")
        pl.reg(pelletier[1], _at(w[3], 10, 30), "Natation adulte")

    # A corporate account: a contact person and employees with company addresses.
    corp = pl.household("corporate", [("Benoît", "Bélanger", "Male", 52, None, False),
                                      ("Annie", "Paquette", "Female", 33, None, False),
                                      ("Hugo", "Lessard", "Male", 29, None, False)], corporate=True)
    if corp:
        for p, local in zip(corp, ("rh", "annie.paquette", "hugo.lessard"), strict=True):
            p["Email"] = f"{local}@construction-belanger.ca"
            gen.emails.add(p["Email"])
        for k, p in enumerate(corp[1:]):
            pl.reg(p, _at(w[5], 12 + k), "Hatha yoga")

    # An adult whose e-mail is unsubscribed in Cyberimpact (must stay unsubscribed after a sync).
    unsub = pl.household("unsubscribed_in_cyberimpact", [("Mélanie", "Bouchard", "Female", 37, True, False)])
    if unsub:
        pl.reg(unsub[0], _at(w[6], 9), "Zumba")
        pl.reg(unsub[0], _at(w[7], 9), "Vinyasa flow")

    # A person with no address, no phones, no birth date, no gender.
    bare = pl.household("no_contact_details", [("Luc", "Girard", None, None, True, False)])
    if bare:
        bare[0].update(Address=dict.fromkeys(bare[0]["Address"]), Telephone=None, TelephoneMobile=None,
                       Gender=None, DateOfBirth=None, Skills=[], ExternalId=None)
        pl.reg(bare[0], _at(w[7]), "Guitare débutant")

    # Registrations on the window's edges: each person has that one registration only.
    edges = [("edge_window_start_midnight", _at(gen.window_start, 0, 0, 0)),
             ("edge_window_start_last_second", _at(gen.window_start, 23, 59, 59)),
             ("edge_day_before_window", _at(gen.window_start - timedelta(days=1), 23, 59, 59)),
             ("edge_today", _at(today, 0, 5, 0)),
             ("edge_oldest", _at(gen.history_start, 0, 0, 0))]
    for k, (name, when) in enumerate(edges):
        first = ("Valérie", "Maxime", "Geneviève", "Samuel", "Lucie")[k]
        p = pl.household(name, [(first, "Bolduc", "Female" if k % 2 == 0 else "Male", 30 + k, True, False)])
        if p:
            pl.reg(p[0], when, "Natation adulte")

    # A drop-in and a pass; an adult whose only registration in the window is cancelled.
    annie = pl.household("drop_in_and_pass", [("Annie", "Lévesque", "Female", 34, True, False)])
    if annie:
        pl.reg(annie[0], _at(w[4], 18), "Hatha yoga", kind="DI")
        pl.reg(annie[0], _at(w[5], 18), "Carte 10 bains libres", kind="PL")
    caron = pl.household("only_cancelled", [("Vincent", "Caron", "Male", 48, True, False)])
    if caron:
        pl.reg(caron[0], _at(w[4], 19), "Karaté avancé", cancelled=True)

    # Memberships, on persons without any registration.
    year_ago = add_months(today, -12)
    cases = [("membership_expires_today", "Hélène", "Female", GYM, today - timedelta(days=400),
              year_ago + timedelta(days=1), today),
             ("membership_expired_yesterday", "Gilles", "Male", GYM, year_ago - timedelta(days=3), year_ago,
              today - timedelta(days=1)),
             ("membership_not_yet_effective", "Chloé", "Female", GYM, today - timedelta(days=3),
              today + timedelta(days=7), add_months(today, 12)),
             ("membership_effective_today", "Olivier", "Male", GYM, today - timedelta(days=20), today,
              add_months(today, 12) - timedelta(days=1)),
             ("membership_honorary", "Francine", "Female", HONORARY, gen.window_start + timedelta(days=40),
              gen.window_start + timedelta(days=40), None),
             ("membership_archived", "Daniel", "Male", OLD_GYM, gen.history_start, gen.history_start,
              add_months(gen.history_start, 12) - timedelta(days=1))]
    for name, first, gender, membership, bought, effective, expiration in cases:
        p = pl.household(name, [(first, "Ouellet", gender, 50, True, False)])
        if p:
            pl.hold(membership, p[0], min(bought, effective), effective, expiration)
    simard = pl.household("membership_renewed", [("Patrick", "Simard", "Male", 39, True, False)])
    if simard:
        first_eff = add_months(today, -15)
        pl.hold(GYM, simard[0], first_eff, first_eff, add_months(first_eff, 12) - timedelta(days=1))
        second = add_months(first_eff, 12)
        pl.hold(GYM, simard[0], second, second, add_months(second, 12) - timedelta(days=1))
    pool = pl.household("membership_family_pool", [("Martin", "Leblanc", "Male", 43, True, False),
                                                   ("Amélie", "Leblanc", "Female", 41, True, False),
                                                   ("Noah", "Leblanc", "Male", 12, None, True),
                                                   ("Mia", "Leblanc", "Female", 7, None, True)])
    if pool:
        bought = today - timedelta(days=90)
        for p in pool:
            pl.hold(POOL, p, bought, bought, add_months(bought, 12) - timedelta(days=1))


# --------------------------------------------------------------------------------------------------


def _member(mid: int, email: str, first: str, last: str, joined: str, **extra: Any) -> Json:
    m = {"id": mid, "email": email, "firstname": first, "lastname": last, "company": "", "gender": "",
         "language": "fr_ca", "birthdate": "", "postalCode": "", "country": "CA", "note": "",
         "joinedOn": joined, "updatedOn": joined, "consentType": None, "relationType": None,
         "consentDate": None, "consentExpiration": None, "consentProof": None, "status": "active",
         "customFields": {}, "groups": []}
    m.update(extra)
    return m


def cyberimpact_document(gen: _Generator) -> Json:
    """The default Cyberimpact account (plan pro, 50 custom fields, the default token), two unrelated
    members and one unsubscribed member whose e-mail is an Amilia adult's (`unsubscribed_in_cyberimpact`).
    Written already normalised (e-mails lower-cased, every member field present), so it round-trips."""
    since = (gen.today - timedelta(days=500)).isoformat()
    members = [
        _member(1, "nathalie.beaudry@cooptel.qc.ca", "Nathalie", "Beaudry", f"{since} 10:12:00", gender="f",
                consentType="express", relationType="express-consent", consentDate=since,
                consentProof="Formulaire d'inscription à l'infolettre"),
        _member(2, "info@boulangerie-st-viateur.ca", "", "", f"{since} 14:40:00",
                company="Boulangerie St-Viateur", note="Partenaire fête de quartier"),
    ]
    unsub = gen.planted.get("unsubscribed_in_cyberimpact")
    if unsub is not None:
        members.append(_member(3, unsub["Email"].lower(), unsub["FirstName"], unsub["LastName"],
                               f"{since} 08:00:00", gender="f", status="unsubscribed",
                               updatedOn=f"{since} 09:00:00"))
    return {"account": {"id": 1, "name": "Sandbox", "plan": "pro", "customFieldsLimit": 50},
            "tokens": [CYBERIMPACT_TOKEN], "customFields": [], "groups": [], "members": members}
