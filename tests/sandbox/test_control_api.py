"""The control API (`/_sandbox`) of the default sandbox app, as docs/sandbox.md describes it."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer, vendor_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
AUTH = {"Authorization": "Bearer sandbox-cyberimpact-token"}
FAULT_DEFAULTS = {"error_rate": 0.0, "rate_429": 0.0, "retry_after": 1.0, "latency_ms": 0.0,
                  "timeout_rate": 0.0, "timeout_s": 30.0, "lost_answer_rate": 0.0,
                  "lost_answer_methods": ["POST", "PATCH", "PUT", "DELETE"], "seed": None}


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30) as c:
        yield c


def doc_example() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- cyberimpact-state-example.*?-->\s*```json\n(.*?)```", text, re.S)
    assert match, "example block missing from docs/sandbox.md"
    return json.loads(match.group(1))


async def state(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/_sandbox/cyberimpact/state")
    assert r.status_code == 200
    return r.json()


async def put_state(client: httpx.AsyncClient, document: dict[str, Any]) -> httpx.Response:
    return await client.put("/_sandbox/cyberimpact/state", json=document)


async def test_healthz_and_unknown_vendor(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sandbox/healthz")).json() == {"status": "ok"}
    for method, path in (("GET", "/_sandbox/nope/state"), ("PUT", "/_sandbox/nope/state"),
                         ("GET", "/_sandbox/nope/requests"), ("DELETE", "/_sandbox/nope/requests")):
        r = await client.request(method, path, json={} if method == "PUT" else None)
        assert r.status_code == 404 and "unknown vendor" in r.json()["detail"]
    assert (await client.get("/_sandbox/amilia/state")).status_code == 200


async def test_default_state(client: httpx.AsyncClient) -> None:
    assert await state(client) == {
        "account": {"id": 1, "name": "Sandbox", "plan": "pro", "customFieldsLimit": 50},
        "tokens": ["sandbox-cyberimpact-token"], "customFields": [], "groups": [], "members": [],
        "batches": []}


async def test_documented_example_round_trips(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    example = doc_example()
    r = await put_state(client, example)
    assert r.status_code == 200 and r.json() == {"loaded": "cyberimpact"}
    assert await state(client) == example
    async with httpx.AsyncClient(base_url=sandbox.cyberimpact_url, headers=AUTH) as ci:
        dyn = (await ci.get("/groups/3/members")).json()
        assert [m["email"] for m in dyn["members"]] == ["lea@example.org"]
        assert (await ci.get("/groups/1")).json()["membersCount"] == 1
        members = (await ci.get("/members", params={"status": "all"})).json()["members"]
        assert members == example["members"]
        batch = (await ci.get("/batches/1", params={"showErrorDetails": "true"})).json()
        assert batch["result"] == example["batches"][0]["result"]
        # GET /groups output (with the computed counts) loads back too
        groups = (await ci.get("/groups")).json()["groups"]
    assert (await put_state(client, {**example, "groups": groups})).status_code == 200
    assert await state(client) == example


async def test_minimal_document_is_normalised(client: httpx.AsyncClient) -> None:
    minimal = {"customFields": [{"id": 7, "name": "Ville", "type": "text"},
                                {"id": 8, "name": "Numéro", "type": "integer"}],
               "members": [{"email": "Zoe@Example.org", "firstname": "Zoé", "country": "ca",
                            "relationType": "active-clients", "consentDate": "2025-01-15",
                            "customFields": {"7": "Laval", "8": "12"}}]}
    assert (await put_state(client, minimal)).status_code == 200
    dumped = await state(client)
    m = dumped["members"][0]
    assert (m["id"], m["email"], m["country"], m["consentType"], m["consentExpiration"]) == \
        (1, "zoe@example.org", "CA", "implied", "2027-01-15")
    assert m["customFields"] == {"7": "Laval", "8": 12} and m["lastname"] == "" and m["status"] == "active"
    assert m["joinedOn"] == m["updatedOn"] and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", m["joinedOn"])
    assert dumped["account"]["plan"] == "pro" and dumped["tokens"] == ["sandbox-cyberimpact-token"]
    assert (await put_state(client, dumped)).status_code == 200
    assert await state(client) == dumped


async def test_invalid_documents_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    example = doc_example()
    assert (await put_state(client, example)).status_code == 200

    def broken(path: str, value: Any) -> dict[str, Any]:
        doc = copy.deepcopy(example)
        *parents, last = path.split(".")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[int(last) if isinstance(target, list) else last] = value
        return doc

    bad = [{"unknown": 1}, broken("account.plan", "gold"), broken("members.1.email", "LEA@example.org"),
           broken("members.0.gender", "x"), broken("members.0.birthdate", "1986-02-30"),
           broken("members.0.groups", [3]), broken("members.0.groups", [99]),
           broken("members.0.customFields", {"1": "abc"}), broken("members.0.customFields", {"9": "x"}),
           broken("members.0.status", "bounced"), broken("members.0.nickname", "x"),
           broken("members.1.id", 1), broken("groups.1.title", "clients amilia"),
           broken("groups.2.criteria", None), broken("customFields.0.type", "bool"),
           broken("members.0.joinedOn", "2025-09-01T14:00:00"), broken("tokens", "abc")]
    for doc in bad:
        r = await put_state(client, doc)
        assert r.status_code == 422, (doc, r.text)
        assert r.json()["detail"].startswith("invalid cyberimpact state document")
    assert (await client.put("/_sandbox/cyberimpact/state", json=[1])).status_code == 422
    assert await state(client) == example


async def test_state_written_through_the_api_round_trips(client: httpx.AsyncClient,
                                                         sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sandbox.cyberimpact_url, headers=AUTH) as ci:
        f = (await ci.post("/customfields", json={"name": "Solde", "type": "decimal"})).json()["id"]
        g = (await ci.post("/groups", json={"title": "Arts \\ Yoga"})).json()["id"]
        await ci.post("/groups", json={"title": "Arts", "isDynamic": True, "criteria": {
            "match": "any", "rules": [{"field": "groupTitle", "operator": "contains", "value": "Arts \\ "}]}})
        r = await ci.post("/batches", json={
            "batchType": "addMembers", "relationType": "active-clients", "defaultConsentDate": "2025-01-01",
            "groups": [g], "members": [{"email": f"m{i}@example.org", "customFields": {str(f): "1.25"}}
                                       for i in range(30)] + [{"email": "bad"}]})
        assert r.status_code == 201
        await ci.post("/members/unsubscribed/m3@example.org")
        await ci.put("/members/m4@example.org/consent", json={"relationType": "express-consent",
                                                             "consentDate": "2025-02-02"})
        before = (await ci.get("/members", params={"status": "all", "limit": 100})).json()
        dumped = await state(client)
        assert (await client.post("/_sandbox/reset")).status_code == 200
        assert (await state(client))["members"] == []
        assert (await put_state(client, dumped)).status_code == 200
        assert await state(client) == dumped
        assert (await ci.get("/members", params={"status": "all", "limit": 100})).json() == before
        assert (await ci.get("/groups/2")).json()["membersCount"] == 29
        polled = [(await ci.get("/batches/1")).json()["status"] for _ in range(2)]
        assert polled == ["queued", "completed"]  # the dumped batch had never been polled
    assert dumped["batches"][0]["result"]["failures"] == 1


async def test_reset_clears_state_log_and_faults(client: httpx.AsyncClient) -> None:
    assert (await put_state(client, doc_example())).status_code == 200
    await client.get("/cyberimpact/ping", headers=AUTH)
    await client.put("/_sandbox/faults",
                     json={"cyberimpact": {"latency_ms": 5}, "amilia": {"error_rate": 0.5}})
    r = await client.post("/_sandbox/reset")
    vendors = vendor_names()  # every emulator: a new one needs no edit here
    assert r.json() == {"reset": vendors}
    assert (await state(client))["members"] == []
    assert (await client.get("/_sandbox/faults")).json() == {name: FAULT_DEFAULTS for name in vendors}
    assert (await client.get("/_sandbox/cyberimpact/requests")).json() == {"total": 0, "requests": []}
    assert (await put_state(client, {})).status_code == 200  # {} is the default state too
    assert (await state(client))["tokens"] == ["sandbox-cyberimpact-token"]


async def test_request_log(client: httpx.AsyncClient) -> None:
    t0 = time.time()
    await client.get("/cyberimpact/ping", headers=AUTH)
    await client.get("/cyberimpact/members", params={"limit": 5, "page": 2}, headers=AUTH)
    await client.get("/cyberimpact/members/lea%40example.org", headers=AUTH)
    await client.post("/cyberimpact/members", json={"email": "x"}, headers=AUTH)
    await client.get("/cyberimpact/ping")
    await client.get("/_sandbox/faults")  # control calls are not logged
    log = (await client.get("/_sandbox/cyberimpact/requests")).json()
    assert log["total"] == 5
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in log["requests"]] == [
        ("GET", "/cyberimpact/ping", "", 200),
        ("GET", "/cyberimpact/members", "limit=5&page=2", 200),
        ("GET", "/cyberimpact/members/lea@example.org", "", 404),
        ("POST", "/cyberimpact/members", "", 422),
        ("GET", "/cyberimpact/ping", "", 401)]
    assert all(t0 - 1 <= r["at"] <= time.time() + 1 for r in log["requests"])
    assert set(log["requests"][0]) == {"method", "path", "query", "status", "at"}
    since = (await client.get("/_sandbox/cyberimpact/requests", params={"since": 3})).json()
    assert since["total"] == 5 and [r["status"] for r in since["requests"]] == [422, 401]
    assert (await client.get("/_sandbox/amilia/requests")).json()["total"] == 0
    assert (await client.delete("/_sandbox/cyberimpact/requests")).json() == {"cleared": "cyberimpact"}
    assert (await client.get("/_sandbox/cyberimpact/requests")).json() == {"total": 0, "requests": []}


async def test_fault_429_with_retry_after(client: httpx.AsyncClient) -> None:
    r = await client.put("/_sandbox/faults", json={"cyberimpact": {"rate_429": 1.0, "retry_after": 2}})
    assert r.json()["cyberimpact"] == {**FAULT_DEFAULTS, "rate_429": 1.0, "retry_after": 2.0}
    assert r.json()["amilia"] == FAULT_DEFAULTS
    for _ in range(3):
        r = await client.get("/cyberimpact/ping", headers=AUTH)
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert r.json() == {"message": "Too Many Requests"}
    assert (await client.get("/amilia/api/V3/authenticate")).status_code != 429  # other vendor untouched
    assert (await client.get("/_sandbox/healthz")).status_code == 200
    statuses = [x["status"] for x in (await client.get("/_sandbox/cyberimpact/requests")).json()["requests"]]
    assert statuses == [429, 429, 429]
    await client.put("/_sandbox/faults", json={"cyberimpact": {}})
    assert (await client.get("/cyberimpact/ping", headers=AUTH)).status_code == 200


async def test_fault_5xx_changes_nothing(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/faults", json={"cyberimpact": {"error_rate": 1.0}})
    seen = set()
    for i in range(20):
        r = await client.post("/cyberimpact/members", json={"email": f"m{i}@example.org"}, headers=AUTH)
        assert r.status_code in (500, 502, 503)
        seen.add(r.status_code)
    assert len(seen) > 1
    assert (await state(client))["members"] == []


async def test_latency_and_timeout(client: httpx.AsyncClient) -> None:
    await client.put("/_sandbox/faults", json={"cyberimpact": {"latency_ms": 300}})
    start = time.monotonic()
    assert (await client.get("/cyberimpact/ping", headers=AUTH)).status_code == 200
    assert time.monotonic() - start >= 0.3
    await client.put("/_sandbox/faults", json={"cyberimpact": {"timeout_rate": 1.0, "timeout_s": 0.2}})
    start = time.monotonic()
    r = await client.get("/cyberimpact/ping", headers=AUTH)
    assert r.status_code == 504 and time.monotonic() - start >= 0.2


async def test_seeded_faults_are_reproducible(client: httpx.AsyncClient) -> None:
    async def run(faults: dict[str, Any]) -> list[int]:
        await client.put("/_sandbox/faults", json={"cyberimpact": faults})
        return [(await client.get("/cyberimpact/ping", headers=AUTH)).status_code for _ in range(40)]

    faults = {"error_rate": 0.3, "rate_429": 0.2, "seed": 1234}
    first = await run(faults)
    assert await run(faults) == first
    assert 200 in first and 429 in first and set(first) & {500, 502, 503}
    assert await run({**faults, "seed": 99}) != first


async def test_fault_settings_are_validated(client: httpx.AsyncClient) -> None:
    r = await client.put("/_sandbox/faults", json={"nope": {}, "cyberimpact": {"rate_429": 1.0}})
    assert r.status_code == 404
    r = await client.put("/_sandbox/faults", json={"cyberimpact": {"error_rate": 2}})
    assert r.status_code == 422
    assert (await client.get("/_sandbox/faults")).json()["cyberimpact"] == FAULT_DEFAULTS


def test_every_emulator_has_a_base_url_and_an_unknown_one_is_named() -> None:
    """SandboxAddress serves any number of vendors: each emulator's API root, one mapping."""
    from sandbox.app import default_vendors
    from sandbox.server import SandboxAddress, vendor_names

    address = SandboxAddress()
    address.host, address.port = "127.0.0.1", 8765
    assert [v.name for v in default_vendors()] == vendor_names()
    assert {"amilia", "cyberimpact", "iadvize", "zendesk"} <= set(vendor_names())
    assert address.vendor_url("amilia") == address.amilia_url == "http://127.0.0.1:8765/amilia/api/V3"
    assert address.vendor_url("cyberimpact") == "http://127.0.0.1:8765/cyberimpact"
    assert address.vendor_url("zendesk") == "http://127.0.0.1:8765/zendesk"
    with pytest.raises(KeyError, match="no 'hubspot' emulator"):
        address.vendor_url("hubspot")
