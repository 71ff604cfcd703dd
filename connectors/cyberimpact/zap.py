"""Cyberimpact zap actions: ``cyberimpact.upsert_contact``, ``add_to_groups``, ``remove_from_groups``
(docs/zap-actions-vendors.md). A contact is a Cyberimpact member; its key is its e-mail (API-NOTES §2).

All three are idempotent, so the runner may send them again after a lost answer:

- upsert: the contact is read by e-mail, then patched (only the fields given) or created; a create whose answer
  was lost, or that lost a race ("email already taken"), is settled by reading the contact again;
- adding to groups is a set union, removing is a DELETE per group.

Example (a zap step):
    - {id: contact, type: action, action: cyberimpact.upsert_contact, connection: newsletter,
       inputs: {email: "{{ trigger.json.email }}", firstname: "{{ trigger.json.first_name }}", groups: [12]}}
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from connectors._http import ApiError, NotFoundError, OutcomeUnknown, ServerError, ValidationError
from connectors.cyberimpact.client import MEMBER, MEMBERS, CyberimpactClient
from connectors.cyberimpact.credentials import CyberimpactCredentials
from passerelle.zaps.registry import action

RelationType = Literal["express-consent", "active-clients", "information-request", "business-card", "web-contacts",
                       "purchased-list", "contest-participants", "mixed-list", "association-members", "employees",
                       "partners", "inactive-clients"]
LANGUAGES = {"fr": "fr_ca", "fr_ca": "fr_ca", "fr-ca": "fr_ca", "en": "en_ca", "en_ca": "en_ca", "en-ca": "en_ca"}
# Input name → Cyberimpact's member field.
FIELDS = {"firstname": "firstname", "lastname": "lastname", "company": "company", "language": "language",
          "gender": "gender", "birthdate": "birthdate", "postal_code": "postalCode", "country": "country",
          "note": "note"}


_EMAIL = re.compile(r"[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                    r"[A-Za-z0-9])?)*\.[A-Za-z]{2,}")


def _email(value: Any) -> str:
    """The contact's key: the e-mail, trimmed and lower-cased (Cyberimpact compares e-mails without case)."""
    text = value.strip() if isinstance(value, str) else ""
    if not _EMAIL.fullmatch(text):
        raise ValueError(f"{value!r} is not an e-mail address; write name@example.org")
    return text.lower()


class _Contact(BaseModel):
    model_config = {"extra": "forbid"}

    email: str = Field(..., description="the contact's e-mail: its key in Cyberimpact")

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        return _email(value)


def _group_ids(value: Any) -> Any:
    """Group ids as a list, one id, or a text "3, 4" (as a template renders them)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return [] if value is None else value


def _check_groups(value: list[int]) -> list[int]:
    if any(g < 1 for g in value):
        raise ValueError("group ids are positive numbers (Cyberimpact → Groups: the id in the group's address)")
    return list(dict.fromkeys(value))


class UpsertContactInput(_Contact):
    """The inputs of ``cyberimpact.upsert_contact``. Fields left empty keep the contact's current values."""

    firstname: str | None = None
    lastname: str | None = None
    company: str | None = None
    language: str | None = Field(None, description="fr_ca or en_ca (fr and en are understood)")
    gender: Literal["m", "f", "o"] | None = None
    birthdate: dt.date | None = Field(None, description="YYYY-MM-DD")
    postal_code: str | None = None
    country: str | None = Field(None, description="ISO 3166 alpha-2 code, e.g. CA")
    note: str | None = None
    groups: list[int] = Field(default_factory=list, description="static group ids the contact is added to (kept "
                              "in its other groups)")
    custom_fields: dict[int, str | int | float] = Field(default_factory=dict, description="custom field id → value")
    relation_type: RelationType | None = Field(None, description="consent of a new contact (an existing contact's "
                                               "consent is kept)")
    consent_date: dt.date | None = Field(None, description="day of that consent (default: today)")
    consent_proof: str | None = Field(None, description="proof of that consent (free text)")

    @field_validator("firstname", "lastname", "company", "language", "gender", "birthdate", "postal_code", "country",
                     "note", "relation_type", "consent_date", "consent_proof", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return LANGUAGES[value.strip().lower()]
        except KeyError:
            raise ValueError(f"{value!r} is not a Cyberimpact language; give fr_ca or en_ca") from None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not (len(value.strip()) == 2 and value.strip().isalpha()):
            raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code such as CA or FR")
        return value.strip().upper() if value else None

    @field_validator("groups", mode="before")
    @classmethod
    def _groups_text(cls, value: Any) -> Any:
        return _group_ids(value)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: list[int]) -> list[int]:
        return _check_groups(value)

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _custom_blank(cls, value: Any) -> Any:
        if isinstance(value, dict):  # an empty value keeps the field as it is, like the other fields
            return {k: v for k, v in value.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        return value

    def member_fields(self) -> dict[str, Any]:
        """The member fields to write, in Cyberimpact's names (only those given)."""
        out: dict[str, Any] = {}
        for name, api in FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                out[api] = value.isoformat() if isinstance(value, dt.date) else value
        if self.custom_fields:
            out["customFields"] = {str(k): v for k, v in self.custom_fields.items()}
        return out


class GroupsInput(_Contact):
    """The inputs of ``cyberimpact.add_to_groups`` and ``remove_from_groups``."""

    groups: list[int] = Field(..., min_length=1, description="static group ids")

    @field_validator("groups", mode="before")
    @classmethod
    def _groups_text(cls, value: Any) -> Any:
        return _group_ids(value)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: list[int]) -> list[int]:
        return _check_groups(value)


