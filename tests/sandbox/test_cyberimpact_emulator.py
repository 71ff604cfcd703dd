"""The Cyberimpact emulator against docs/contracts.md, over a real socket."""

from __future__ import annotations

import re
from typing import Any

import httpx

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MEMBER_FIELDS = {"id", "email", "firstname", "lastname", "company", "gender", "language", "birthdate",
                 "postalCode", "country", "note", "joinedOn", "updatedOn", "consentType", "relationType",
                 "consentDate", "consentExpiration", "consentProof", "status", "customFields", "groups"}


async def create(ci: httpx.AsyncClient, email: str, **fields: Any) -> dict[str, Any]:
    r = await ci.post("/members", json={"email": email, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def field(ci: httpx.AsyncClient, name: str, ftype: str) -> str:
    r = await ci.post("/customfields", json={"name": name, "type": ftype})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def group(ci: httpx.AsyncClient, title: str, **extra: Any) -> int:
    r = await ci.post("/groups", json={"title": title, "isPublic": False, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def batch(ci: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Post a batch, poll it until completed and return its result with error details."""
    r = await ci.post("/batches", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "queued"
    for _ in range(10):
        polled = (await ci.get(f"/batches/{r.json()['id']}", params={"showErrorDetails": "true"})).json()
        if polled["status"] == "completed":
            return polled["result"]
    raise AssertionError("batch never completed")


def add_members(members: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"batchType": "addMembers", "relationType": "active-clients", "defaultConsentDate": "2025-06-01",
            "defaultConsentProof": "import", "groups": [], "members": members, **extra}


async def member(ci: httpx.AsyncClient, key: str | int) -> dict[str, Any]:
    r = await ci.get(f"/members/{key}")
    assert r.status_code == 200, r.text
    return r.json()


# --- auth, account ---------------------------------------------------------------------------------------

async def test_auth_is_required(ci: httpx.AsyncClient, cyber_server, control: httpx.AsyncClient) -> None:
    url = f"{cyber_server.cyberimpact_url}/ping"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2FuZGJveA=="}):
        r = await control.get(url, headers=headers)
        assert r.status_code == 401
        assert r.json() == {"message": "Unauthenticated.", "errors": {}}
    assert (await ci.get("/ping")).json() == {"ping": "pong"}
    assert (await control.get(f"{cyber_server.cyberimpact_url}/members", headers={})).status_code == 401

    # tokens live in the state
    (await control.put("/_sandbox/cyberimpact/state", json={"tokens": ["tok-2"]})).raise_for_status()
    assert (await ci.get("/ping")).status_code == 401
    assert (await control.get(url, headers={"Authorization": "Bearer tok-2"})).status_code == 200


async def test_account_defaults(ci: httpx.AsyncClient) -> None:
    account = (await ci.get("/account")).json()
    assert account["plan"] == "pro" and account["customFieldsLimit"] == 50
    assert set(account) == {"id", "name", "plan", "customFieldsLimit"}


# --- members ---------------------------------------------------------------------------------------------

async def test_collection_shape_and_pagination(ci: httpx.AsyncClient) -> None:
    for i in range(25):
        await create(ci, f"p{i:02d}@example.org")
    first = (await ci.get("/members")).json()
    assert set(first) == {"members", "totalCount", "page", "limit", "sort"}
    assert (first["totalCount"], first["page"], first["limit"], len(first["members"])) == (25, 1, 20, 20)
    second = (await ci.get("/members", params={"page": 2})).json()
    assert [m["email"] for m in second["members"]] == [f"p{i:02d}@example.org" for i in range(20, 25)]
    third = (await ci.get("/members", params={"page": 3, "limit": 10})).json()
    assert (third["page"], third["limit"], len(third["members"])) == (3, 10, 5)
    assert (await ci.get("/members", params={"page": 9})).json()["members"] == []
    big = (await ci.get("/members", params={"limit": 10000})).json()
    assert len(big["members"]) == 25
    for bad in ({"limit": 10001}, {"limit": 0}, {"page": 0}, {"page": "x"}, {"status": "bounced"}):
        r = await ci.get("/members", params=bad)
        assert r.status_code == 422 and set(r.json()["errors"]) == set(bad), r.text
    desc = (await ci.get("/members", params={"sort": "email_desc", "limit": 1})).json()
    assert desc["sort"] == "email_desc" and desc["members"][0]["email"] == "p24@example.org"

    r = await ci.post("/members/unsubscribed/p03@example.org")
    assert r.status_code == 200 and r.json()["status"] == "unsubscribed"
    counts = {s: (await ci.get("/members", params={"status": s})).json()["totalCount"]
              for s in ("active", "unsubscribed", "all")}
    assert counts == {"active": 24, "unsubscribed": 1, "all": 25}
    unsub = (await ci.get("/members/unsubscribed")).json()
    assert [m["email"] for m in unsub["members"]] == ["p03@example.org"] and unsub["totalCount"] == 1
    assert (await ci.post("/members/unsubscribed/nobody@example.org")).status_code == 404


async def test_member_create_get_and_duplicate(ci: httpx.AsyncClient) -> None:
    cf = await field(ci, "Ville", "text")
    gid = await group(ci, "Clients")
    created = await create(ci, "Lea@Example.org", firstname="Léa", lastname="Roy", gender="f",
                           birthdate="1986-04-02", country="ca", postalCode="H2X 1Y4", language="fr_ca",
                           customFields={cf: "Montréal"}, groups=str(gid))
    assert set(created) == MEMBER_FIELDS
    assert created["email"] == "lea@example.org" and created["country"] == "CA"
    assert created["status"] == "active" and created["groups"] == [gid]
    assert created["customFields"] == {cf: "Montréal"}
    assert STAMP.match(created["joinedOn"]) and STAMP.match(created["updatedOn"])
    assert created["consentType"] is None and created["company"] == ""
    assert await member(ci, created["id"]) == created
    assert await member(ci, "LEA@example.org") == created

    r = await ci.post("/members", json={"email": "lea@example.org"})
    assert r.status_code == 422 and "email" in r.json()["errors"] and r.json()["message"]
    assert (await ci.get("/members/999")).status_code == 404
    assert (await ci.get("/members/ghost@example.org")).json()["message"]

    bad = {"email": ["not-an-email"], "gender": ["x"], "birthdate": ["2020-02-30"], "country": ["CAN"],
           f"customFields.{cf}": [["a list"]], "customFields.99": ["?"], "groups": ["1,abc"]}
    for key, (value,) in bad.items():
        body: dict[str, Any] = {"email": "new@example.org"}
        if key.startswith("customFields."):
            body["customFields"] = {key.split(".")[1]: value}
        else:
            body[key] = value
        r = await ci.post("/members", json=body)
        assert r.status_code == 422, (key, r.text)
        assert key in r.json()["errors"], (key, r.json())
    assert (await ci.get("/members", params={"status": "all"})).json()["totalCount"] == 1


async def test_custom_field_values_are_validated_by_type(ci: httpx.AsyncClient) -> None:
    ids = {t: await field(ci, f"f-{t}", t) for t in ("text", "integer", "decimal", "date")}
    good = {ids["text"]: "x", ids["integer"]: "42", ids["decimal"]: "3.5", ids["date"]: "2024-02-29"}
    m = await create(ci, "typed@example.org", customFields=good)
    assert m["customFields"] == {ids["text"]: "x", ids["integer"]: 42, ids["decimal"]: 3.5,
                                 ids["date"]: "2024-02-29"}
    for ftype, value in (("integer", "4.5"), ("integer", "abc"), ("decimal", "1,5"), ("date", "2024-13-01"),
                         ("date", "01/02/2024"), ("text", True)):
        r = await ci.post("/members", json={"email": "bad@example.org", "customFields": {ids[ftype]: value}})
        assert r.status_code == 422 and f"customFields.{ids[ftype]}" in r.json()["errors"], (ftype, value)


async def test_patch_member(ci: httpx.AsyncClient) -> None:
    cf = await field(ci, "Ville", "text")
    m = await create(ci, "p@example.org", firstname="A", lastname="B", note="n", customFields={cf: "X"})
    r = await ci.patch(f"/members/{m['id']}", json={"lastname": "C", "note": "", "customFields": {cf: None}})
    assert r.status_code == 200
    got = await member(ci, "p@example.org")
    assert (got["firstname"], got["lastname"], got["note"], got["customFields"]) == ("A", "C", "", {})
    assert STAMP.match(got["updatedOn"])
    r = await ci.patch("/members/p@example.org", json={"email": "q@example.org"})
    assert r.status_code == 200 and (await member(ci, m["id"]))["email"] == "q@example.org"
    assert (await ci.get("/members/p@example.org")).status_code == 404
    await create(ci, "other@example.org")
    r = await ci.patch("/members/q@example.org", json={"email": "other@example.org"})
    assert r.status_code == 422 and "email" in r.json()["errors"]
    r = await ci.patch("/members/q@example.org", json={"gender": "male"})
    assert r.status_code == 422 and "gender" in r.json()["errors"]
    assert (await ci.patch("/members/404@example.org", json={})).status_code == 404


async def test_consent_rules(ci: httpx.AsyncClient) -> None:
    await create(ci, "c@example.org")
    empty = (await ci.get("/members/c@example.org/consent")).json()
    assert empty == dict.fromkeys(("consentType", "relationType", "consentDate", "consentExpiration",
                                   "consentProof"))
    r = await ci.put("/members/c@example.org/consent", json={
        "relationType": "active-clients", "consentDate": "2024-02-29", "consentProof": "SUB-1"})
    assert r.status_code == 200
    assert r.json() == {"consentType": "implied", "relationType": "active-clients",
                        "consentDate": "2024-02-29", "consentExpiration": "2026-02-28",
                        "consentProof": "SUB-1"}
    assert (await ci.get("/members/c@example.org/consent")).json() == r.json()
    r = await ci.put("/members/c@example.org/consent",
                     json={"relationType": "express-consent", "consentDate": "2025-01-02"})
    assert r.json()["consentType"] == "express" and r.json()["consentExpiration"] is None
    r = await ci.put("/members/c@example.org/consent",
                     json={"relationType": "active-clients", "consentDate": "2026-01-01"})
    assert r.status_code == 422 and "relationType" in r.json()["errors"]
    assert (await member(ci, "c@example.org"))["relationType"] == "express-consent"
    r = await ci.put("/members/c@example.org/consent",
                     json={"relationType": "express-consent", "consentDate": "2026-01-01"})
    assert r.status_code == 200 and r.json()["consentDate"] == "2026-01-01"
    for body, key in (({"relationType": "friends"}, "relationType"),
                      ({"relationType": "partners", "consentDate": "01-01-2026"}, "consentDate")):
        r = await ci.put("/members/c@example.org/consent", json=body)
        assert r.status_code == 422 and key in r.json()["errors"]
    assert (await ci.get("/members/nobody@example.org/consent")).status_code == 404


# --- groups ----------------------------------------------------------------------------------------------

async def test_member_groups(ci: httpx.AsyncClient) -> None:
    g1, g2, g3 = [await group(ci, t) for t in ("A", "B", "C")]
    dyn = await group(ci, "D", isDynamic=True,
                      criteria={"match": "all", "rules": [{"field": "groupTitle", "operator": "contains",
                                                           "value": "A"}]})
    await create(ci, "g@example.org", groups=f"{g1}")
    r = await ci.post("/members/g@example.org/groups", json={"groups": f"{g2},{g3}"})
    assert r.status_code == 200 and [g["id"] for g in r.json()["groups"]] == [g1, g2, g3]
    assert (await member(ci, "g@example.org"))["groups"] == [g1, g2, g3]
    r = await ci.put("/members/g@example.org/groups", json={"groups": f"{g3}"})
    assert [g["id"] for g in r.json()["groups"]] == [g3]
    r = await ci.delete(f"/members/g@example.org/groups/{g3}")
    assert r.status_code == 200 and r.json()["groups"] == []
    assert (await ci.get("/members/g@example.org/groups")).json()["totalCount"] == 0
    for method, url, body in (("POST", "/members/g@example.org/groups", {"groups": str(dyn)}),
                              ("PUT", "/members/g@example.org/groups", {"groups": f"{g1},{dyn}"}),
                              ("POST", "/members/g@example.org/groups", {"groups": "999"})):
        r = await ci.request(method, url, json=body)
        assert r.status_code == 422 and "groups" in r.json()["errors"], r.text
    assert (await ci.delete(f"/members/g@example.org/groups/{dyn}")).status_code == 422
    assert (await ci.delete("/members/g@example.org/groups/999")).status_code == 404
    assert (await member(ci, "g@example.org"))["groups"] == []


async def test_groups_crud(ci: httpx.AsyncClient) -> None:
    gid = await group(ci, "Arts \\ Danse \\ Ballet")
    r = await ci.post("/groups", json={"title": "arts \\ danse \\ ballet"})
    assert r.status_code == 422 and "title" in r.json()["errors"]
    assert (await ci.post("/groups", json={"title": ""})).status_code == 422
    g = (await ci.get(f"/groups/{gid}")).json()
    assert set(g) == {"id", "title", "isPublic", "isDynamic", "membersCount", "mailingsCount", "createdOn",
                      "criteria"}
    assert (g["isDynamic"], g["membersCount"], g["criteria"]) == (False, 0, None)
    r = await ci.patch(f"/groups/{gid}", json={"isPublic": True})
    assert r.status_code == 200 and r.json()["isPublic"] is True and r.json()["title"] == g["title"]
    r = await ci.patch(f"/groups/{gid}", json={"title": "Ballet"})
    assert r.json()["title"] == "Ballet"
    listing = (await ci.get("/groups")).json()
    assert set(listing) == {"groups", "totalCount", "page", "limit", "sort"} and listing["totalCount"] == 1
    assert (await ci.get("/groups/999")).status_code == 404
    assert (await ci.patch("/groups/999", json={})).status_code == 404

    await create(ci, "x@example.org", groups=str(gid))
    r = await ci.delete(f"/groups/{gid}")
    assert r.status_code == 200
    assert (await ci.get(f"/groups/{gid}")).status_code == 404
    assert (await member(ci, "x@example.org"))["groups"] == []


async def test_dynamic_groups_are_computed_on_read(ci: httpx.AsyncClient) -> None:
    actif = await field(ci, "Actif", "text")
    ballet = await group(ci, "Arts \\ Danse \\ Ballet 5-7 ans")
    jazz = await group(ci, "Arts \\ Danse \\ Jazz")
    martial = await group(ci, "Arts martiaux \\ Judo")
    danse = await group(ci, "Arts \\ Danse", isDynamic=True, criteria={"match": "all", "rules": [
        {"field": "groupTitle", "operator": "contains", "value": "Arts \\ Danse \\ "}]})
    active = await group(ci, "Actifs", isDynamic=True, criteria={
        "match": "all", "rules": [{"field": "customField", "customFieldId": actif, "operator": "equals",
                                   "value": "True"}]})
    both = await group(ci, "Danse actifs", isDynamic=True, criteria={"match": "all", "rules": [
        {"field": "groupTitle", "operator": "contains", "value": "Arts \\ Danse \\ "},
        {"field": "customField", "customFieldId": int(actif), "operator": "equals", "value": "True"}]})
    await create(ci, "a@example.org", groups=f"{ballet}", customFields={actif: "True"})
    await create(ci, "b@example.org", groups=f"{jazz},{martial}", customFields={actif: "False"})
    await create(ci, "c@example.org", groups=f"{martial}", customFields={actif: "True"})
    await create(ci, "d@example.org")

    async def emails(gid: int, **params: Any) -> list[str]:
        body = (await ci.get(f"/groups/{gid}/members", params=params)).json()
        assert set(body) == {"members", "totalCount", "page", "limit", "sort"}
        return [m["email"] for m in body["members"]]

    assert await emails(danse) == ["a@example.org", "b@example.org"]
    assert await emails(active) == ["a@example.org", "c@example.org"]
    assert await emails(both) == ["a@example.org"]
    assert await emails(martial) == ["b@example.org", "c@example.org"]
    counts = {g["id"]: g["membersCount"] for g in (await ci.get("/groups")).json()["groups"]}
    assert counts == {ballet: 1, jazz: 1, martial: 2, danse: 2, active: 2, both: 1}
    g = (await ci.get(f"/groups/{danse}")).json()
    assert g["isDynamic"] and g["criteria"]["rules"][0]["value"] == "Arts \\ Danse \\ "

    # computed on read: a change of member data changes the dynamic groups at once
    await ci.patch("/members/b@example.org", json={"customFields": {actif: "True"}})
    assert await emails(both) == ["a@example.org", "b@example.org"]
    await ci.post("/members/unsubscribed/a@example.org")
    assert await emails(both) == ["b@example.org"]
    assert await emails(both, status="all") == ["a@example.org", "b@example.org"]
    assert (await ci.get(f"/groups/{both}")).json()["membersCount"] == 1

    # dynamic groups cannot be edited; bad criteria are refused
    for method in ("PATCH", "PUT"):
        r = await ci.request(method, f"/groups/{danse}", json={"title": "Autre"})
        assert r.status_code == 422, r.text
    for criteria in ({"match": "all", "rules": []},
                     {"match": "all", "rules": [{"field": "email", "operator": "contains", "value": "x"}]},
                     {"match": "all", "rules": [{"field": "customField", "customFieldId": "99",
                                                 "operator": "equals", "value": "x"}]},
                     {"match": "all",
                      "rules": [{"field": "groupTitle", "operator": "equals", "value": "x"}]}):
        r = await ci.post("/groups", json={"title": "Bad", "isDynamic": True, "criteria": criteria})
        assert r.status_code == 422 and any(k.startswith("criteria") for k in r.json()["errors"]), r.text
    assert (await ci.delete(f"/groups/{danse}")).status_code == 200


async def test_custom_fields_and_limit(ci: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    r = await control.put("/_sandbox/cyberimpact/state", json={"account": {"customFieldsLimit": 2}})
    r.raise_for_status()
    assert (await ci.get("/account")).json()["customFieldsLimit"] == 2
    await field(ci, "Un", "text")
    await field(ci, "Deux", "date")
    r = await ci.post("/customfields", json={"name": "Trois", "type": "integer"})
    assert r.status_code == 422 and r.json()["message"] == "customFieldsLimit reached"
    assert isinstance(r.json()["errors"], dict)
    listing = (await ci.get("/customfields")).json()
    assert listing["customFields"] == [{"id": 1, "name": "Un", "type": "text"},
                                       {"id": 2, "name": "Deux", "type": "date"}]
    assert listing["totalCount"] == 2
    (await control.post("/_sandbox/reset")).raise_for_status()
    for body, key in (({"name": "X", "type": "boolean"}, "type"), ({"type": "text"}, "name")):
        r = await ci.post("/customfields", json=body)
        assert r.status_code == 422 and key in r.json()["errors"]


# --- batches ---------------------------------------------------------------------------------------------

async def test_batch_is_queued_then_completed(ci: httpx.AsyncClient) -> None:
    gid = await group(ci, "Clients")
    r = await ci.post("/batches", json=add_members([{"email": "a@example.org"}, {"email": "bad"}],
                                                   groups=[gid]))
    assert r.status_code == 201
    created = r.json()
    assert created["status"] == "queued" and created["batchType"] == "addMembers"
    assert STAMP.match(created["createdOn"])
    first = (await ci.get(f"/batches/{created['id']}")).json()
    assert first["status"] == "queued"
    second = (await ci.get(f"/batches/{created['id']}")).json()
    assert second["status"] == "completed"
    assert second["result"] == {"successes": 1, "failures": 1}  # no details unless asked
    detailed = (await ci.get(f"/batches/{created['id']}", params={"showErrorDetails": "true"})).json()
    assert detailed["result"]["errors"] == [{"index": 1, "email": "bad", "message": detailed["result"]
                                            ["errors"][0]["message"]}]
    assert "email" in detailed["result"]["errors"][0]["message"]
    m = await member(ci, "a@example.org")
    assert m["groups"] == [gid] and m["consentDate"] == "2025-06-01" and m["consentProof"] == "import"
    assert (m["consentType"], m["consentExpiration"]) == ("implied", "2027-06-01")
    assert (await ci.get("/batches/999")).status_code == 404


async def test_batch_empty_keeps_and_empty_marker_clears(ci: httpx.AsyncClient) -> None:
    cf = await field(ci, "Ville", "text")
    g1, g2 = await group(ci, "Old"), await group(ci, "New")
    await create(ci, "k@example.org", firstname="Léa", lastname="Roy", company="ACME", note="keep",
                 customFields={cf: "Laval"}, groups=str(g1))
    result = await batch(ci, add_members([{"email": "K@example.org", "firstname": "", "lastname": None,
                                           "company": "__EMPTY__", "postalCode": "H2X",
                                           "customFields": {cf: ""}}], groups=[g2]))
    assert result == {"successes": 1, "failures": 0, "errors": []}
    m = await member(ci, "k@example.org")
    assert (m["firstname"], m["lastname"], m["company"], m["note"], m["postalCode"]) == \
        ("Léa", "Roy", "", "keep", "H2X")
    assert m["customFields"] == {cf: "Laval"} and m["groups"] == [g1, g2]
    await batch(ci, add_members([{"email": "k@example.org", "customFields": {cf: "__EMPTY__"}}]))
    assert (await member(ci, "k@example.org"))["customFields"] == {}


async def test_batch_leaves_unsubscribed_members_alone(ci: httpx.AsyncClient) -> None:
    gid = await group(ci, "Clients")
    await create(ci, "u@example.org", firstname="Old")
    await ci.post("/members/unsubscribed/u@example.org")
    before = await member(ci, "u@example.org")
    result = await batch(ci, add_members([{"email": "u@example.org", "firstname": "New"}], groups=[gid]))
    assert result == {"successes": 0, "failures": 1,
                      "errors": [{"index": 0, "email": "u@example.org", "message": "member is unsubscribed"}]}
    assert await member(ci, "u@example.org") == before


async def test_batch_consent(ci: httpx.AsyncClient) -> None:
    await create(ci, "keep@example.org")
    await ci.put("/members/keep@example.org/consent",
                 json={"relationType": "active-clients", "consentDate": "2020-01-01", "consentProof": "old"})
    await create(ci, "express@example.org")
    await ci.put("/members/express@example.org/consent",
                 json={"relationType": "express-consent", "consentDate": "2020-01-01"})
    body = add_members([
        {"email": "own@example.org", "consentDate": "2024-03-15", "consentProof": "SUB-1"},
        {"email": "default@example.org"},
        {"email": "express@example.org", "firstname": "Ex"},
        {"email": "baddate@example.org", "consentDate": "15/03/2024"},
    ])
    result = await batch(ci, body)
    assert (result["successes"], result["failures"]) == (3, 1)
    assert result["errors"][0]["index"] == 3 and "consentDate" in result["errors"][0]["message"]
    own = await member(ci, "own@example.org")
    assert (own["consentDate"], own["consentProof"], own["consentExpiration"]) == \
        ("2024-03-15", "SUB-1", "2026-03-15")
    default = await member(ci, "default@example.org")
    assert (default["consentDate"], default["consentProof"]) == ("2025-06-01", "import")
    express = await member(ci, "express@example.org")  # updated, but express consent kept
    assert (express["firstname"], express["consentType"], express["consentDate"]) == \
        ("Ex", "express", "2020-01-01")

    # no consent date anywhere → consent untouched (existing member) / none (new member)
    no_date = add_members([{"email": "keep@example.org", "firstname": "K"}, {"email": "fresh@example.org"}])
    del no_date["defaultConsentDate"]
    assert (await batch(ci, no_date))["successes"] == 2
    keep = await member(ci, "keep@example.org")
    assert (keep["firstname"], keep["consentDate"], keep["consentProof"]) == ("K", "2020-01-01", "old")
    assert (await member(ci, "fresh@example.org"))["consentType"] is None


async def test_batch_member_validation_failures(ci: httpx.AsyncClient) -> None:
    cf = await field(ci, "Numéro", "integer")
    members = [{"email": "not an email"}, {"email": "g@example.org", "gender": "x"},
               {"email": "b@example.org", "birthdate": "1990-02-30"},
               {"email": "c@example.org", "country": "CAN"},
               {"email": "f@example.org", "customFields": {"99": "x"}},
               {"email": "i@example.org", "customFields": {cf: "abc"}}, "nope",
               {"email": "ok@example.org", "gender": "F", "country": "fr", "customFields": {cf: 7}}]
    result = await batch(ci, add_members(members))
    assert (result["successes"], result["failures"]) == (1, 7)
    named = [e["message"].split(":")[0] for e in result["errors"]]
    assert named == ["email", "gender", "birthdate", "country", "customFields.99", f"customFields.{cf}",
                     "member"]
    assert [e["index"] for e in result["errors"]] == list(range(7))
    ok = await member(ci, "ok@example.org")
    assert (ok["gender"], ok["country"], ok["customFields"]) == ("f", "FR", {cf: 7})
    assert (await ci.get("/members", params={"status": "all"})).json()["totalCount"] == 1


async def test_batch_request_validation(ci: httpx.AsyncClient) -> None:
    dyn = await group(ci, "Dyn", isDynamic=True, criteria={
        "match": "all", "rules": [{"field": "groupTitle", "operator": "contains", "value": "x"}]})
    ok = [{"email": "a@example.org"}]
    cases = [({"batchType": "nope", "members": ok}, "batchType"),
             (add_members([]), "members"),
             (add_members("a@example.org"), "members"),
             (add_members([{"email": f"m{i}@example.org"} for i in range(10_001)]), "members"),
             (add_members(ok, relationType="friends"), "relationType"),
             ({k: v for k, v in add_members(ok).items() if k != "relationType"}, "relationType"),
             (add_members(ok, defaultConsentDate="2025-13-01"), "defaultConsentDate"),
             (add_members(ok, groups=[999]), "groups"),
             (add_members(ok, groups=[dyn]), "groups"),
             ({"batchType": "unsubscribe"}, "ids"),
             ({"batchType": "deleteMembers", "ids": "a@example.org"}, "ids")]
    for body, key in cases:
        r = await ci.post("/batches", json=body)
        assert r.status_code == 422, (key, r.text)
        assert key in r.json()["errors"], (key, r.json())
    assert (await ci.get("/members", params={"status": "all"})).json()["totalCount"] == 0
    r = await ci.post("/batches", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


async def test_batch_unsubscribe_and_delete(ci: httpx.AsyncClient) -> None:
    a = await create(ci, "a@example.org")
    await create(ci, "b@example.org")
    await create(ci, "c@example.org")
    result = await batch(ci, {"batchType": "unsubscribe", "ids": [a["id"], "B@example.org", "x@example.org"]})
    assert (result["successes"], result["failures"]) == (2, 1)
    assert result["errors"] == [{"index": 2, "email": "x@example.org", "message": "member not found"}]
    unsub = (await ci.get("/members/unsubscribed")).json()
    assert [m["email"] for m in unsub["members"]] == ["a@example.org", "b@example.org"]
    result = await batch(ci, {"batchType": "deleteMembers", "ids": ["a@example.org", "c@example.org"]})
    assert result == {"successes": 2, "failures": 0, "errors": []}
    remaining = (await ci.get("/members", params={"status": "all"})).json()["members"]
    assert [m["email"] for m in remaining] == ["b@example.org"]
    assert (await ci.get("/members/c@example.org")).status_code == 404


async def test_large_batches_and_pages(ci: httpx.AsyncClient) -> None:
    """The benchmark's pattern in small: batches of 1 000, read back with limit=10000."""
    gid = await group(ci, "Clients")
    for b in range(3):
        result = await batch(ci, add_members([{"email": f"m{b}-{i}@example.org", "firstname": f"N{i}"}
                                              for i in range(1000)], groups=[gid]))
        assert result["successes"] == 1000
    page = (await ci.get("/members", params={"limit": 10000})).json()
    assert page["totalCount"] == 3000 and len(page["members"]) == 3000
    assert len({m["id"] for m in page["members"]}) == 3000
    assert (await ci.get(f"/groups/{gid}")).json()["membersCount"] == 3000
