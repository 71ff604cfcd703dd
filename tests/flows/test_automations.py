"""prefect.yaml's automations, as `passerelle deploy` applies them: created once, updated by name, a malformed
one refused with its name and field before anything is deployed. (That the crash automation turns a killed
run Crashed is tests/stack/test_local_stack.py's.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from prefect.client.orchestration import get_client

from passerelle.cli.deploy import apply_automations, prefect_yaml_automations

ROOT = Path(__file__).resolve().parents[2]


def test_the_crash_automation_watches_passerelle_runs_that_beat_every_30_seconds():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    crash = next(a for a in prefect_yaml_automations(ROOT / "prefect.yaml") if a.name == "crash-silent-flow-runs")
    assert crash.trigger.posture == "Proactive" and crash.trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Crashed",
            "prefect.flow-run.Cancelled", "prefect.flow-run.heartbeat"} <= crash.trigger.expect
    assert crash.actions[0].type == "change-flow-run-state" and crash.actions[0].state.value == "CRASHED"
    beat = int(spec["definitions"]["work_pools"]["passerelle"]["job_variables"]["env"][
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    # three missed beats of the 30 s every deployment asks for (at Prefect's default of 180 s it would crash
    # healthy runs: hence the env in every deployment's job variables, not in the worker's settings)
    assert crash.trigger.within.total_seconds() == 3 * beat
    assert all(d["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(beat)
               for d in spec["deployments"])
    assert all("passerelle" in d["tags"] for d in spec["deployments"])  # what the automation matches


async def test_applying_twice_leaves_one_automation_of_each_name_updated():
    automations = prefect_yaml_automations(ROOT / "prefect.yaml")
    first = await apply_automations(automations)
    assert first == [f"automation {a.name!r} created" for a in automations]
    changed = automations[0].model_copy(update={"description": "edited"})
    assert await apply_automations([changed]) == [f"automation {changed.name!r} updated"]
    async with get_client() as client:
        found = await client.read_automations_by_name(changed.name)
    assert len(found) == 1 and found[0].description == "edited" and found[0].enabled


def test_a_malformed_automation_is_refused_naming_it_and_its_field(tmp_path):
    broken = tmp_path / "prefect.yaml"
    broken.write_text(yaml.safe_dump({"deployments": [], "automations": [
        {"name": "crash-silent-flow-runs", "trigger": {"type": "event", "posture": "Sometimes"},
         "actions": [{"type": "do-nothing"}]}]}))
    with pytest.raises(typer.BadParameter, match=r"automation 'crash-silent-flow-runs': .*trigger"):
        prefect_yaml_automations(broken)
