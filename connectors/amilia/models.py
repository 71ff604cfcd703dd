"""Pydantic models of Amilia API v3 objects, with Amilia's own field names (see ``docs/contracts.md``).

They document the shapes and validate single objects (a webhook payload, a ``get_person`` answer).
Listings stay plain dicts for speed; validate one with ``Person.model_validate(row)`` when needed.
Unknown fields are kept (``extra="allow"``): Amilia adds fields over time.

Example:
    person = Person.model_validate(await amilia.get_person(501))
    person.Email, person.Address.City if person.Address else None
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class AmiliaModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class IdName(AmiliaModel):
    Id: int | None = None
    Name: str | None = None


class PersonAddress(AmiliaModel):
    Address1: str | None = None
    City: str | None = None
    StateProvince: str | None = None
    Country: str | None = None
    PostalCode: str | None = None


class Person(AmiliaModel):
    """A person (``GET /persons/{id}``). ``IsChild`` marks children; ``IsArchived`` deleted persons."""

    Id: int
    AccountId: int | None = None
    FirstName: str | None = None
    LastName: str | None = None
    Email: str | None = None
    Gender: Literal["Male", "Female", "Other"] | None = None
    DateOfBirth: date | None = None
    IsChild: bool = False
    Address: PersonAddress | None = None
    Telephone: str | None = None
    TelephoneMobile: str | None = None
    Skills: list[IdName] = []
    ExternalId: str | None = None
    IsArchived: bool = False
    DateCreated: datetime | None = None


class AccountOwner(AmiliaModel):
    AccountOwnerId: int
    AccountOwnerEmail: str | None = None
    AccountOwnerFirstName: str | None = None
    AccountOwnerLastName: str | None = None
    Contacts: list[dict] = []


class AccountMember(AmiliaModel):
    PersonId: int


class Account(AmiliaModel):
    """An account (a family): its owners (``AccountOwnerId`` is a person id) and member persons."""

    Id: int
    IsArchived: bool = False
    Corporate: bool = False
    DateCreated: datetime | None = None
    Owners: list[AccountOwner] = []
    Members: list[AccountMember] = []
    AccountMemberships: list[dict] = []


class RegistrationPerson(AmiliaModel):
    Id: int
    FirstName: str | None = None
    LastName: str | None = None


class RegistrationOwner(AmiliaModel):
    Id: int
    AccountId: int | None = None
    FirstName: str | None = None
    LastName: str | None = None
    Email: str | None = None


class DropInDate(AmiliaModel):
    Date: date


class Registration(AmiliaModel):
    """A registration. ``RegistrationId`` prefix: ``SUB-`` activity, ``DI-`` drop-in, ``PL-`` pass."""

    Id: int
    RegistrationId: str
    DateCreated: datetime
    IsCancelled: bool = False
    Program: IdName | None = None
    Category: IdName | None = None
    SubCategory: IdName | None = None
    Activity: IdName | None = None
    Group: IdName | None = None
    DropIn: DropInDate | None = None
    Person: RegistrationPerson | None = None
    AccountOwner: RegistrationOwner | None = None

    @property
    def kind(self) -> Literal["activity", "drop-in", "pass", "other"]:
        prefix = self.RegistrationId.split("-", 1)[0]
        return {"SUB": "activity", "DI": "drop-in", "PL": "pass"}.get(prefix, "other")  # type: ignore[return-value]


class Membership(AmiliaModel):
    """A membership type on sale (``GET /memberships``)."""

    Id: int
    OrganizationId: int | None = None
    Name: str
    Description: str | None = None
    Price: float | None = None
    Position: int | None = None
    IsArchived: bool = False
    IsVisible: bool = True
    DateCreated: datetime | None = None
    MembershipType: Literal["Individual", "Family"] | None = None


class MembershipPerson(AmiliaModel):
    """A person holding a membership (``GET /memberships/{id}/persons``)."""

    PersonId: int
    AccountId: int | None = None
    FirstName: str | None = None
    LastName: str | None = None
    Email: str | None = None
    MembershipId: int
    MembershipName: str | None = None
    Status: Literal["Active", "Inactive", "Expired"]
    PurchasedDate: datetime | None = None
    EffectiveDate: date | None = None
    ExpirationDate: date | None = None
