"""The real Prefect path: the `amilia-webhooks` deployment of prefect.yaml, its event trigger, a runner.

The gateway's nudge (event `passerelle.inbox.received` on resource `passerelle.inbox.amilia.<link>`) fires
the trigger written in prefect.yaml; its `parameters` template passes the link; a runner (serving the
deployment in this process, running the flow in a subprocess as a worker would) drains the link's inbox.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import DeploymentTriggerTypes, emit_event
from prefect.runner import Runner
from pydantic import TypeAdapter

from flows.amilia_webhooks import process_amilia_events
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP
from tests.support.amilia_webhooks import deliver, events, person_event
from tests.support.clubs import synced
from tests.support.clubs import webhook_club as club

ROOT = Path(__file__).resolve().parents[2]
SPEC = next(d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
            if d["name"] == "amilia-webhooks")


def nudge(link: str) -> None:
    """What the gateway emits once deliveries are stored (passerelle/gateway/nudge.py)."""
    emit_event(event="passerelle.inbox.received", payload={"accepted": 1},
               resource={"prefect.resource.id": f"passerelle.inbox.amilia.{link}", "passerelle.source": "amilia",
                         "passerelle.link": link})


async def test_the_gateway_nudge_runs_the_deployment_with_the_link(link):
    """"votre liste sera automatiquement mise à jour, presque en temps réel, grâce aux alertes d'événements
    envoyées par Amilia via des webhooks": a delivery's nudge starts the deployment, which applies it."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    link.load(org.state(), link.cyberimpact())
    deliver(link.name, person_event(zoe))

    triggers = [TypeAdapter(DeploymentTriggerTypes).validate_python({**t, "name": f"{t['name']}-{link.name}"})
                for t in SPEC["triggers"]]
    deployment = await process_amilia_events.ato_deployment(
        name=f"amilia-webhooks-{link.name}", triggers=triggers, parameters=SPEC["parameters"])
    runner = Runner(name=f"runner-{link.name}", query_seconds=1)
    deployment_id = await runner.aadd_deployment(deployment)
    serving = asyncio.ensure_future(runner.start(webserver=False))
    try:
        deadline, next_nudge, run = time.monotonic() + 90, 0.0, None
        async with get_client() as client:
            while run is None or not run.state.is_final():
                assert time.monotonic() < deadline, f"no completed run of the deployment in 90 s: {run}"
                if run is None and time.monotonic() >= next_nudge:  # until the automation is loaded
                    nudge(link.name)
                    next_nudge = time.monotonic() + 5
                await asyncio.sleep(0.5)
                runs = await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
                run = next((r for r in runs if r.state and not r.state.is_cancelled()), None)
            assert run.state.is_completed(), run.state
            assert run.parameters["link"] == link.name  # from the event's passerelle.link label
            summary = await run.state.result(raise_on_failure=True) if run.state.data else None
    finally:
        await runner.astop()
        serving.cancel()
    assert [e.status for e in events(link.name)] == ["done"]
    assert "zoe.roy@example.org" in link.group_members(CLIENTS_GROUP)
    assert summary is None or summary["applied"] == 1
