"""`passerelle connect iadvize-zendesk`: install the iAdvize → Zendesk app on one iAdvize site, from the terminal.

Asks what the seed's installation form asks: the site id, the five parameters (the three secrets prompted
without echo, or read from `IADVIZE_ZENDESK_ZENDESK_API_KEY`, `IADVIZE_ZENDESK_IADVIZE_REST_API_KEY`,
`IADVIZE_ZENDESK_IADVIZE_GRAPHQL_TOKEN`) and the options; the Zendesk domain is refused at once unless it is
`https://<subdomain>.zendesk.com`. Then both credentials are checked by a test call (unless `--no-check`), each
failure naming its credential, and the Block `iadvize-zendesk-install/site-<id>` is saved (docs/iadvize-zendesk.md).
Registered on `passerelle connect` beside the per-app commands (passerelle/cli/connect.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from passerelle.cli.safe_text import untrusted

console = Console()
ENV = "IADVIZE_ZENDESK_"


def _site(value: str) -> str:
    from tasks.iadvize_zendesk.install import check_site

    try:
        return check_site(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _domain(value: str) -> str:
    from connectors.zendesk.models import zendesk_domain

    try:
        return zendesk_domain(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _secret(label: str, env: str) -> Any:
    return typer.Option(..., prompt=label, hide_input=True, envvar=ENV + env, show_envvar=False,
                        help=f"{label} (prompted without echo; or {ENV + env})")


def connect_iadvize_zendesk(
    site: str = typer.Option(..., prompt="iAdvize site id", callback=_site,
                             help="the iAdvize site (project) id, e.g. 4242: one install per site"),
    zendesk_domain: str = typer.Option(..., prompt="Zendesk domain (https://<subdomain>.zendesk.com)",
                                       callback=_domain, help="Zendesk domain, of the form "
                                       "https://<subdomain>.zendesk.com"),
    zendesk_email: str = typer.Option(..., prompt="Zendesk email", help="the admin e-mail of that Zendesk "
                                      "subdomain"),
    zendesk_api_key: str = _secret("Zendesk API key", "ZENDESK_API_KEY"),
    iadvize_rest_api_key: str = _secret("iAdvize api key for rest api", "IADVIZE_REST_API_KEY"),
    iadvize_graphql_token: str = _secret("iAdvize token for graphQL api", "IADVIZE_GRAPHQL_TOKEN"),
    auto_archive: bool = typer.Option(False, help="save a Zendesk ticket automatically after each conversation"),
    archive_form_id: int | None = typer.Option(None, min=1, help="Zendesk form of the automatic tickets "
                                               "(Enterprise plans)"),
    escalation: bool = typer.Option(False, help="let agents escalate a conversation to a Zendesk ticket"),
    escalation_note_label: str = typer.Option("", help="label of the private note agents write when they "
                                              "escalate"),
    escalation_form_id: int | None = typer.Option(None, min=1, help="Zendesk form used for escalations"),
    site_country: str | None = typer.Option(None, help="the site's country for 'iAdvize Country' (default: "
                                            "what iAdvize says at the check)"),
    iadvize_platform: str = typer.Option("ha", help="the iAdvize platform of the account (ha or sd)"),
    zendesk_base_url: str | None = typer.Option(None, help="advanced: Zendesk API root (proxy, sandbox)"),
    iadvize_base_url: str | None = typer.Option(None, help="advanced: iAdvize API root (proxy, sandbox)"),
    check: bool = typer.Option(True, help="check both credentials with a test call before saving"),
) -> None:
    """Install the iAdvize → Zendesk app on one iAdvize site (the seed's five parameters and options), checked
    first by a Zendesk and an iAdvize test call, saved as the Block iadvize-zendesk-install/site-<id>."""
    from tasks.iadvize_zendesk.install import install_block_name

    install = _build(site=site, zendesk_domain=zendesk_domain, zendesk_email=zendesk_email,
                     zendesk_api_key=zendesk_api_key, iadvize_rest_api_key=iadvize_rest_api_key,
                     iadvize_graphql_token=iadvize_graphql_token, auto_archive=auto_archive,
                     archive_form_id=archive_form_id, escalation=escalation,
                     escalation_note_label=escalation_note_label, escalation_form_id=escalation_form_id,
                     site_country=site_country, iadvize_platform=iadvize_platform,
                     zendesk_base_url=zendesk_base_url, iadvize_base_url=iadvize_base_url)
    if check:
        _check(install)
    name = install_block_name(install.site)
    install.save(name, overwrite=True)
    console.print(Text.assemble("saved IadvizeZendeskInstall block ", untrusted(repr(name))))
    console.print(untrusted(f"iAdvize webhooks and escalations: `passerelle hooks add iadvize --link {install.site}` "
                            "prints the URL (escalations: the same path + /escalations)"), highlight=False)


def _build(**fields: Any) -> Any:
    """The install Block, or one line naming the option whose value it refuses (never echoing a secret)."""
    from pydantic import ValidationError

    from tasks.iadvize_zendesk.install import IadvizeZendeskInstall

    try:
        return IadvizeZendeskInstall(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(message, param_hint=f"--{field.replace('_', '-')}" if field else None) from None


def _check(install: Any) -> None:
    from tasks.iadvize_zendesk.install import InstallCheckFailed

    try:
        verdicts = asyncio.run(install.check())
    except InstallCheckFailed as exc:
        for failure in exc.failures.values():
            console.print(Text.assemble(("not saved", "red"), ": ", untrusted(str(failure))), soft_wrap=True,
                          highlight=False)
        raise typer.Exit(1) from None
    for line in verdicts:
        console.print(untrusted(line), highlight=False)
