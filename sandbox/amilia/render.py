"""Answer shapes of the Amilia emulator (docs/contracts.md), derived from the normalised state when a call
is answered."""

from __future__ import annotations

from typing import Any

from sandbox.amilia.state import AmiliaData

Item = dict[str, Any]


def person(d: AmiliaData, p: Item) -> Item:
    out = dict(p)
    out["Address"] = dict(p["Address"])
    out["Skills"] = [dict(s) for s in p["Skills"]]
    return out


def account(d: AmiliaData, a: Item) -> Item:
    owner = d.person_by_id[a["OwnerPersonId"]]
    return {"Id": a["Id"], "IsArchived": a["IsArchived"], "Corporate": a["Corporate"],
            "DateCreated": a["DateCreated"],
            "Owners": [{"AccountOwnerId": owner["Id"], "AccountOwnerEmail": owner["Email"],
                        "AccountOwnerFirstName": owner["FirstName"],
                        "AccountOwnerLastName": owner["LastName"], "Contacts": []}],
            "Members": [{"PersonId": pid} for pid in a["MemberPersonIds"]],
            "AccountMemberships": []}


def program(d: AmiliaData, p: Item) -> Item:
    return {"Id": p["Id"], "Name": p["Name"], "IsArchived": p["IsArchived"]}


def activity(d: AmiliaData, a: Item) -> Item:
    return {"Id": a["Id"], "Name": a["Name"], "ProgramId": a["ProgramId"],
            "ProgramName": d.program_by_id[a["ProgramId"]]["Name"],
            "CategoryId": a["CategoryId"], "CategoryName": a["CategoryName"],
            "SubCategoryId": a["SubCategoryId"], "SubCategoryName": a["SubCategoryName"]}


def registration(d: AmiliaData, r: Item) -> Item:
    act = d.activity_by_id[r["ActivityId"]]
    prog = d.program_by_id[act["ProgramId"]]
    who = d.person_by_id[r["PersonId"]]
    acct = d.account_by_id[r["AccountId"]]
    owner = d.person_by_id[acct["OwnerPersonId"]]
    return {
        "Id": r["Id"], "RegistrationId": r["RegistrationId"], "DateCreated": r["DateCreated"],
        "IsCancelled": r["IsCancelled"],
        "Program": {"Id": prog["Id"], "Name": prog["Name"]},
        "Category": {"Id": act["CategoryId"], "Name": act["CategoryName"]} if act["CategoryId"] else None,
        "SubCategory": ({"Id": act["SubCategoryId"], "Name": act["SubCategoryName"]}
                        if act["SubCategoryId"] else None),
        "Activity": {"Id": act["Id"], "Name": act["Name"]},
        "Group": None,
        "DropIn": {"Date": r["DropInDate"]} if r["DropInDate"] else None,
        "Person": {"Id": who["Id"], "FirstName": who["FirstName"], "LastName": who["LastName"]},
        "AccountOwner": {"Id": owner["Id"], "AccountId": acct["Id"], "FirstName": owner["FirstName"],
                         "LastName": owner["LastName"], "Email": owner["Email"]},
    }


def membership(d: AmiliaData, m: Item) -> Item:
    return {"Id": m["Id"], "OrganizationId": d.organization["Id"], "Name": m["Name"],
            "Description": m["Description"], "Price": m["Price"], "Position": m["Position"],
            "IsArchived": m["IsArchived"], "IsVisible": m["IsVisible"], "DateCreated": m["DateCreated"],
            "MembershipType": m["MembershipType"]}


def membership_status(mp: Item, today: str) -> str:
    """`Active` when effective ≤ today ≤ expiration (no expiration = open-ended), `Expired` after,
    `Inactive` before."""
    if today < mp["EffectiveDate"]:
        return "Inactive"
    if mp["ExpirationDate"] is not None and today > mp["ExpirationDate"]:
        return "Expired"
    return "Active"


def membership_person(d: AmiliaData, mp: Item, today: str) -> Item:
    who = d.person_by_id[mp["PersonId"]]
    return {"PersonId": who["Id"], "AccountId": mp["AccountId"], "FirstName": who["FirstName"],
            "LastName": who["LastName"], "Email": who["Email"], "MembershipId": mp["MembershipId"],
            "MembershipName": d.membership_by_id[mp["MembershipId"]]["Name"],
            "Status": membership_status(mp, today), "PurchasedDate": mp["PurchasedDate"],
            "EffectiveDate": mp["EffectiveDate"], "ExpirationDate": mp["ExpirationDate"]}


def membership_account(d: AmiliaData, rows: list[Item], today: str) -> Item:
    """One account holding a membership: the latest purchase gives the dates and the status."""
    latest = max(rows, key=lambda mp: mp["PurchasedDate"])
    acct = d.account_by_id[latest["AccountId"]]
    owner = d.person_by_id[acct["OwnerPersonId"]]
    persons, seen = [], set()
    for mp in rows:
        if mp["PersonId"] not in seen:
            seen.add(mp["PersonId"])
            who = d.person_by_id[mp["PersonId"]]
            persons.append({"PersonId": who["Id"], "FirstName": who["FirstName"],
                            "LastName": who["LastName"]})
    return {"AccountId": acct["Id"], "MembershipId": latest["MembershipId"],
            "MembershipName": d.membership_by_id[latest["MembershipId"]]["Name"],
            "Status": membership_status(latest, today), "PurchasedDate": latest["PurchasedDate"],
            "EffectiveDate": latest["EffectiveDate"], "ExpirationDate": latest["ExpirationDate"],
            "AccountOwner": {"Id": owner["Id"], "FirstName": owner["FirstName"],
                             "LastName": owner["LastName"], "Email": owner["Email"]},
            "Persons": persons}
