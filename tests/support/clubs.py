"""The Amilia organisations the flow tests sync, each built afresh by a function (a test changes its own copy),
with the day it is synced on and the addresses the tests check; and the sync steps the webhook tests start
from. Each test keeps the data its module had: the seed's rules are asserted on exactly these families.
"""

from __future__ import annotations

from datetime import date

from flows.amilia_sync import amilia_initial_sync
from tests.support.amilia_org import GYM, Org
from tests.support.cyberimpact_state import CYBERIMPACT_TOKEN

# --- the initial sync's club (tests/flows/test_amilia_initial_sync.py): one family per seed rule -------------
INITIAL_SYNC_DAY = date(2026, 11, 23)  # a fixed day: the 24-month window and the consent dates are asserted

# The Cyberimpact account it is synced into: gone@ unsubscribed there.
INITIAL_SYNC_CYBERIMPACT = {
    "tokens": [CYBERIMPACT_TOKEN],
    "members": [{"id": 1, "email": "gone@example.org", "firstname": "Gone", "status": "unsubscribed"}]}


def initial_sync_club() -> Org:
    """The Roy family (owner, adult, child), and one family each: archived, gym membership only, expired
    membership only, registered over 24 months ago, unsubscribed in Cyberimpact."""
    org = Org(today=INITIAL_SYNC_DAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    org.activity(2, "Arts martiaux", "Karaté", "Débutant", "Karaté lundi")
    org.membership(12, GYM)
    org.family(1, "marc.roy@example.org")                                    # owner
    julie = org.person(11, 1, "Julie", "julie.roy@example.org")              # adult, own e-mail
    leo = org.person(12, 1, "Léo", "leo.roy@example.org", child=True)        # child
    org.register(100, julie, 1, days_ago=30)
    org.register(101, leo, 2, days_ago=20)
    gagnon = org.family(2, "gagnon@example.org", archived=True)             # archived account
    org.register(200, gagnon, 1, days_ago=50)
    gym = org.family(3, "gym@example.org")                                   # active membership only
    org.hold(12, gym, purchased_days_ago=15)
    old = org.family(4, "old@example.org")                                   # expired membership only
    org.hold(12, old, expired=True)
    ancient = org.family(5, "ancient@example.org")                           # registration > 24 months
    org.register(500, ancient, 1, days_ago=800)
    gone = org.family(6, "gone@example.org")                                 # unsubscribed in Cyberimpact
    org.register(600, gone, 2, days_ago=5)
    return org


# --- the clubs the webhook drain is tested on, synced today ------------------------------------------------
TODAY = date.today()  # the drain judges the 24-month window and the memberships against today

# The webhooks' club (tests/flows/test_amilia_webhooks.py): the Roy family and Gagnon.
MARC, JULIE, GAGNON = "marc.roy@example.org", "julie.roy@example.org", "gagnon@example.org"


def webhook_club() -> Org:
    """The Roy family (Marc the owner, Julie, Léo a child) and Gagnon, in ballet, karaté and swimming."""
    org = Org(today=TODAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    org.activity(2, "Arts martiaux", "Karaté", "Débutant", "Karaté lundi")
    org.activity(3, "Aquatique", "Natation", None, "Natation 1")
    org.activity(4, "Sports", "Soccer", "U10", "Soccer samedi")
    org.membership(12, GYM)
    marc = org.family(1, MARC)                                             # person 10, owner
    julie = org.person(11, 1, "Julie", JULIE)                              # adult, own e-mail
    leo = org.person(12, 1, "Léo", None, child=True)                       # child
    org.register(100, julie, 1, days_ago=30)
    org.register(101, leo, 1, days_ago=29)                                 # the owner is in ballet twice
    org.register(102, leo, 2, days_ago=20)                                 # the owner's only karate reason
    org.register(103, julie, 3, days_ago=10)
    gagnon = org.family(2, GAGNON)                                         # person 20
    org.register(200, gagnon, 1, days_ago=50)
    org.register(201, gagnon, 3, days_ago=10)
    org.register(202, gagnon, 2, days_ago=8)
    assert marc["Id"] == 10 and gagnon["Id"] == 20
    return org


# The shared-address club (tests/flows/test_archived_accounts_rule_flows.py): one address behind a live person
# and archivable accounts.
LIVE_OWNER, SHARED, OTHER = "marc@example.org", "sam@example.org", "other@example.org"


def shared_address_club() -> Org:
    """Sam's address is Julie's in the live account 1, the owner's of account 2 and Lou's in account 4."""
    org = Org(today=TODAY)
    org.activity(1, "Arts", "Danse", "Ballet", "Ballet 5-7 ans")
    org.activity(2, "Arts martiaux", "Karaté", "Débutant", "Karaté lundi")
    org.activity(3, "Aquatique", "Natation", None, "Natation 1")
    org.membership(12, GYM)
    org.family(1, LIVE_OWNER)                                               # person 10, live account
    julie = org.person(11, 1, "Julie", SHARED)                              # the live person of the address
    org.register(100, julie, 1, days_ago=30)                                # ballet
    sam = org.family(2, SHARED)                                             # person 20, account to archive
    org.register(200, sam, 2, days_ago=10)                                  # karaté: account 2 only
    org.register(201, sam, 1, days_ago=12)                                  # ballet: both accounts
    org.hold(12, sam, purchased_days_ago=20)                                # gym: account 2 only
    other = org.family(3, OTHER)                                            # person 30, account to archive
    org.register(300, other, 2, days_ago=9)
    return org


# --- where the webhook tests start from ---------------------------------------------------------------------
async def synced(link, org: Org) -> None:
    """Amilia holds the organisation and the initial sync ran today: the state the webhooks change."""
    link.load(org.state())
    await amilia_initial_sync(link=link.name, as_of=TODAY)


def reload_amilia(link, org: Org) -> None:
    """Amilia changed (the webhooks tell about it); Cyberimpact keeps its state."""
    link.load(org.state(), link.cyberimpact())