class ContactOutput(BaseModel):
    id: int | None = Field(None, description="the contact's Cyberimpact id")
    email: str
    status: str | None = Field(None, description="active or unsubscribed")
    groups: list[int] = Field(default_factory=list, description="the contact's group ids afterwards")
    created: bool = Field(False, description="the contact did not exist and was created")


def cyberimpact_block(connection: Any, ref: str) -> CyberimpactCredentials:
    """The connection as a Cyberimpact Block, or an error naming what the step lacks."""
    if isinstance(connection, CyberimpactCredentials):
        return connection
    raise ApiError(vendor="Cyberimpact", message=f"{ref} needs a Cyberimpact connection (a 'Cyberimpact "
                   f"Credentials' block), got {type(connection).__name__}", hint="Set the step's connection: "
                   "`passerelle connect cyberimpact --name NAME`.")


def _output(member: dict[str, Any], created: bool = False) -> ContactOutput:
    return ContactOutput(id=member.get("id"), email=member["email"], status=member.get("status"),
                         groups=[int(g) for g in member.get("groups") or []], created=created)


def _no_contact(email: str, what_to_do: str) -> NotFoundError:
    return NotFoundError(vendor="Cyberimpact", status=404, method="GET", path=MEMBER.path_for(key=email),
                         message=f"no contact has the e-mail {email}", hint=f"It is not a contact: {what_to_do}.")


async def _create(cyber: CyberimpactClient, inputs: UpsertContactInput) -> tuple[dict[str, Any] | None, bool]:
    """``POST /members`` → (the contact, created). The contact is None when it turned out to exist: created by
    this call whose answer was lost (True), or by someone else meanwhile (False); the caller reads and patches it."""
    body: dict[str, Any] = {"email": inputs.email, **inputs.member_fields()}
    if inputs.groups:
        body["groups"] = ",".join(str(g) for g in inputs.groups)
    if inputs.relation_type:
        body.update(relationType=inputs.relation_type, consentDate=(inputs.consent_date or dt.date.today())
                    .isoformat(), consentProof=inputs.consent_proof)
    try:
        return await cyber.api.post_json(MEMBERS.path_for(), body), True
    except OutcomeUnknown:
        return None, True
    except ValidationError as exc:
        if "email" in exc.errors and await cyber.get_member(inputs.email) is not None:
            return None, False  # "The email has already been taken": created meanwhile by someone else
        raise


@action("cyberimpact", "upsert_contact", title="Create or update a Cyberimpact contact", idempotent=True,
        connection="cyberimpact")
async def upsert_contact(inputs: UpsertContactInput, connection: Any = None) -> ContactOutput:
    """Create the contact with this e-mail, or update the fields given of the existing one, and add it to groups.

    Idempotent (upsert by e-mail): sent twice, it leaves one contact as once. An existing contact's consent is kept.
    """
    block = cyberimpact_block(connection, "cyberimpact.upsert_contact")
    created = False
    async with block.client() as cyber:
        member = await cyber.get_member(inputs.email)
        if member is None:
            member, created = await _create(cyber, inputs)
            if member is not None:
                return _output(member, created=True)
            member = await cyber.get_member(inputs.email)
            if member is None:
                raise ServerError(vendor="Cyberimpact", method="POST", path=MEMBERS.path, message="the create's "
                                  f"answer was lost and no contact {inputs.email} exists: it was not created",
                                  hint="It is safe to run again.")
        fields = inputs.member_fields()
        if fields:
            member = await cyber.patch_member(inputs.email, fields)
        missing = [g for g in inputs.groups if g not in (member.get("groups") or [])]
        if missing:
            await cyber.add_member_groups(inputs.email, missing)  # its answer is a page of groups: count on ours
            member = dict(member, groups=sorted({*member.get("groups", []), *missing}))
    return _output(member, created=created)


@action("cyberimpact", "add_to_groups", title="Add a Cyberimpact contact to groups", idempotent=True,
        connection="cyberimpact")
async def add_to_groups(inputs: GroupsInput, connection: Any = None) -> ContactOutput:
    """Add an existing contact to static groups (it stays in its other groups; groups it is in already are left
    as they are)."""
    block = cyberimpact_block(connection, "cyberimpact.add_to_groups")
    async with block.client() as cyber:
        member = await cyber.get_member(inputs.email)
        if member is None:
            raise _no_contact(inputs.email, "create it first (cyberimpact.upsert_contact)")
        missing = [g for g in inputs.groups if g not in (member.get("groups") or [])]
        if missing:
            await cyber.add_member_groups(inputs.email, missing)
    return _output(dict(member, groups=sorted({*member.get("groups", []), *missing})))


@action("cyberimpact", "remove_from_groups", title="Remove a Cyberimpact contact from groups", idempotent=True,
        connection="cyberimpact")
async def remove_from_groups(inputs: GroupsInput, connection: Any = None) -> ContactOutput:
    """Remove a contact from static groups (a group it is not in is left as it is)."""
    block = cyberimpact_block(connection, "cyberimpact.remove_from_groups")
    async with block.client() as cyber:
        member = await cyber.get_member(inputs.email)
        if member is None:
            raise _no_contact(inputs.email, "there is nothing to remove it from")
        present = [g for g in inputs.groups if g in (member.get("groups") or [])]
        for group in present:
            await cyber.remove_member_group(inputs.email, group)
    return _output(dict(member, groups=[g for g in member.get("groups", []) if g not in present]))
