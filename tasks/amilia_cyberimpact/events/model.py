"""Amilia webhook events as the drain sees them: what each inbox row asks for (pure, no I/O).

An inbox row holds the whole Amilia envelope ``{"OrganizationId", "Context", "Action", "Name", "EventTime",
"Payload"}`` (docs/amilia-webhooks.md). :func:`classify` turns it into an :class:`AmiliaEvent` with one of
the kinds below, or a skip with the reason; a payload that cannot be read raises :class:`BadPayload`, an
event of another organisation than the link's :class:`OtherOrganisation` (never applied). A registration
Delete carrying only its Id is resolved from the registration facts the store kept (:func:`resolve_thin`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tasks.amilia_cyberimpact.mapping import group_title

PERSON = "person"                        # Person.Create/Update: add or update the person and the owner
PERSON_ARCHIVE = "person-archive"        # Person.Delete
ACCOUNT = "account"                      # Account.Create/Update: add or update the owner
ACCOUNT_ARCHIVE = "account-archive"      # Account.Delete (Amilia archives the account)
REGISTRATION = "registration"            # Registration.Create/Update, not cancelled
REGISTRATION_CANCEL = "registration-cancel"  # Registration.Delete, or Update with IsCancelled true
MEMBERSHIP = "membership"                # MembershipPurchased.Create/Update
MEMBERSHIP_CANCEL = "membership-cancel"  # MembershipPurchased.Delete with a full row
SKIP = "skip"

# Why an event changes nothing (also the keys of the run's "skipped" counts).
SKIP_CONTEXT = "{context} events are not sync triggers"
SKIP_ACTION = "unknown action {action!r}"
SKIP_THIN_REGISTRATION = "registration payload without Person/AccountOwner"
SKIP_NO_ACTIVITY = "registration without an activity (no Program or Activity name): no group to give"
SKIP_UNKNOWN_REGISTRATION = "unknown registration"  # a Delete with only an Id never seen: reconciliation settles it
SKIP_THIN_MEMBERSHIP = "membership payload without PersonId/MembershipId"
SKIP_OLD_REGISTRATION = "registration created before the 24-month window"
SKIP_EXPIRED_MEMBERSHIP = "membership already expired"
SKIP_GONE = "no longer in Amilia (404)"
SKIP_NOTHING = "no contact concerned: no e-mail, or a child"
SKIP_KEPT = "still enrolled in this activity or membership: kept in its group"
SKIP_ALL_CANCELLED = "activity cancelled for all participants: group kept intact"


class BadPayload(ValueError):
    """The envelope or its payload cannot be read; retrying will not help."""


class OtherOrganisation(BadPayload):
    """The event is not about the link's organisation (or that cannot be checked): dead at once, never
    applied. Its message is the reason stored with the dead event."""


@dataclass(frozen=True)
class LinkOrganisation:
    """The Amilia organisation a link belongs to: the id or store slug of its credentials and, when known,
    the number every envelope's ``OrganizationId`` must be (a slug's number comes from Amilia's answers)."""

    identifier: str
    number: int | None

    def check(self, envelope: dict[str, Any]) -> None:
        """Raises :class:`OtherOrganisation` unless the envelope is about this organisation."""
        sent = envelope.get("OrganizationId")
        if self.number is None:
            raise OtherOrganisation(
                f"cannot check the organisation of this event (OrganizationId {sent!r}): the link's Amilia "
                f"organisation is {self.identifier!r} and no Amilia answer gave its number. Save the "
                f"organisation's number in the link's Amilia credentials, then replay the dead events")
        if _opt_int(sent) != self.number:
            raise OtherOrganisation(f"event of Amilia organisation {sent!r}, not of this link's organisation "
                                    f"{self.number}: never applied")


