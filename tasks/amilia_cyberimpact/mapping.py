"""The seed's field table and group vocabulary for the Amilia → Cyberimpact sync, as data.

Seed: "Liste des informations importées avec vos contacts" — 7 regular fields and 14 custom fields.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

GROUP_SEPARATOR = " \\ "
CLIENTS_GROUP = "Clients Amilia"
ARCHIVED_GROUP = "Clients Amilia archivés"
RELATION_TYPE = "active-clients"  # "API ou Webhook - Client actif": tacit consent, 24 months


@dataclass(frozen=True)
class CustomField:
    name: str
    type: str  # Cyberimpact custom field type: text | integer | date
    description: str


# Regular Cyberimpact member fields filled from Amilia (seed: "Champ régulier").
REGULAR_FIELDS: tuple[str, ...] = (
    "email", "firstname", "lastname", "gender", "birthdate", "country", "postalCode",
)

# Custom fields, created when missing (seed: "Champ personnalisé de texte / nombre entier / date").
CUSTOM_FIELDS: tuple[CustomField, ...] = (
    CustomField("Amilia.Address.City", "text", "Ville"),
    CustomField("Amilia.Address.StateProvince", "text", "Province"),
    CustomField("Amilia.AccountId", "integer", "Numéro de compte dans Amilia"),
    CustomField("Amilia.PersonId", "integer", "Numéro d'identification de la personne dans Amilia"),
    CustomField("Amilia.IsArchived", "text", "Statut archivé: True ou False"),
    CustomField("Amilia.Skills", "text", "Aptitudes de la personne, séparées par des virgules"),
    CustomField("Amilia.JoinDate", "date", "Date de création du contact dans Amilia"),
    CustomField("Amilia.Membership.Name", "text", "Nom du dernier abonnement acheté"),
    CustomField("Amilia.Membership.PurchasedDate", "date", "Date d'achat du dernier abonnement"),
    CustomField("Amilia.Membership.EffectiveDate", "date", "Date à partir de laquelle l'abonnement est effectif"),
    CustomField("Amilia.Membership.ExpirationDate", "date", "Date d'expiration de l'abonnement"),
    CustomField("Amilia.ExternalId", "text", "Numéro d'identification externe"),
    CustomField("Amilia.Telephone", "text", "Téléphone"),
    CustomField("Amilia.TelephoneMobile", "text", "Téléphone mobile"),
)
CUSTOM_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CUSTOM_FIELDS)
ARCHIVED_FIELD = "Amilia.IsArchived"

GENDERS = {"male": "m", "female": "f", "other": "o", "m": "m", "f": "f", "o": "o"}


@functools.lru_cache(maxsize=8192)  # tens of thousands of registrations share a few hundred activities
def group_title(*levels: str | None) -> str:
    """`Program \\ Category \\ Subcategory \\ Activity`, skipping levels Amilia leaves empty."""
    return GROUP_SEPARATOR.join(str(level).strip() for level in levels if level and str(level).strip())


def dynamic_criteria(prefix_title: str) -> dict:
    """Criterion of a program/category/subcategory group: an activity group name contains the prefix.

    The separator is part of the prefix, so "Arts \\ " does not catch "Arts martiaux \\ …"
    (DESIGN.md, "Where we improve on the seeds").
    """
    return {"match": "all",
            "rules": [{"field": "groupTitle", "operator": "contains",
                       "value": prefix_title + GROUP_SEPARATOR}]}


def archived_criteria(archived_field_id: str | int) -> dict:
    """Criterion of "Clients Amilia archivés": Amilia.IsArchived = True."""
    return {"match": "all",
            "rules": [{"field": "customField", "customFieldId": str(archived_field_id),
                       "operator": "equals", "value": "True"}]}
