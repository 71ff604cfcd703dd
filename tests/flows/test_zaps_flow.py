"""The `zaps` flow under prefect_test_harness: catch-hook calls in the inbox → the hook's zaps (YAML in a folder,
as deployed) → a local HTTP target over a real socket; the runs in the store, one artifact counting them per
zap, and `passerelle runs list|show` printing them (outside text escaped)."""

from __future__ import annotations

import json

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

from flows.zaps import artifact_key, resume_zaps, run_zaps, zap_test
from passerelle.cli.main import app
from passerelle.zaps import ssrf
from passerelle.zaps.runner import FOLDER_ENV
from passerelle.zaps.runs import list_runs
from tests.zaps.runner_support import Target, catch_calls

HOOK = "shop-orders"


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "127.0.0.1/32")
    with Target() as server:
        folder = tmp_path / "zaps"
        folder.mkdir()
        zap = {"id": "orders", "name": "Shop orders", "trigger": {"app": "catch", "event": "hook",
                                                                  "options": {"hook": HOOK}},
               "steps": [
                   {"id": "paid", "type": "filter", "all": [{"field": "{{ trigger.json.status }}",
                                                             "operator": "equals", "value": "paid"}]},
                   {"id": "total", "type": "format", "kind": "number", "transform": "currency",
                    "input": "{{ trigger.json.total }}", "options": {"currency": "CAD", "locale": "fr-CA"}},
                   {"id": "add", "type": "action", "action": "http.request",
                    "inputs": {"method": "POST", "url": f"{server.base}/contacts",
                               "body": {"email": "{{ trigger.json.email }}", "note": "{{ steps.total.output }}"}}},
               ]}
        (folder / "orders.yaml").write_text(yaml.safe_dump(zap, allow_unicode=True))
        monkeypatch.setenv(FOLDER_ENV, str(folder))
        yield server


async def test_the_flow_runs_the_hooks_zaps_and_counts_the_runs_per_zap_in_an_artifact(target):
    catch_calls(HOOK, [{"method": "POST", "json": {"status": "paid", "total": "1234.5", "email": "a@example.org"}},
                       {"method": "POST", "json": {"status": "cart", "total": "3", "email": "b@example.org"}}])
    summary = await run_zaps(link=HOOK)

    fr_ca = "1\xa0234,50\xa0$"  # fr-CA: no-break spaces
    assert [r["body"] for r in target.calls("/contacts")] == [{"email": "a@example.org", "note": fr_ca}]
    assert summary["zaps"] == {"orders": {"ok": 1, "filtered": 1, "failed": 0, "delayed": 0, "unknown": 0,
                                          "held": 0}}
    assert summary["claimed"] == 2 and summary["failed"] == 0
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(HOOK)])))
    assert artifacts and json.loads(artifacts[0].data) == [{"zap": "orders", "ok": 1, "filtered": 1, "failed": 0,
                                                            "delayed": 0, "unknown": 0, "held": 0}]
    assert "Zap orders: 1 ok, 1 filtered." in artifacts[0].description

    again = await run_zaps(link=HOOK)  # nothing new: nothing runs twice
    assert again["claimed"] == 0 and len(target.calls("/contacts")) == 1


async def test_runs_list_and_show_print_each_step_escaped(target):
    catch_calls(HOOK, [{"method": "POST", "json": {"status": "paid", "total": "5", "email": "x\x1b[2J@example.org"}}])
    await run_zaps(link=HOOK)
    [run] = list_runs(zap="orders")
    cli = CliRunner()

    listed = cli.invoke(app, ["runs", "list", "--zap", "orders"])
    assert listed.exit_code == 0, listed.output
    assert "orders" in listed.output and "ok" in listed.output and str(run.id) in listed.output

    shown = cli.invoke(app, ["runs", "show", str(run.id)])
    assert shown.exit_code == 0, shown.output
    assert f"run {run.id}: zap orders, hook {HOOK}" in shown.output
    for line in ("steps[0]  paid (filter)  ok", "steps[1]  total (format)  ok", "steps[2]  add (action)  ok"):
        assert line in shown.output
    assert "\x1b" not in shown.output and "x\\u001b[2J@example.org" in shown.output  # the escape, made visible
    assert '"status": 201' in shown.output

    missing = cli.invoke(app, ["runs", "show", "999"])
    assert missing.exit_code != 0 and "no zap run 999" in missing.output


async def test_the_resume_flow_runs_the_calls_left_waiting_and_the_delays_that_came_due(target, monkeypatch):
    """zaps-resume: the calls of a hook whose nudge was lost are run; a delayed run is woken once due."""
    catch_calls(HOOK, [{"method": "POST", "json": {"status": "paid", "total": "7", "email": "c@example.org"}}])
    summary = await resume_zaps(max_seconds=20)
    assert summary["woken"] == {} and [r["hook"] for r in summary["runs"]] == [HOOK]
    assert [r["body"]["email"] for r in target.calls("/contacts")] == ["c@example.org"]

    again = await resume_zaps(max_seconds=20)  # nothing waiting, nothing due: nothing runs
    assert again == {"woken": {}, "started": {}, "problems": [], "runs": []} and len(target.calls("/contacts")) == 1


async def test_the_zap_test_flow_renders_a_zap_against_an_event_calling_nothing(target):
    state = await zap_test(zap="orders", event={"method": "POST", "json": {"status": "paid", "total": "12",
                                                                           "email": "```<b>x</b>@example.org"}},
                           return_state=True)
    result = await state.result()
    assert state.message == "orders: ok (nothing was called)" and target.requests == []
    assert [s["id"] for s in result["steps"]] == ["paid", "total", "add"]
    async with get_client() as client:
        [artifact] = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["zap-test-orders"])), limit=1)
    assert "# Zap orders: ok (nothing was called)" in artifact.data
    assert "````json" in artifact.data  # the payload's ``` cannot close the code block

    refused = await zap_test(zap="nope", return_state=True)
    assert refused.is_failed() and "no zap with id 'nope'; the zaps are: orders" in refused.message
