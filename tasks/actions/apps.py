"""Every registered zap action as a Prefect task, usable on its own from any flow (docs/zaps.md, "Apps and the
registry"): the action of `app.name`, its inputs checked by its input model, its connection loaded by name.

Example:
    from tasks.actions.apps import run_action

    @flow
    async def welcome(email: str):
        member = await run_action("mailchimp.upsert_member", {"list_id": "…", "email": email}, connection="default")
        await run_action("slack.send_message", {"text": f"New member {email}"}, connection="default")

A flow that calls an action which is not idempotent (`passerelle apps show APP` says which) owns its retries:
this task does not retry, as the zap runner does not re-send such a call by itself.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from passerelle.zaps.registry import get_action


@task(name="zap-action", task_run_name="{ref}", cache_policy=NO_CACHE)
async def run_action(ref: str, inputs: dict[str, Any], connection: str | None = None) -> dict[str, Any]:
    """Run the action `ref` (``app.name``) once with `inputs`; `connection` names the app's credentials Block when
    the action needs one. Returns the action's output as plain data."""
    spec = get_action(ref)
    if spec.connection and not connection:
        raise ValueError(f"connection: {ref} needs a {spec.connection} connection; give the name of its credentials "
                         f"Block (passerelle connect {spec.connection.replace('_', '-')} --name NAME)")
    block = None
    if spec.connection:
        from connectors.registry import load_connection

        block = await load_connection(spec.connection, connection)
    result = await spec.run(spec.input_model.model_validate(inputs), block)
    return result.model_dump(mode="json")
