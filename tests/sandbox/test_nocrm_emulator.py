"""The noCRM emulator's own rules, over HTTP on a real socket: auth and error shapes, GET only, the parameters
each action needs, refusals that leave the lead untouched, seeded random draws, the rate limit, and the state
document (docs/connector-nocrm.md, "The emulator")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sandbox.app import create_app
from sandbox.nocrm.app import build_nocrm
from sandbox.nocrm.document import default_document
from sandbox.server import SandboxServer

KEY = "sandbox-nocrm-key"
LEAD = "/api/simple/leads/145676"


@pytest.fixture(scope="module")
def nocrm_server() -> Iterator[SandboxServer]:
    with SandboxServer(app=create_app([build_nocrm()])) as server:
        yield server


@pytest.fixture
async def control(nocrm_server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nocrm_server.url, timeout=30) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
async def api(nocrm_server: SandboxServer, control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{nocrm_server.url}/nocrm", timeout=30,
                                 headers={"X-API-KEY": KEY}) as client:
        yield client


async def state(control: httpx.AsyncClient) -> dict[str, Any]:
    return (await control.get("/_sandbox/nocrm/state")).json()


async def lead(control: httpx.AsyncClient, lead_id: int = 145676) -> dict[str, Any]:
    return next(row for row in (await state(control))["leads"] if row["id"] == lead_id)


def error(response: httpx.Response, status: int, kind: str) -> str:
    body = response.json()
    assert (response.status_code, body["error"], body["type"]) == (status, status, kind), response.text
    return body["message"]


async def test_the_key_is_required_and_checked(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v2/ping")).json() == {"status": 200, "message": "Your API key is correct."}
    no_key = await api.get("/api/v2/ping", headers={"X-API-KEY": ""})
    assert error(no_key, 401, "unauthorized_missing_token") == "Unauthorized: missing api_key or user token"
    wrong = await api.get(f"{LEAD}/won", headers={"X-API-KEY": "nope"})
    assert error(wrong, 401, "unauthorized_invalid_token") == "Unauthorized: invalid api_key"
    as_param = await api.get("/api/v2/ping", params={"api_key": KEY}, headers={"X-API-KEY": ""})
    assert as_param.status_code == 200


async def test_only_get_is_served_and_unknown_paths_answer_in_nocrms_shape(api, control) -> None:
    before = await lead(control)
    for method in ("POST", "PUT", "DELETE"):
        assert "takes GET only" in error(await api.request(method, f"{LEAD}/won"), 404, "not_found")
    error(await api.get(f"{LEAD}/archive"), 404, "not_found")
    assert await lead(control) == before


@pytest.mark.parametrize("lead_id", ["999", "LEAD_ID", "-1"])
async def test_an_unknown_lead_is_record_not_found(api, lead_id) -> None:
    assert error(await api.get(f"/api/simple/leads/{lead_id}/todo"), 404, "record_not_found") == "Record not found"
    error(await api.get(f"/api/v2/leads/{lead_id}"), 404, "record_not_found")


@pytest.mark.parametrize(("path", "query", "name"), [
    ("standby", {}, "days"), ("assign", {}, "user_id"), ("assign/random_in_a_team", {}, "team_id"),
    ("move_to_step", {}, "step_id"), ("add_tag", {"tag": " "}, "tag"),
    ("send_email_from_template", {"from_user_id": "2"}, "email_template_id"),
    ("send_email_from_template", {"email_template_id": "12"}, "from_user_id"),
    ("add_activity", {"user_id": "2"}, "activity_id"), ("add_activity", {"activity_id": "45"}, "user_id"),
])
async def test_a_missing_parameter_is_refused_and_changes_nothing(api, control, path, query, name) -> None:
    before = await lead(control)
    assert error(await api.get(f"{LEAD}/{path}", params=query), 422, "missing_parameter") == f"{name} is missing"
    assert await lead(control) == before


@pytest.mark.parametrize(("path", "query", "says"), [
    ("standby", {"days": "0"}, "days must be a positive integer"),
    ("standby", {"days": "quinze"}, "days must be a positive integer"),
    ("won", {"amount": "beaucoup"}, "amount must be a number"),
    ("won", {"amount": "-5"}, "amount must be a number"),
    ("move_to_step", {"step_id": "x"}, "step_id must be a positive integer"),
])
async def test_an_invalid_parameter_is_refused(api, control, path, query, says) -> None:
    before = await lead(control)
    assert says in error(await api.get(f"{LEAD}/{path}", params=query), 422, "invalid_parameter")
    assert await lead(control) == before


async def test_references_must_exist(api, control) -> None:
    before = await lead(control)
    error(await api.get(f"{LEAD}/standby", params={"days": 3, "activity_id": 9}), 404, "record_not_found")
    error(await api.get(f"{LEAD}/move_to_step", params={"step_id": 99}), 404, "record_not_found")
    error(await api.get(f"{LEAD}/assign", params={"user_id": "x@y.fr"}), 404, "record_not_found")
    error(await api.get(f"{LEAD}/send_email_from_template", params={"email_template_id": 99, "from_user_id": 2}),
          404, "record_not_found")
    assert await lead(control) == before


async def test_a_disabled_user_is_never_assigned_nor_drawn(api, control) -> None:
    doc = default_document()
    for user in doc["users"]:
        user["is_disabled"] = user["id"] in (2, 3)
    assert (await control.put("/_sandbox/nocrm/state", json=doc)).status_code == 200
    assert "is disabled" in error(await api.get(f"{LEAD}/assign", params={"user_id": 2}), 422, "invalid_parameter")
    drawn = {(await api.get(f"{LEAD}/assign/random", params={"no_admin": "true"})).json()["user_id"]
             for _ in range(10)}
    assert drawn == {4}
    team = await api.get(f"{LEAD}/assign/random_in_a_team", params={"team_id": 24})
    assert "no active member" in error(team, 422, "no_user_available")


async def test_random_draws_repeat_under_the_same_seed(api, control) -> None:
    async def draws() -> list[int]:
        return [(await api.get(f"{LEAD}/assign/random")).json()["user_id"] for _ in range(12)]

    first = await draws()
    await control.post("/_sandbox/reset")
    assert await draws() == first
    doc = default_document()
    doc["account"]["random_seed"] = 8
    await control.put("/_sandbox/nocrm/state", json=doc)
    assert await draws() != first


async def test_no_admin_with_only_admins_is_refused(api, control) -> None:
    doc = default_document()
    doc["users"] = [u for u in doc["users"] if u["is_admin"]]
    doc["teams"], doc["leads"] = [], [dict(doc["leads"][0], user_id=None)]
    doc["email_templates"] = [dict(t, user_id=1) for t in doc["email_templates"]]
    assert (await control.put("/_sandbox/nocrm/state", json=doc)).status_code == 200
    reply = await api.get(f"{LEAD}/assign/random", params={"no_admin": "true"})
    assert error(reply, 422, "no_user_available") == "No user to assign the lead to who is not an admin"
    assert (await lead(control))["user_id"] is None


async def test_template_variables_accept_spaces_and_any_description_field(api, control) -> None:
    doc = default_document()
    doc["email_templates"].append({"id": 20, "name": "Champs", "subject": "{{ lead.title }} ({{lead.step}})",
                                   "body": "Entreprise : {{ lead.entreprise }}, {{user.email}}"})
    await control.put("/_sandbox/nocrm/state", json=doc)
    reply = await api.get(f"{LEAD}/send_email_from_template", params={"email_template_id": 20, "from_user_id": 4})
    assert reply.status_code == 200, reply.text
    [sent] = (await lead(control))["emails"]
    assert sent["subject"] == "Boulangerie Dupont — site web (Entrant)"
    assert sent["body"] == "Entreprise : Boulangerie Dupont, ines@passerelle.dev"


async def test_the_refusals_are_checked_in_the_seeds_order(api, control) -> None:
    # Lead 145678 has no e-mail; Louis's mailbox is not synchronised; template 13 is not shared.
    ask = {"email_template_id": 13, "from_user_id": "louis@passerelle.dev"}
    error(await api.get("/api/simple/leads/145678/send_email_from_template", params=ask), 422,
          "template_not_accessible")
    ask["email_template_id"] = 14  # {{lead.entreprise}}: the florist has no such field
    error(await api.get("/api/simple/leads/145678/send_email_from_template", params=ask), 422,
          "template_variables_left")
    ask["email_template_id"] = 12
    error(await api.get("/api/simple/leads/145678/send_email_from_template", params=ask), 422,
          "lead_without_email")
    error(await api.get(f"{LEAD}/send_email_from_template", params=ask), 422, "mailbox_not_synchronized")
    assert all(not row["emails"] for row in (await state(control))["leads"])


async def test_an_idempotent_action_sent_twice_leaves_updated_at_alone(api, control) -> None:
    first = (await api.get(f"{LEAD}/lost")).json()
    again = (await api.get(f"{LEAD}/lost")).json()
    assert first == again and first["closed_at"]
    moved = (await api.get(f"{LEAD}/todo")).json()
    assert (moved["status"], moved["closed_at"]) == ("todo", None)


async def test_the_rate_limit_answers_429_with_nocrms_headers(api, control) -> None:
    assert (await control.put("/_sandbox/nocrm/rate-limit", json={"per_minute": 2})).json()["remaining"] == 2
    assert [(await api.get("/api/v2/ping")).status_code for _ in range(2)] == [200, 200]
    throttled = await api.get(f"{LEAD}/won")
    error(throttled, 429, "too_many_requests")
    assert 1 <= float(throttled.headers["API-RETRY-AFTER"]) <= 60 and throttled.headers["API-LIMIT-RESET"].isdigit()
    assert (await lead(control))["status"] == "todo"
    bad = await control.put("/_sandbox/nocrm/rate-limit", json={"per_minut": 2})
    assert bad.status_code == 422


async def test_the_state_document_round_trips_and_bad_ones_are_refused(api, control) -> None:
    await api.get(f"{LEAD}/add_activity", params={"activity_id": 45, "user_id": 2, "content": "Appel"})
    await api.get(f"{LEAD}/send_email_from_template", params={"email_template_id": 12, "from_user_id": 2})
    dumped = await state(control)
    assert (await control.put("/_sandbox/nocrm/state", json=dumped)).status_code == 200
    assert await state(control) == dumped
    assert (await control.put("/_sandbox/nocrm/state", json={})).status_code == 200
    assert await state(control) == default_document()
    for bad, says in [({"lead": []}, "unknown keys ['lead']"),
                      ({"leads": [{"id": 1, "title": "x", "step_id": 404}]}, "lead 1: step_id 404 does not exist"),
                      ({"leads": [{"id": 1, "status": "open"}]}, "status must be one of"),
                      ({"teams": [{"name": "x", "user_ids": [42]}]}, "team 1: user 42 does not exist")]:
        reply = await control.put("/_sandbox/nocrm/state", json=bad)
        assert reply.status_code == 422 and says in reply.json()["detail"], reply.text
    assert await state(control) == default_document()


async def test_a_lead_without_step_starts_at_the_default_pipelines_first_step(api, control) -> None:
    await control.put("/_sandbox/nocrm/state", json={"leads": [{"id": 7, "title": "Nouveau"}]})
    shown = (await api.get("/api/v2/leads/7")).json()
    assert (shown["step"], shown["pipeline"], shown["status"], shown["user"]) == ("Entrant", "Ventes", "todo", None)
