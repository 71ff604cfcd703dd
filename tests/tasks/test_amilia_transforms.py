"""The seed's rules as pure transforms (no Prefect, no HTTP).

Each test quotes the sentence of ../shared/seeds/cyberimpact-amilia-sync.txt it checks.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tasks.amilia_cyberimpact.mapping import CUSTOM_FIELD_NAMES, REGULAR_FIELDS, dynamic_criteria
from tasks.amilia_cyberimpact.transforms import (
    REASON_CHILD,
    REASON_NO_EMAIL,
    REASON_SAME_EMAIL,
    accounts_frame,
    enrolments_frame,
    persons_frame,
    plan_contacts,
    window_start,
)
from tests.support.amilia_org import Org, contact, groups_of

TODAY = date(2026, 11, 23)


def plan(org: Org, months: int = 24):
    since = window_start(org.today, months)
    return plan_contacts(persons_frame(org.persons), accounts_frame(org.api_accounts()),
                         enrolments_frame(org.registrations, org.active_holders(), since=since,
                                          until=org.today))


def emails(p) -> set[str]:
    return set(p.contacts["email"])


@pytest.fixture
def org() -> Org:
    o = Org(today=TODAY)
    o.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    o.activity(2, "Arts martiaux", "Karaté", "Débutant", "Karaté lundi")
    o.activity(3, "Aquatique", None, None, "Bain libre")
    return o


def test_owner_and_registered_adult_both_added(org: Org):
    """"Nous importerons l'adresse courriel du propriétaire du compte Amilia qui a effectué l'inscription
    …, ainsi que celle de la personne inscrite (uniquement si différente de la première)"."""
    owner = org.family(7, "marc@example.org")
    spouse = org.person(71, 7, "Julie", "julie@example.org")
    org.register(100, spouse, 1)
    p = plan(org)
    assert emails(p) == {"marc@example.org", "julie@example.org"}
    assert groups_of(p, "marc@example.org") == groups_of(p, "julie@example.org") == {
        "Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans"}
    assert contact(p, "marc@example.org")["Amilia.PersonId"] == owner["Id"]


def test_child_adds_only_the_owner(org: Org):
    """"si la personne inscrite est identifiée comme un "enfant" dans Amilia, seules l'adresse et les
    informations du propriétaire du compte Amilia ayant effectué l'inscription seront ajoutées"."""
    org.family(7, "marc@example.org")
    child = org.person(72, 7, "Léo", "leo.kid@example.org", child=True)
    org.register(100, child, 1)
    p = plan(org)
    assert emails(p) == {"marc@example.org"}
    assert contact(p, "marc@example.org")["firstname"] == "Marc"
    assert p.skipped.set_index("person_id").loc[72, "reason"] == REASON_CHILD
    assert groups_of(p, "marc@example.org") == {"Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans"}


def test_same_email_as_owner_adds_only_the_owner(org: Org):
    """"ainsi que celle de la personne inscrite (uniquement si différente de la première)"."""
    owner = org.family(7, "marc@example.org")
    teen = org.person(73, 7, "Zoé", "Marc@Example.org")
    org.register(100, teen, 1)
    p = plan(org)
    assert emails(p) == {"marc@example.org"}
    assert contact(p, "marc@example.org")["Amilia.PersonId"] == owner["Id"]
    assert p.skipped.set_index("person_id").loc[73, "reason"] == REASON_SAME_EMAIL


def test_no_email_is_never_a_contact(org: Org):
    """"Pour être ajouté dans votre compte Cyberimpact, le contact doit posséder une adresse courriel
    dans Amilia"."""
    org.family(7, None)
    adult = org.person(74, 7, "Paul", None)
    org.register(100, adult, 1)
    p = plan(org)
    assert p.contacts.empty
    assert set(p.skipped["reason"]) == {REASON_NO_EMAIL}
    assert set(p.skipped["person_id"]) == {70, 74}


