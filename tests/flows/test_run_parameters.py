"""Bad parameters of a run created over Prefect's REST API are refused at creation, the field named, or fail
at once with a one-line message — never later on the worker.

What Prefect 3.8.8 checks at `POST /deployments/{id}/create_flow_run` (enforce_parameter_schema, on by
default): the deployment's JSON schema, with jsonschema but without a format checker — types, minimum and
maximum, patterns, but not `format: date`, and the schema `prefect deploy` writes accepts unknown names.
Hence the date pattern and the link pattern of the flows' parameters, and `make_parameters_strict` (run after
`prefect deploy`) for unknown names. Each deployment here is built from its prefect.yaml entry as
`prefect deploy` builds it (the flow's own schema), on the test harness's Prefect server.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.exceptions import PrefectHTTPStatusError, SignatureMismatchError
from prefect.flow_engine import run_flow
from prefect.flows import Flow, load_flow_from_entrypoint

from passerelle.cli.deploy import make_parameters_strict, prefect_yaml_flows

ROOT = Path(__file__).resolve().parents[2]
SPECS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
# The parameter naming what a run works on, and a value it accepts: the Amilia flows' link (a Block name), the
# iAdvize flows' site (an iAdvize id), the zaps' hook (a link name too).
KEYS = {"link": "default", "site": "4242", "zap": "okast-renewal"}  # what a flow runs for (zaps-resume: all)
# The command a run names when its link or site has no credentials (flows that read none are not listed).
CONNECT = {"amilia": "`passerelle connect amilia --name {value}`",
           "iadvize": "`passerelle connect iadvize-zendesk --site {value}`"}
REQUIRED = {"since": "2026-01-01T00:00:00Z",  # other required parameters, with a value they accept
            "event": {"method": "POST", "json": {"email": "lea@example.org", "consent": "no"}}}


def key_of(flow: Flow) -> str | None:
    return next((k for k in KEYS if k in properties(flow)), None)


def base(flow: Flow) -> dict:
    """Parameters a run of this flow is created with: its key and its other required parameters."""
    required = flow.parameters.model_dump().get("required", [])
    key = key_of(flow)
    return {**({key: KEYS[key]} if key else {}), **{n: REQUIRED[n] for n in required if n in REQUIRED}}


def needs_credentials(spec: dict) -> str | None:
    """The app whose connect command a run without credentials names: amilia, iadvize, or None."""
    if spec["entrypoint"].startswith("flows/amilia_"):
        return "amilia"
    if spec["entrypoint"].startswith("flows/conversation_archive.py"):
        return "iadvize"
    return None


def flow_of(spec: dict) -> Flow:
    return load_flow_from_entrypoint(str(ROOT / spec["entrypoint"].split(":")[0]) + ":"
                                     + spec["entrypoint"].split(":")[1])


def properties(flow: Flow) -> dict[str, dict]:
    return flow.parameters.model_dump()["properties"]


def day_parameters(flow: Flow) -> list[str]:
    """The flow's date parameters, read from its schema (as the UI's run form reads them)."""
    return [name for name, prop in properties(flow).items()
            if any(branch.get("format") == "date" for branch in prop.get("anyOf", [prop]))]


async def deploy(spec: dict, *, strict: bool = False) -> tuple[Flow, str]:
    """The deployment as `prefect deploy` makes it from this prefect.yaml entry, then made strict if asked."""
    flow = flow_of(spec)
    name = f"{spec['name']}-{uuid.uuid4().hex[:8]}"
    deployment_id = await (await flow.ato_deployment(name=name, parameters=spec.get("parameters", {}))).apply()
    if strict:
        await make_parameters_strict({f"{flow.name}/{name}": flow})
    return flow, str(deployment_id)


async def refusal(deployment_id: str, parameters: dict) -> str:
    """The API's answer to creating a run with these parameters, which must be a refusal."""
    async with get_client() as client:
        with pytest.raises(PrefectHTTPStatusError) as refused:
            await client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
    assert refused.value.response.status_code in (409, 422), refused.value.response.text
    return refused.value.response.json()["detail"]


def test_the_flows_with_a_date_parameter_are_known():
    assert {spec["name"]: day_parameters(flow_of(spec)) for spec in SPECS} == {
        "amilia-initial-sync": ["as_of"], "amilia-webhooks": [], "amilia-reconcile": ["as_of"],
        "iadvize-archive": [], "iadvize-backfill": [], "iadvize-escalation-report": ["start", "end"], "zaps": [],
        "zaps-resume": [], "zap-test": [], "form-to-crm": []}