@dataclass
class AmiliaEvent:
    """One inbox row, read.

    Attributes:
        id: Inbox row id (the effect-ledger keys are ``inbox-<id>:<step>``).
        event_type: ``Context.Action``.
        kind: One of the kinds of this module.
        person_id: The person concerned (registered person, membership holder, person of a Person event).
        account_id: The account concerned when the payload says it.
        owner_id: The account owner's person id when the payload says it (registrations).
        record: The registration or membership row (with ``IsCancelled`` as sent).
        title: The activity or membership group this event adds to or removes from.
        activity_id: Activity id of a registration.
        reason: Why nothing is done (kind ``skip``).
        registration_id: Amilia's Id of a registration Delete that carried only it (resolved from the store).
    """

    id: int
    event_type: str
    kind: str
    person_id: int | None = None
    account_id: int | None = None
    owner_id: int | None = None
    record: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    activity_id: int | None = None
    reason: str | None = None
    registration_id: str | None = None


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise BadPayload(f"{what} is not an id: {value!r}") from None


def _opt_int(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _name(obj: Any) -> str | None:
    return obj.get("Name") if isinstance(obj, dict) else None


def registration_title(reg: dict[str, Any]) -> str:
    """The activity group of a registration: ``Program \\ Category \\ Subcategory \\ Activity``."""
    return group_title(_name(reg.get("Program")), _name(reg.get("Category")), _name(reg.get("SubCategory")),
                       _name(reg.get("Activity")))


def classify(row_id: int, event_type: str, envelope: dict[str, Any], *, window_start: date,
             today: date, organisation: LinkOrganisation | None = None) -> AmiliaEvent:
    """Read one envelope.

    Args:
        row_id: Inbox row id.
        event_type: ``Context.Action`` as stored by the gateway.
        envelope: The whole Amilia envelope.
        window_start: First day of the sync window (registrations created before it are not enrolments).
        today: Processing day (memberships that expired before it are not enrolments).
        organisation: The link's organisation; an envelope of another one is refused (None: not checked).

    Raises:
        OtherOrganisation: the event is not about the link's organisation, or that cannot be checked.
        BadPayload: the envelope or payload is not what Amilia sends.
    """
    if not isinstance(envelope, dict):
        raise BadPayload("the stored envelope is not a JSON object")
    if organisation is not None:
        organisation.check(envelope)
    context = str(envelope.get("Context") or event_type.partition(".")[0])
    action = str(envelope.get("Action") or event_type.partition(".")[2])
    payload = envelope.get("Payload")
    if not isinstance(payload, dict):
        raise BadPayload(f"{context}.{action}: Payload is not a JSON object")
    ev = AmiliaEvent(id=row_id, event_type=f"{context}.{action}", kind=SKIP)
    if action not in ("Create", "Update", "Delete"):
        ev.reason = SKIP_ACTION.format(action=action)
    elif context == "Person":
        ev.person_id = _int(payload.get("Id"), "Person Id")
        ev.account_id = _opt_int(payload.get("AccountId"))
        ev.kind = PERSON_ARCHIVE if action == "Delete" else PERSON
    elif context == "Account":
        ev.account_id = _int(payload.get("Id"), "Account Id")
        ev.kind = ACCOUNT_ARCHIVE if action == "Delete" else ACCOUNT
    elif context == "Registration":
        _registration(ev, payload, action, window_start)
    elif context == "MembershipPurchased":
        _membership(ev, payload, action, today)
    else:
        ev.reason = SKIP_CONTEXT.format(context=context)
    return ev


def _registration(ev: AmiliaEvent, reg: dict[str, Any], action: str, window_start: date) -> None:
    person, owner = reg.get("Person"), reg.get("AccountOwner")
    if not (isinstance(person, dict) and isinstance(owner, dict) and person.get("Id") is not None):
        if action == "Delete" and reg.get("Id") not in (None, ""):  # only the Id: resolved from the store
            ev.registration_id = str(_int(reg["Id"], "Registration Id"))
            ev.reason = SKIP_UNKNOWN_REGISTRATION
        else:
            ev.reason = SKIP_THIN_REGISTRATION
        return
    if not registration_title(reg):  # the seed's registration rules are about an activity's group
        ev.reason = SKIP_NO_ACTIVITY
        return
    ev.person_id = _int(person.get("Id"), "Registration Person.Id")
    ev.owner_id = _opt_int(owner.get("Id"))
    ev.account_id = _opt_int(owner.get("AccountId"))
    ev.activity_id = _opt_int((reg.get("Activity") or {}).get("Id"))
    ev.record, ev.title = reg, registration_title(reg)
    if action == "Delete" or reg.get("IsCancelled"):
        ev.kind = REGISTRATION_CANCEL
    elif str(reg.get("DateCreated") or "")[:10] < window_start.isoformat():
        ev.reason = SKIP_OLD_REGISTRATION
    else:
        ev.kind = REGISTRATION


def _membership(ev: AmiliaEvent, row: dict[str, Any], action: str, today: date) -> None:
    if row.get("PersonId") is None or row.get("MembershipId") is None or not row.get("MembershipName"):
        ev.reason = SKIP_THIN_MEMBERSHIP
        return
    ev.person_id = _int(row.get("PersonId"), "MembershipPurchased PersonId")
    ev.account_id = _opt_int(row.get("AccountId"))
    ev.record, ev.title = row, str(row["MembershipName"]).strip()
    if action == "Delete":
        ev.kind = MEMBERSHIP_CANCEL
    elif row.get("ExpirationDate") and str(row["ExpirationDate"])[:10] < today.isoformat():
        ev.reason = SKIP_EXPIRED_MEMBERSHIP
    else:
        ev.kind = MEMBERSHIP


def registration_record(fact: dict[str, Any]) -> dict[str, Any]:
    """A stored registration fact (passerelle/store/registrations.py) as the cancelled registration Amilia
    would have sent in full."""
    def named(name: str | None, ident: int | None = None) -> dict[str, Any] | None:
        return None if not name else ({"Id": ident, "Name": name} if ident is not None else {"Name": name})

    return {"Id": fact["registration_id"], "RegistrationId": fact.get("number"),
            "DateCreated": fact.get("date_created"), "IsCancelled": True,
            "Program": named(fact.get("program")), "Category": named(fact.get("category")),
            "SubCategory": named(fact.get("subcategory")),
            "Activity": named(fact.get("activity"), fact.get("activity_id")) or {"Id": fact.get("activity_id")},
            "Person": {"Id": fact["person_id"]},
            "AccountOwner": {"Id": fact.get("owner_person_id"), "AccountId": fact.get("account_id")}}


def resolve_thin(ev: AmiliaEvent, fact: dict[str, Any] | None, window_start: date) -> None:
    """A registration Delete that carried only its Id, resolved from the facts the store kept: the same
    event as the full Delete (seed: "En cas de désinscription, nous retirerons l'adresse du propriétaire du
    compte et celle de la personne des groupes d'activité"); unchanged (skipped: "unknown registration")
    when the Id was never seen."""
    if ev.registration_id is None or fact is None:
        return
    ev.reason = None
    _registration(ev, registration_record(fact), "Delete", window_start)


def registration_fact(reg: dict[str, Any]) -> dict[str, Any] | None:
    """What the store keeps of a full registration payload (None without Id, person or activity)."""
    person, owner, activity = reg.get("Person") or {}, reg.get("AccountOwner") or {}, reg.get("Activity") or {}
    if reg.get("Id") in (None, "") or _opt_int(person.get("Id")) is None or not _name(activity):
        return None
    return {"registration_id": str(reg["Id"]).strip(), "number": reg.get("RegistrationId"),
            "date_created": str(reg.get("DateCreated") or "")[:19] or None, "person_id": _opt_int(person["Id"]),
            "account_id": _opt_int(owner.get("AccountId")), "owner_person_id": _opt_int(owner.get("Id")),
            "activity_id": _opt_int(activity.get("Id")), "program": _name(reg.get("Program")),
            "category": _name(reg.get("Category")), "subcategory": _name(reg.get("SubCategory")),
            "activity": _name(activity)}