def test_drop_in_joins_the_activity_group(org: Org):
    """"L'adresse des contacts considérés comme des "Drop-ins" … sera également ajoutée aux groupes des
    activités auxquelles ils participent"."""
    owner = org.family(8, "drop@example.org")
    org.register(200, owner, 3, drop_in=True)
    p = plan(org)
    assert groups_of(p, "drop@example.org") == {"Aquatique \\ Bain libre"}
    assert contact(p, "drop@example.org")["consent_proof"] == "DI-200"


def test_24_month_window_edges(org: Org):
    """"nous récupérons toutes les inscriptions d'activité effectuées dans les derniers 24 derniers
    mois": the first day of the window is in, the day before is out."""
    first_day = window_start(TODAY, 24)
    assert first_day == date(2024, 11, 23)
    inside = org.family(1, "inside@example.org")
    outside = org.family(2, "outside@example.org")
    org.register(1, inside, 1, created=first_day.isoformat() + "T00:00:00")
    org.register(2, outside, 1, created=(first_day - timedelta(days=1)).isoformat() + "T23:59:59")
    assert emails(plan(org)) == {"inside@example.org"}


def test_cancelled_registration_is_not_imported(org: Org):
    """"En cas de désinscription, nous retirerons l'adresse … des groupes d'activité"."""
    owner = org.family(1, "gone@example.org")
    org.register(1, owner, 1, cancelled=True)
    assert plan(org).contacts.empty


def test_active_membership_imports_and_expired_does_not(org: Org):
    """"ainsi que tous les contacts ayant un abonnement actif"."""
    org.membership(12, "Abonnement gym annuel")
    active = org.family(1, "active@example.org")
    expired = org.family(2, "expired@example.org")
    org.hold(12, active, purchased_days_ago=900)  # bought long ago, still active: imported
    org.hold(12, expired, expired=True)
    p = plan(org)
    assert emails(p) == {"active@example.org"}
    c = contact(p, "active@example.org")
    assert c["Amilia.Membership.Name"] == "Abonnement gym annuel"
    assert c["Amilia.Membership.PurchasedDate"] == (TODAY - timedelta(days=900)).isoformat()
    assert c["Amilia.Membership.ExpirationDate"] == (TODAY + timedelta(days=300)).isoformat()
    assert groups_of(p, "active@example.org") == {"Abonnement gym annuel"}
    assert "Abonnement gym annuel" in p.membership_titles


def test_archived_account_is_flagged_and_in_no_activity_group(org: Org):
    """"nous modifierons la valeur du champ Amilia.IsArchived des contacts concernés à "True". Les
    adresses … seront retirées des groupes d'activités et d'abonnements … Elles demeureront dans la
    liste générale de vos clients Amilia"."""
    owner = org.family(1, "archived@example.org", archived=True)
    org.register(1, owner, 1)
    live = org.family(2, "live@example.org")
    org.register(2, live, 1)
    p = plan(org)
    assert contact(p, "archived@example.org")["Amilia.IsArchived"] == "True"
    assert contact(p, "live@example.org")["Amilia.IsArchived"] == "False"
    assert groups_of(p, "archived@example.org") == set()


def test_consent_date_and_proof_follow_the_latest_registration_or_purchase(org: Org):
    """"La date de consentement correspond soit à la date de création de l'inscription à l'activité ou à
    la date d'achat de l'abonnement. La preuve de consentement est composée du numéro unique de
    l'inscription à la dernière activité ou du nom de l'abonnement"."""
    org.membership(12, "Carte familiale piscine")
    a = org.family(1, "a@example.org")
    org.register(10, a, 1, days_ago=100)
    org.register(11, a, 2, days_ago=40)
    org.hold(12, a, purchased_days_ago=70)
    b = org.family(2, "b@example.org")
    org.register(20, b, 1, days_ago=100)
    org.hold(12, b, purchased_days_ago=5)
    p = plan(org)
    ca, cb = contact(p, "a@example.org"), contact(p, "b@example.org")
    assert (ca["consent_date"], ca["consent_proof"]) == ((TODAY - timedelta(days=40)).isoformat(), "SUB-11")
    assert (cb["consent_date"], cb["consent_proof"]) == ((TODAY - timedelta(days=5)).isoformat(),
                                                          "Carte familiale piscine")


