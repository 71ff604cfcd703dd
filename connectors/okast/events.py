"""OKAST's 13 platform events (../shared/seeds/okast-zapier.txt, "Liste des déclencheurs Zapier"): their names,
titles, what fires them, and the payload each one carries (docs/contracts.md, "OKAST").

OKAST publishes no webhook spec (API-NOTES §7), so the payload is our contract, written from what the seed names:
the user's e-mail, first and last name ("User email", "prénom, nom et adresse email"), the offer, amounts and dates.
Every event is one JSON object:

    {"event_id": "evt_…", "event": "new_subscription", "occurred_at": "2026-03-15T14:03:22Z",
     "user": {"id": "18342", "email": "lea.roy@example.org", "first_name": "Léa", "last_name": "Roy"},
     …the event's own fields (FIELDS below)…}

`event_id` is unique per event and the same on a re-send (the gateway dedupes on it); `user` is the user the event
is about (for a gift confirmation, the one who received the gift; for a reported comment, the one who reported it).
Amounts are JSON numbers in the currency's units (`59.99`), `currency` an ISO 4217 code, dates ISO 8601 in UTC.

Example:
    EVENTS["new_subscription"].sample["offer"]["period"]   # 'yearly'
    check_event("new_gift")                                 # 'new_gift'; an unknown name: UnknownEvent
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER = {"id": "18342", "email": "lea.roy@example.org", "first_name": "Léa", "last_name": "Roy"}
COMMON = ("event_id", "event", "occurred_at", "user")
USER_FIELDS = ("id", "email", "first_name", "last_name")
AT = "2026-03-15T14:03:22Z"


@dataclass(frozen=True)
class OkastEvent:
    """One OKAST trigger: `name` (the event's wire name, the trigger's name and the inbox event type), its title
    in the seed's words, what fires it, and its documented sample payload."""

    name: str
    title: str
    fired_when: str
    fields: dict[str, Any]  # the event's own fields (beyond COMMON), as in its sample
    sample: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        number = list(EVENT_NAMES).index(self.name) + 1 if self.name in EVENT_NAMES else 0
        sample = {"event_id": f"evt_01HZX3K9{number:02d}QF7M2V8C4T6R", "event": self.name, "occurred_at": AT,
                  "user": dict(USER), **self.fields}
        object.__setattr__(self, "sample", sample)


def _offer(offer_id: str, name: str, kind: str, period: str | None = None) -> dict[str, Any]:
    return {"id": offer_id, "name": name, "kind": kind, "period": period}


YEARLY = _offer("off_12", "Abonnement annuel", "subscription", "yearly")
RENTAL = _offer("vod_481", "Le Voyage de Chihiro", "rental")
GIFT = _offer("off_12", "Abonnement annuel", "subscription", "yearly")
FREE = _offer("vod_77", "Les Enfants du Paradis", "content")
PERSON = {"email": "marc.roy@example.org", "first_name": "Marc", "last_name": "Roy"}

EVENT_NAMES = ("new_registration", "new_subscription", "new_purchase", "subscription_cancelled", "forgot_password",
               "new_gift", "gift_confirmation", "payment_confirmation", "payment_failed", "payment_incomplete",
               "new_free_copy", "password_created", "comment_reported")

_EVENTS = (
    OkastEvent("new_registration", "New registration (Nouvel enregistrement d'utilisateur)",
               "each account created on the platform, whether the user pays or not",
               {"registered_at": AT}),
    OkastEvent("new_subscription", "New subscription (Nouvel abonnement)",
               "each subscription taken on the platform",
               {"subscription_id": "sub_5521", "offer": YEARLY, "amount": 59.99, "currency": "EUR",
                "started_at": AT, "renews_at": "2027-03-15T14:03:22Z"}),
    OkastEvent("new_purchase", "New purchase or rental (Nouvelle location de contenu)",
               "each content rented (or bought) on the platform",
               {"purchase_id": "pur_9031", "offer": RENTAL, "amount": 3.99, "currency": "EUR", "purchased_at": AT,
                "expires_at": "2026-03-17T14:03:22Z"}),
    OkastEvent("subscription_cancelled", "Subscription cancelled (Résiliation d'abonnement)",
               "each subscription cancelled on the platform",
               {"subscription_id": "sub_5521", "offer": YEARLY, "cancelled_at": AT,
                "ends_at": "2027-03-15T14:03:22Z"}),
    OkastEvent("forgot_password", "Forgot password (Mot de passe oublié)",
               "each password reset a user asks for (no reset link is sent in the event)",
               {"requested_at": AT}),
    OkastEvent("new_gift", "New gift (Nouveau cadeau)",
               "each gift a user buys for someone close on the platform",
               {"gift_id": "gft_310", "offer": GIFT, "amount": 59.99, "currency": "EUR", "recipient": dict(PERSON),
                "purchased_at": AT}),
    OkastEvent("gift_confirmation", "Gift confirmation (Confirmation de cadeau)",
               "each time a user given a subscription or a content activates it (`user` is that user)",
               {"gift_id": "gft_310", "offer": GIFT, "giver": dict(PERSON), "activated_at": AT}),
    OkastEvent("payment_confirmation", "Payment confirmation (Confirmation de paiement)",
               "each payment confirmation a user receives",
               {"payment_id": "pay_7781", "offer": YEARLY, "amount": 59.99, "currency": "EUR", "paid_at": AT}),
    OkastEvent("payment_failed", "Payment failed (Échec du paiement)",
               "each failed payment of a user",
               {"payment_id": "pay_7782", "offer": YEARLY, "amount": 59.99, "currency": "EUR", "failed_at": AT,
                "reason": "card_declined"}),
    OkastEvent("payment_incomplete", "Payment incomplete (Paiement incomplet)",
               "each payment left incomplete: the user did not finish the strong authentication the bank asked for",
               {"payment_id": "pay_7783", "offer": YEARLY, "amount": 59.99, "currency": "EUR", "created_at": AT,
                "reason": "authentication_required"}),
    OkastEvent("new_free_copy", "New free copy (Nouvelle copie gratuite)",
               "each free copy sent",
               {"free_copy_id": "fc_204", "offer": FREE, "granted_at": AT, "expires_at": "2026-04-15T14:03:22Z"}),
    OkastEvent("password_created", "Password created (Création de mot de passe)",
               "a user creates their password on the platform",
               {"created_at": AT}),
    OkastEvent("comment_reported", "Comment reported (Signalement de commentaires)",
               "a user reports a comment on the platform (`user` is the one who reported it)",
               {"comment": {"id": "com_66", "text": "Spoiler dès la première ligne !",
                            "author": {"id": "20417", **PERSON}, "posted_at": "2026-03-15T13:58:02Z"},
                "offer": FREE, "reported_at": AT, "reason": "spoiler"}),
)

EVENTS: dict[str, OkastEvent] = {e.name: e for e in _EVENTS}
assert tuple(EVENTS) == EVENT_NAMES, "one OkastEvent per name, in the seed's order"


class UnknownEvent(ValueError):
    """A name that is none of OKAST's 13 events; the message lists them."""


def known_events() -> str:
    return ", ".join(EVENT_NAMES)


def check_event(name: Any, field_name: str = "event") -> str:
    """`name` if it is one of the 13 events, else UnknownEvent naming `field_name` and the known ones."""
    if isinstance(name, str) and name in EVENTS:
        return name
    raise UnknownEvent(f"{field_name}: {str(name)[:60]!r} is not an OKAST event; use one of {known_events()}")
