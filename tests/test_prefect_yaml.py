"""prefect.yaml is valid: every deployment's entrypoint imports a flow whose parameters are typed and explained
in words a club manager understands; one deployment per flow serves every link."""

from __future__ import annotations

import importlib.util
import re
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


# Words of ours a club manager filling the run form would not know.
JARGON = ("seed", "block", "lease", "drain", "inbox", "watermark", "the n ", "last n ", "claim")


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_the_run_form_speaks_to_a_club_manager(deployment):
    properties = load_entrypoint(deployment["entrypoint"]).parameters.model_dump()["properties"]
    for name, prop in properties.items():
        text = re.sub(r"`[^`]*`", "", prop["description"].lower())  # a command to run may name anything
        assert not [w for w in JARGON if w in text], f"{deployment['name']}.{name}: {prop['description']!r}"
    if "dry_run" in properties:  # the browser test of tests/stack looks for this sentence in the form
        assert "Read everything and report what would change" in properties["dry_run"]["description"]
    if "link" in properties:  # the Amilia flows and the zaps: a block or hook name, checked when a run is created
        assert properties["link"]["pattern"] == "^[a-z0-9-]+$"
    elif "site" in properties:  # the iAdvize flows: an iAdvize site id
        assert properties["site"]["pattern"] == "^[0-9]+$"
    elif "zap" in properties:  # zap-test: a zap id
        assert properties["zap"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
    else:  # zaps-resume runs for every hook; form-to-crm takes the form itself
        assert deployment["name"] in ("zaps-resume", "form-to-crm"), f"{deployment['name']} names no link, site or zap"
    for name, prop in properties.items():
        dates = [b for b in prop.get("anyOf", [prop]) if b.get("format") == "date"]
        assert all(b.get("pattern") for b in dates), f"{name}: Prefect does not check `format: date` itself"


def test_one_deployment_per_flow_serves_every_link_without_a_deployment_concurrency_limit():
    """A deployment concurrency limit is per deployment, not per link, and its CANCEL_NEW left a Cancelled run
    per nudge of a burst: one run per link is the flows' own business (a store lease per link)."""
    entrypoints = [d["entrypoint"] for d in DEPLOYMENTS]
    assert len(entrypoints) == len(set(entrypoints))
    assert not [d["name"] for d in DEPLOYMENTS if "concurrency_limit" in d]
    webhooks = next(d for d in DEPLOYMENTS if d["name"] == "amilia-webhooks")
    assert "copy" not in webhooks["description"].lower()
    assert webhooks["triggers"][0]["parameters"]["link"] == "{{ event.resource['passerelle.link'] }}"
    assert webhooks["triggers"][0]["match"]["prefect.resource.id"] == "passerelle.inbox.amilia.*"