def test_every_field_of_the_mapping(org: Org):
    """"Liste des informations importées avec vos contacts": the 7 regular and 14 custom fields."""
    org.membership(12, "Abonnement gym annuel")
    owner = org.family(1, "full@example.org")
    org.register(1, owner, 1)
    org.hold(12, owner, purchased_days_ago=30)
    c = contact(plan(org), "full@example.org")
    assert set(REGULAR_FIELDS) | set(CUSTOM_FIELD_NAMES) <= set(c)
    assert len(REGULAR_FIELDS) == 7 and len(CUSTOM_FIELD_NAMES) == 14
    purchased = (TODAY - timedelta(days=30)).isoformat()
    assert {k: c[k] for k in (*REGULAR_FIELDS, *CUSTOM_FIELD_NAMES)} == {
        "email": "full@example.org", "firstname": "Marc", "lastname": "Roy", "gender": "m",
        "birthdate": "1986-04-02", "country": "CA", "postalCode": "H2X 1Y4",
        "Amilia.Address.City": "Montréal", "Amilia.Address.StateProvince": "QC",
        "Amilia.AccountId": 1, "Amilia.PersonId": 10, "Amilia.IsArchived": "False",
        "Amilia.Skills": "Natation 2, Premiers soins", "Amilia.JoinDate": "2021-03-04",
        "Amilia.Membership.Name": "Abonnement gym annuel", "Amilia.Membership.PurchasedDate": purchased,
        "Amilia.Membership.EffectiveDate": purchased,
        "Amilia.Membership.ExpirationDate": (TODAY + timedelta(days=300)).isoformat(),
        "Amilia.ExternalId": "EXT-10", "Amilia.Telephone": "514-555-0101",
        "Amilia.TelephoneMobile": "514-555-0199",
    }


def test_group_names_and_hierarchy(org: Org):
    """"Liste des contacts participants à une activité : Nom du programme \\ Nom de la catégorie \\ Nom de
    la sous-catégorie \\ Nom de l'activité", with sub-category, category and program groups."""
    owner = org.family(1, "g@example.org")
    org.register(1, owner, 1)
    org.register(2, owner, 2)
    org.register(3, owner, 3)
    p = plan(org)
    assert p.activity_titles == ["Aquatique \\ Bain libre", "Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans",
                                 "Arts martiaux \\ Karaté \\ Débutant \\ Karaté lundi"]
    assert p.hierarchy_titles == ["Aquatique", "Arts", "Arts \\ Danse", "Arts \\ Danse \\ Ballet",
                                  "Arts martiaux", "Arts martiaux \\ Karaté",
                                  "Arts martiaux \\ Karaté \\ Débutant"]


def test_dynamic_criterion_includes_the_separator():
    """Dynamic groups: "groupe dynamique basé sur le critère que le nom du groupe d'une activité contient
    un programme spécifique"; with the separator, "Arts" does not catch "Arts martiaux" (DESIGN.md)."""
    rule = dynamic_criteria("Arts")["rules"][0]
    assert rule == {"field": "groupTitle", "operator": "contains", "value": "Arts \\ "}
    assert rule["value"] not in "Arts martiaux \\ Karaté \\ Débutant \\ Karaté lundi"
    assert rule["value"] in "Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans"


def test_shared_email_between_accounts_is_one_contact(org: Org):
    """Cyberimpact's member key is the e-mail: two Amilia persons sharing one address are one contact,
    filled from the account owner."""
    a = org.family(1, "shared@example.org")
    org.family(2, "other@example.org")
    adult = org.person(21, 2, "Sam", "shared@example.org")
    org.register(1, a, 1)
    org.register(2, adult, 2)
    p = plan(org)
    c = contact(p, "shared@example.org")
    assert c["Amilia.PersonId"] == a["Id"]
    assert groups_of(p, "shared@example.org") == {"Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans",
                                                  "Arts martiaux \\ Karaté \\ Débutant \\ Karaté lundi"}
