"""prefect.yaml is valid: every deployment's entrypoint imports a flow whose parameters are typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from prefect.flows import Flow

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def load_entrypoint(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    module_name = path.removesuffix(".py").replace("/", ".")
    spec = importlib.util.find_spec(module_name)
    assert spec is not None, f"{entrypoint}: module {module_name} not found"
    module = importlib.import_module(module_name)
    return getattr(module, name)


def test_every_flow_module_has_a_deployment():
    entry_modules = {d["entrypoint"].split(":")[0] for d in DEPLOYMENTS}
    flow_modules = {f"flows/{p.name}" for p in (ROOT / "flows").glob("*.py") if p.name != "__init__.py"}
    assert flow_modules <= entry_modules, f"flows without a deployment: {flow_modules - entry_modules}"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_is_a_flow_with_typed_described_parameters(deployment):
    flow = load_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    schema = flow.parameters.model_dump()
    for name, prop in schema["properties"].items():
        assert any(k in prop for k in ("type", "anyOf", "allOf", "$ref")), f"{name} has no type"
        assert prop.get("description"), f"parameter {name!r} of {flow.name} has no description"
    assert set(deployment.get("parameters", {})) <= set(schema["properties"])
    assert deployment["work_pool"]["name"] == "passerelle"
