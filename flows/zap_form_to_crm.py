"""The zap zaps/form-to-crm.yaml written as a plain Prefect flow from the same reusable pieces: the `http-request`
task (tasks/actions/http.py, behind the same SSRF guard), the zap formatter's transforms and the filter's
condition check (docs/zaps.md, "The YAML zap and its Python twin"). The same event gives the same request.

The YAML zap runs inside the zap drain, many events per Prefect task run; this flow is one run per event: the
shape to start from when a zap outgrows YAML (a loop, a lookup, a branch on an API answer). Deployment
`form-to-crm` (prefect.yaml): run it from the UI or the API with the form's payload as `event`.
"""

from __future__ import annotations

import os
from typing import Annotated, Any
from urllib.parse import quote

from prefect import flow, get_run_logger
from prefect.states import Completed
from pydantic import Field

from passerelle.zaps.conditions import check
from passerelle.zaps.formatter import apply
from passerelle.zaps.spec import VAR_ENV_PREFIX
from tasks.actions.http import http_request

CRM_URL = "http://127.0.0.1:8765/requestbin/crm"  # the YAML's vars.crm_url
CONSENT = ["yes", "true", "on", "1"]


def _crm_url() -> str:
    return os.environ.get(f"{VAR_ENV_PREFIX}CRM_URL", CRM_URL)


@flow(name="form-to-crm", description="A website contact form to the CRM: the zap form-to-crm as a Python flow.")
async def form_to_crm(
    event: Annotated[dict[str, Any], Field(description="What the form posted, as the catch hook keeps it: "
                                                       '{"method": "POST", "json": {"email": …, "first_name": …, '
                                                       '"last_name": …, "consent": "yes", "message": …}}')],
) -> dict[str, Any]:
    """Upsert the visitor who filled the website's contact form into the CRM, if they consented.

    Args:
        event: What the form posted, e.g. {"method": "POST", "json": {"email": "lea@example.org",
            "first_name": "Léa", "last_name": "Tremblay", "consent": "yes", "message": "Bonjour"}}.

    Returns:
        "filtered" when the visitor did not consent or gave no e-mail, else the CRM's answer (status, contact).
    """
    form = (event or {}).get("json") or {}
    if not (check("exists", form.get("email", "")) and check("in", form.get("consent", ""), CONSENT,
                                                             ignore_case=True)):
        return Completed(message="filtered: no e-mail, or no consent", data={"status": "filtered"})
    email = str(apply("text", "extract_email", form["email"])).lower()
    first_name = apply("text", "title", str(form.get("first_name", "")).strip())
    body = {"email": email, "first_name": first_name, "last_name": str(form.get("last_name", "")).strip(),
            "message": form.get("message", ""), "source": "website-form"}
    answer = await http_request(f"{_crm_url()}/contacts/{quote(email, safe='')}", "PUT", body=body)
    get_run_logger().info("Contact upserted in the CRM: HTTP %s", answer.status)
    return Completed(message=f"upserted: HTTP {answer.status}",
                     data={"status": "ok", "http_status": answer.status, "contact": answer.body})
