"""`passerelle deploy`: `prefect deploy --all`, then every deployment refuses parameter names its flow does
not take.

Prefect 3.8.8 checks a new run's parameters against the deployment's schema (types, ranges, patterns), but
the schema `prefect deploy` writes accepts any unknown name, and a misspelt one (`dryrun`) then crashes the
run on the worker before the flow starts. Prefect's `ParameterSchema` drops extra top-level keys and
`prefect deploy` rebuilds the schema from the flow, so prefect.yaml cannot say it: after deploying, each
deployment of prefect.yaml gets its flow's schema with `additionalProperties: false`, and such a run is
refused at creation (HTTP 409, the name given). `passerelle up` deploys this way.

prefect.yaml's top-level `automations` list (which `prefect deploy` ignores) is then applied: each automation
is created, or updated when one of that name exists, so deploying twice leaves one of each. Last, every
app's credentials Block type is registered, so the UI's block catalog offers them before anyone saved one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from prefect.events.schemas.automations import AutomationCore
    from prefect.flows import Flow

console = Console()


def strict_parameter_schema(flow: Flow) -> dict[str, Any]:
    """The flow's parameter schema as `prefect deploy` writes it, refusing names the flow does not take."""
    from prefect.utilities.callables import parameter_schema

    return {**parameter_schema(flow).model_dump_for_openapi(), "additionalProperties": False}


def prefect_yaml_flows(path: Path | str = "prefect.yaml") -> dict[str, Flow]:
    """``<flow name>/<deployment name>`` → flow, for every deployment of a prefect.yaml."""
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    out: dict[str, Flow] = {}
    for spec in yaml.safe_load(Path(path).read_text())["deployments"]:
        flow = load_flow_from_entrypoint(spec["entrypoint"])
        out[f"{flow.name}/{spec['name']}"] = flow
    return out


async def make_parameters_strict(deployments: dict[str, Flow]) -> list[str]:
    """Give each deployment (by ``<flow name>/<deployment name>``) its flow's strict parameter schema.

    Returns:
        The deployments changed. A later ``prefect deploy`` writes the lenient schema again: run this after it.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    async with get_client() as client:
        for name, flow in deployments.items():
            deployment = await client.read_deployment_by_name(name)
            await client.update_deployment(
                deployment.id, DeploymentUpdate(parameter_openapi_schema=strict_parameter_schema(flow)))
    return list(deployments)


def prefect_yaml_automations(path: Path | str = "prefect.yaml") -> list[AutomationCore]:
    """The automations of a prefect.yaml (its top-level `automations` list), validated by Prefect's model."""
    import yaml
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    out = []
    for index, spec in enumerate(yaml.safe_load(Path(path).read_text()).get("automations") or []):
        try:
            out.append(AutomationCore.model_validate(spec))
        except ValidationError as exc:
            name = spec.get("name", f"#{index + 1}") if isinstance(spec, dict) else f"#{index + 1}"
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise typer.BadParameter(f"{path}: automation {name!r}: {where}: {first['msg']}") from None
    return out


async def apply_automations(automations: list[AutomationCore]) -> list[str]:
    """Create each automation, or update the one of the same name (several of that name: the first is
    updated, the others deleted). Returns what was done, one line each."""
    from prefect.client.orchestration import get_client

    done = []
    async with get_client() as client:
        for automation in automations:
            existing = await client.read_automations_by_name(automation.name)
            if existing:
                await client.update_automation(existing[0].id, automation)
                for extra in existing[1:]:
                    await client.delete_automation(extra.id)
                done.append(f"automation {automation.name!r} updated")
            else:
                await client.create_automation(automation)
                done.append(f"automation {automation.name!r} created")
    return done


def deploy(
    prefect_yaml: Path = typer.Option(Path("prefect.yaml"), help="the deployments to create or update"),
    strict_only: bool = typer.Option(False, "--strict-only",
                                     help="do not run `prefect deploy`; only make the deployments strict"),
) -> None:
    """Create or update every deployment of prefect.yaml (`prefect deploy --all`), refusing unknown
    parameter names at run creation, and its automations; register every app's credentials Block type."""
    automations = prefect_yaml_automations(prefect_yaml)  # a malformed one stops before anything is deployed
    if not strict_only:
        prefect = str(Path(sys.executable).with_name("prefect"))
        done = subprocess.run([prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_yaml)])
        if done.returncode != 0:
            raise typer.Exit(done.returncode)
    changed = asyncio.run(make_parameters_strict(prefect_yaml_flows(prefect_yaml)))
    console.print("unknown parameter names are now refused at run creation by: " + ", ".join(changed),
                  markup=False, highlight=False)
    if not strict_only:
        for line in asyncio.run(apply_automations(automations)):
            console.print(line, markup=False, highlight=False)
        from connectors.registry import register_block_types  # every app's Block type, in the UI's catalog
        from tasks.iadvize_zendesk.install import register_install_block_type  # and the app installs'

        slugs = asyncio.run(register_block_types()) + [asyncio.run(register_install_block_type())]
        console.print("block types registered: " + ", ".join(slugs), markup=False, highlight=False)