@pytest.mark.parametrize("spec", [s for s in SPECS if day_parameters(flow_of(s))], ids=lambda s: s["name"])
async def test_an_impossible_date_is_refused_at_creation(spec):
    flow, deployment_id = await deploy(spec)  # the schema exactly as `prefect deploy` writes it
    given = base(flow)
    for name in day_parameters(flow):
        detail = await refusal(deployment_id, {**given, name: "2026-13-45"})
        assert f"field '{name}'" in detail and "2026-13-45" in detail, detail
        assert "does not match" in await refusal(deployment_id, {**given, name: "23/11/2026"})
        async with get_client() as client:  # a real day goes through
            run = await client.create_flow_run_from_deployment(deployment_id,
                                                               parameters={**given, name: "2026-11-23"})
        assert run.parameters[name] == "2026-11-23"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
async def test_a_link_that_cannot_name_credentials_or_a_number_out_of_range_is_refused(spec):
    flow, deployment_id = await deploy(spec)
    key = key_of(flow)
    if key is not None:
        assert f"field '{key}'" in await refusal(deployment_id, {**base(flow), key: "Mon Club"})
    number = next((n for n, p in properties(flow).items() if "minimum" in p or "exclusiveMinimum" in p), None)
    if number is not None:
        assert f"field '{number}'" in await refusal(deployment_id, {**base(flow), number: -1})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["name"])
async def test_a_misspelt_parameter_is_refused_once_the_deployment_is_strict(spec):
    flow = flow_of(spec)
    key = key_of(flow)
    misspelt = next((n.replace("_", "") for n in properties(flow) if "_" in n), f"{key}s")  # dry_run → dryrun
    assert misspelt not in properties(flow)
    _, lenient_id = await deploy(spec)
    async with get_client() as client:
        # What `prefect deploy` alone gives: accepted, then the worker cannot even start the flow.
        run = await client.create_flow_run_from_deployment(lenient_id, parameters={**base(flow), misspelt: True})
        with pytest.raises(SignatureMismatchError, match=misspelt):
            run_flow(flow, flow_run=run)
        assert (await client.read_flow_run(run.id)).state.is_scheduled()  # the worker would report it Crashed

    _, strict_id = await deploy(spec, strict=True)
    detail = await refusal(strict_id, {**base(flow), misspelt: True})
    assert repr(misspelt) in detail and "unexpected" in detail, detail
    async with get_client() as client:  # the deployment's defaults and a well-spelt run still go through
        run = await client.create_flow_run_from_deployment(strict_id, parameters=base(flow))
        assert {k: run.parameters[k] for k in base(flow)} == base(flow)
        assert (await client.read_deployment(strict_id)).parameters == spec.get("parameters", {})


@pytest.mark.parametrize("spec", [s for s in SPECS if needs_credentials(s)], ids=lambda s: s["name"])
async def test_a_link_without_credentials_fails_at_once_naming_the_fix(spec):
    """What the schema cannot judge fails first thing in the run, one line naming the field's value and the fix
    (tasks/amilia_cyberimpact/links.py, tasks/iadvize_zendesk/install.py), before any vendor call: here, as the
    worker runs a REST-created run."""
    flow, deployment_id = await deploy(spec, strict=True)
    key = key_of(flow)
    value = "nobody-here" if key == "link" else "999999"
    parameters = {**base(flow), key: value}
    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
        state = await run_flow(flow, flow_run=run, return_type="state")
        run = await client.read_flow_run(run.id)
    assert state.is_failed() and "\n" not in state.message, state.message
    assert value in state.message and CONNECT[needs_credentials(spec)].format(value=value) in state.message, \
        state.message


async def test_passerelle_deploy_makes_every_deployment_of_prefect_yaml_strict():
    """What `passerelle deploy` does after `prefect deploy --all`: every deployment of prefect.yaml,
    found by its name, gets its flow's schema with `additionalProperties: false` (defaults kept)."""
    ids = {}
    for spec in SPECS:  # deployed under their prefect.yaml names, as `prefect deploy --all` does
        flow = flow_of(spec)
        deployment = await flow.ato_deployment(name=spec["name"], parameters=spec.get("parameters", {}))
        ids[f"{flow.name}/{spec['name']}"] = await deployment.apply()
    flows = prefect_yaml_flows(ROOT / "prefect.yaml")
    assert sorted(await make_parameters_strict(flows)) == sorted(ids)
    async with get_client() as client:
        for name, deployment_id in ids.items():
            schema = (await client.read_deployment(deployment_id)).parameter_openapi_schema
            assert schema["additionalProperties"] is False, name
            assert set(schema["properties"]) == set(properties(flows[name]))
