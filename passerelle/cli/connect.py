"""`passerelle connect …`: save credential Blocks after checking them with the vendor's own test call."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

app = typer.Typer(help="Save vendor credentials as Prefect Blocks (secrets stay in SecretStr fields).",
                  no_args_is_help=True)
console = Console()


async def _check(block) -> None:
    async with block.client() as client:
        await client.ping()


def _save(block, name: str, check: bool) -> None:
    from connectors._http.errors import ApiError

    if check:
        try:
            asyncio.run(_check(block))
        except ApiError as exc:
            console.print(f"[red]not saved[/]: {exc}")
            raise typer.Exit(1) from None
    block.save(name, overwrite=True)
    console.print(f"saved {type(block).__name__} block {name!r}")


@app.command("amilia")
def connect_amilia(
    name: str = typer.Option("default", help="block name = the sync's link"),
    username: str = typer.Option(..., help="Amilia admin user (e-mail)"),
    organization: str = typer.Option(..., help="organisation id or store slug"),
    password: str = typer.Option(..., prompt=True, hide_input=True, envvar="AMILIA_PASSWORD",
                                 help="Amilia password (prompted; or AMILIA_PASSWORD)"),
    language: str = typer.Option("en", help="en or fr"),
    base_url: str = typer.Option("https://app.amilia.com/api/V3", help="advanced: API base URL"),
    check: bool = typer.Option(True, help="validate with an authenticated call before saving"),
) -> None:
    """Save Amilia Credentials, checked by authenticating and reading the organisation."""
    from connectors.amilia.credentials import AmiliaCredentials

    block = AmiliaCredentials(username=username, password=password, organization=organization,
                              language=language, base_url=base_url)
    _save(block, name, check)


@app.command("cyberimpact")
def connect_cyberimpact(
    name: str = typer.Option("default", help="block name = the sync's link"),
    api_token: str = typer.Option(..., prompt=True, hide_input=True, envvar="CYBERIMPACT_API_TOKEN",
                                  help="Cyberimpact API token (prompted; or CYBERIMPACT_API_TOKEN)"),
    base_url: str = typer.Option("https://api.cyberimpact.com", help="advanced: API base URL"),
    check: bool = typer.Option(True, help="validate with GET /ping before saving"),
) -> None:
    """Save Cyberimpact Credentials, checked with the API's ping."""
    from connectors.cyberimpact.credentials import CyberimpactCredentials

    _save(CyberimpactCredentials(api_token=api_token, base_url=base_url), name, check)
