"""The YAML zap zaps/form-to-crm.yaml and its Python twin flows/zap_form_to_crm.py, fed the same form posts, make
the same requests and leave the same contacts in the sandbox's request bin (over a real socket); the flow runs
under prefect_test_harness, the YAML zap in the zap drain."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from flows.zap_form_to_crm import form_to_crm
from passerelle.engine import DrainOptions, drain
from passerelle.zaps import ssrf
from passerelle.zaps.runner import ZapHandler
from passerelle.zaps.runs import list_runs
from passerelle.zaps.spec import VAR_ENV_PREFIX, load_zap
from tests.zaps.runner_support import catch_calls

ZAP = Path(__file__).resolve().parents[2] / "zaps" / "form-to-crm.yaml"
FORMS = [
    {"email": " Lea.Tremblay@Example.org ", "first_name": "léa", "last_name": " Tremblay ", "consent": "Yes",
     "message": "Bonjour"},
    {"email": "no-consent@example.org", "first_name": "Marc", "consent": "no"},
    {"first_name": "Sans courriel", "consent": "yes"},
    {"email": "Write to JEAN.roy@example.com please", "first_name": "JEAN", "consent": "on"},
    {"email": " Lea.Tremblay@Example.org ", "first_name": "Léa", "last_name": "Tremblay", "consent": "true",
     "message": "Une deuxième fois"},
]


def bin_of(sandbox, name: str) -> tuple[list[tuple], dict]:
    base = sandbox.url
    calls = httpx.get(f"{base}/_sandbox/requestbin/bins/{name}/calls").json()["calls"]
    documents = httpx.get(f"{base}/_sandbox/requestbin/state").json()["documents"].get(name, {})
    return [(c["method"], c["path"], c["body"]) for c in calls], documents


@pytest.fixture
def crm(sandbox, monkeypatch):
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "127.0.0.1/32")

    def point_at(bin_name: str) -> None:
        monkeypatch.setenv(f"{VAR_ENV_PREFIX}CRM_URL", f"{sandbox.vendor_url('requestbin')}/{bin_name}")

    return point_at


async def test_the_yaml_zap_and_its_python_twin_make_the_same_requests_and_contacts(sandbox, crm):
    crm("crm-yaml")
    zap = load_zap(ZAP).model_copy(update={"enabled": True})
    catch_calls("form-to-crm", [{"method": "POST", "query": {}, "json": form} for form in FORMS])
    await drain(ZapHandler([zap], connect=None), "form-to-crm", "test",
                DrainOptions(batch_size=1, max_seconds=30, linger=0.1, poll=0.05))  # one at a time: in order
    statuses = [r.status for r in sorted(list_runs(zap="form-to-crm"), key=lambda r: r.inbox_id)]
    assert statuses == ["ok", "filtered", "filtered", "ok", "ok"]

    crm("crm-python")
    results = [await form_to_crm(event={"method": "POST", "json": form}) for form in FORMS]
    assert [r["status"] for r in results] == ["ok", "filtered", "filtered", "ok", "ok"]

    yaml_calls, yaml_contacts = bin_of(sandbox, "crm-yaml")
    python_calls, python_contacts = bin_of(sandbox, "crm-python")
    assert yaml_calls == python_calls and len(yaml_calls) == 3
    assert yaml_contacts == python_contacts
    assert yaml_contacts == {
        "/contacts/lea.tremblay@example.org": {"email": "lea.tremblay@example.org", "first_name": "Léa",
                                               "last_name": "Tremblay", "message": "Une deuxième fois",
                                               "source": "website-form"},
        "/contacts/jean.roy@example.com": {"email": "jean.roy@example.com", "first_name": "Jean", "last_name": "",
                                           "message": "", "source": "website-form"}}


async def test_any_registered_action_runs_as_a_prefect_task_from_a_flow(sandbox, crm):
    from prefect import flow

    from tasks.actions.apps import run_action

    @flow
    async def upsert(email: str) -> dict:
        return await run_action("http.request", {"method": "PUT", "url": f"{sandbox.vendor_url('requestbin')}"
                                                 f"/tasks/contacts/{email}", "body": {"email": email}})

    out = await upsert("lea@example.org")
    assert out["status"] == 201 and out["body"]["email"] == "lea@example.org"
    _, contacts = bin_of(sandbox, "tasks")
    assert contacts == {"/contacts/lea@example.org": {"email": "lea@example.org"}}

    @flow
    async def needs_one() -> dict:
        return await run_action("slack.send_message", {"text": "hello"})

    state = await needs_one(return_state=True)
    assert state.is_failed() and "connection: slack.send_message needs a slack connection" in state.message
