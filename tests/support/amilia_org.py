"""The Amilia organisation factory: small hand-built records in the API's own shapes (docs/contracts.md), for
transform and flow tests, and the Cyberimpact group titles its activities and memberships become."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

# The Cyberimpact groups of the activities (program \ category \ subcategory \ activity) and of the membership
# the tests' organisations hold.
BALLET = "Arts \\ Danse \\ Ballet \\ Ballet 5-7 ans"
KARATE = "Arts martiaux \\ Karaté \\ Débutant \\ Karaté lundi"
SWIM = "Aquatique \\ Natation \\ Natation 1"
SOCCER = "Sports \\ Soccer \\ U10 \\ Soccer samedi"
GYM = "Abonnement gym annuel"


@dataclass
class Org:
    """Builds an Amilia organisation and serves it both as API records and as a sandbox state document."""

    today: date = field(default_factory=date.today)
    persons: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    activities: dict[int, dict[str, Any]] = field(default_factory=dict)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    memberships: dict[int, dict[str, Any]] = field(default_factory=dict)
    holders: list[dict[str, Any]] = field(default_factory=list)
    program_ids: dict[str, int] = field(default_factory=dict)
    level_ids: dict[tuple, int] = field(default_factory=dict)

    def account(self, account_id: int, owner: dict[str, Any], *, archived: bool = False) -> int:
        self.accounts.append({"Id": account_id, "IsArchived": archived, "Corporate": False,
                              "DateCreated": "2020-01-02T08:00:00", "OwnerPersonId": owner["Id"],
                              "MemberPersonIds": [owner["Id"]]})
        return account_id

    def person(self, person_id: int, account_id: int, first: str, email: str | None, *, child: bool = False,
               archived: bool = False, **extra: Any) -> dict[str, Any]:
        p = {"Id": person_id, "AccountId": account_id, "FirstName": first, "LastName": "Roy", "Email": email,
             "Gender": extra.pop("Gender", "Female"), "DateOfBirth": extra.pop("DateOfBirth", "1986-04-02"),
             "IsChild": child,
             "Address": {"Address1": "12 rue X", "City": "Montréal", "StateProvince": "QC", "Country": "CA",
                         "PostalCode": "H2X 1Y4"},
             "Telephone": "514-555-0101", "TelephoneMobile": "514-555-0199",
             "Skills": [{"Id": 1, "Name": "Natation 2"}, {"Id": 2, "Name": "Premiers soins"}],
             "ExternalId": f"EXT-{person_id}", "IsArchived": archived, "DateCreated": "2021-03-04T10:11:12"}
        p.update(extra)
        self.persons.append(p)
        for a in self.accounts:
            if a["Id"] == account_id and person_id not in a["MemberPersonIds"]:
                a["MemberPersonIds"].append(person_id)
        return p

    def family(self, account_id: int, owner_email: str | None = "owner@example.org",
               archived: bool = False) -> dict[str, Any]:
        owner = {"Id": account_id * 10, "AccountId": account_id}
        self.account(account_id, owner, archived=archived)
        return self.person(owner["Id"], account_id, "Marc", owner_email, Gender="Male")

    def _id(self, key: tuple) -> int:
        return self.level_ids.setdefault(key, 100 + len(self.level_ids))

    def activity(self, activity_id: int, program: str, category: str | None, subcategory: str | None,
                 name: str) -> int:
        program_id = self.program_ids.setdefault(program, len(self.program_ids) + 1)
        self.activities[activity_id] = {"Id": activity_id, "Name": name, "ProgramId": program_id,
                                        "ProgramName": program,
                                        "CategoryId": self._id((program, category)) if category else None,
                                        "CategoryName": category,
                                        "SubCategoryId": self._id((program, category, subcategory))
                                        if subcategory else None,
                                        "SubCategoryName": subcategory}
        return activity_id

    def register(self, reg_id: int, person: dict[str, Any], activity_id: int, *, days_ago: int = 10,
                 cancelled: bool = False, drop_in: bool = False, created: str | None = None) -> dict[str, Any]:
        act = self.activities[activity_id]
        account = next(a for a in self.accounts if a["Id"] == person["AccountId"])
        owner = next(p for p in self.persons if p["Id"] == account["OwnerPersonId"])
        when = created or (self.today - timedelta(days=days_ago)).isoformat() + "T12:00:00"
        r = {"Id": reg_id, "RegistrationId": f"{'DI' if drop_in else 'SUB'}-{reg_id}", "DateCreated": when,
             "IsCancelled": cancelled,
             "Program": {"Id": act["ProgramId"], "Name": act["ProgramName"]},
             "Category": {"Id": act["CategoryId"], "Name": act["CategoryName"]} if act["CategoryName"] else None,
             "SubCategory": {"Id": act["SubCategoryId"], "Name": act["SubCategoryName"]}
             if act["SubCategoryName"] else None,
             "Activity": {"Id": activity_id, "Name": act["Name"]}, "Group": None,
             "DropIn": {"Date": when[:10]} if drop_in else None,
             "Person": {"Id": person["Id"], "FirstName": person["FirstName"], "LastName": person["LastName"]},
             "AccountOwner": {"Id": owner["Id"], "AccountId": account["Id"], "FirstName": owner["FirstName"],
                              "LastName": owner["LastName"], "Email": owner["Email"]}}
        self.registrations.append(r)
        return r

    def membership(self, membership_id: int, name: str) -> int:
        self.memberships[membership_id] = {"Id": membership_id, "OrganizationId": 8008, "Name": name,
                                           "Description": "", "Price": 100.0, "Position": 1,
                                           "IsArchived": False, "IsVisible": True,
                                           "DateCreated": "2020-01-01T00:00:00", "MembershipType": "Individual"}
        return membership_id

    def hold(self, membership_id: int, person: dict[str, Any], *, purchased_days_ago: int = 30,
             expired: bool = False) -> dict[str, Any]:
        purchased = self.today - timedelta(days=purchased_days_ago)
        expiration = self.today - timedelta(days=1) if expired else self.today + timedelta(days=300)
        row = {"PersonId": person["Id"], "AccountId": person["AccountId"], "FirstName": person["FirstName"],
               "LastName": person["LastName"], "Email": person["Email"], "MembershipId": membership_id,
               "MembershipName": self.memberships[membership_id]["Name"],
               "Status": "Expired" if expired else "Active",
               "PurchasedDate": purchased.isoformat() + "T09:00:00", "EffectiveDate": purchased.isoformat(),
               "ExpirationDate": expiration.isoformat()}
        self.holders.append(row)
        return row

    # --- API views -------------------------------------------------------------------------------
    def api_accounts(self) -> list[dict[str, Any]]:
        out = []
        for a in self.accounts:
            owner = next(p for p in self.persons if p["Id"] == a["OwnerPersonId"])
            out.append({"Id": a["Id"], "IsArchived": a["IsArchived"], "Corporate": False,
                        "DateCreated": a["DateCreated"],
                        "Owners": [{"AccountOwnerId": owner["Id"], "AccountOwnerEmail": owner["Email"],
                                    "AccountOwnerFirstName": owner["FirstName"],
                                    "AccountOwnerLastName": owner["LastName"], "Contacts": []}],
                        "Members": [{"PersonId": pid} for pid in a["MemberPersonIds"]],
                        "AccountMemberships": []})
        return out

    def active_holders(self) -> list[dict[str, Any]]:
        return [h for h in self.holders if h["Status"] == "Active"]

    def state(self) -> dict[str, Any]:
        """The organisation as a sandbox Amilia state document (docs/sandbox-amilia.md)."""
        return {
            "organization": {"Id": 8008, "Name": "Club test", "RewriteUrl": "club-test"},
            "credentials": [{"username": "demo@passerelle.dev", "password": "demo-password"}],
            "today": self.today.isoformat(),
            "persons": self.persons,
            "accounts": self.accounts,
            "programs": [{"Id": pid, "Name": name, "IsArchived": False} for name, pid in self.program_ids.items()],
            "activities": [{k: a[k] for k in ("Id", "Name", "ProgramId", "CategoryId", "CategoryName",
                                               "SubCategoryId", "SubCategoryName")}
                           for a in self.activities.values()],
            "registrations": [{"Id": r["Id"], "RegistrationId": r["RegistrationId"], "ActivityId": r["Activity"]["Id"],
                               "PersonId": r["Person"]["Id"], "AccountId": r["AccountOwner"]["AccountId"],
                               "DateCreated": r["DateCreated"], "IsCancelled": r["IsCancelled"],
                               "DropInDate": r["DropIn"]["Date"] if r["DropIn"] else None}
                              for r in self.registrations],
            "memberships": list(self.memberships.values()),
            "membershipPersons": [{k: h[k] for k in ("MembershipId", "PersonId", "AccountId", "PurchasedDate",
                                                      "EffectiveDate", "ExpirationDate")} for h in self.holders],
        }


def contact(plan: Any, email: str) -> dict:
    """The one planned contact of an address (a ContactPlan's `contacts` row)."""
    rows = plan.contacts[plan.contacts["email"] == email].to_dict("records")
    assert len(rows) == 1, f"expected one contact {email}, got {rows}"
    return rows[0]


def groups_of(plan: Any, email: str) -> set[str]:
    """The static groups a ContactPlan gives an address."""
    return set(plan.memberships.loc[plan.memberships["email"] == email, "group_title"])


def person(org: Org, person_id: int) -> dict[str, Any]:
    """The organisation's person of an id (the record a test changes, as Amilia would)."""
    return next(p for p in org.persons if p["Id"] == person_id)


def account(org: Org, account_id: int) -> dict[str, Any]:
    """The organisation's account of an id."""
    return next(a for a in org.accounts if a["Id"] == account_id)
