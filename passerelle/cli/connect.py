"""`passerelle connect …`: save credential Blocks after checking them with the vendor's own test call."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Save vendor credentials as Prefect Blocks (secrets stay in SecretStr fields).",
                  no_args_is_help=True)
console = Console()


def block_name(name: str) -> str:
    """Option callback: refuse, before any prompt, a name Prefect would refuse for a Block."""
    from connectors._http.errors import block_name_problem

    problem = block_name_problem(name)
    if problem:
        raise typer.BadParameter(problem)
    return name


NameOpt = typer.Option("default", callback=block_name, help="block name = the sync's link "
                       "(lowercase letters, digits and dashes)")


async def _check(block) -> None:
    async with block.client() as client:
        await client.ping()


async def check_link(link: str) -> None:
    """Before a run: both blocks of the link are saved and both vendors answer with their credentials.

    Raises:
        LinkNotFound: a block is missing (the message names the `connect` command that creates it).
        ApiError: a vendor is unreachable or refuses the credentials (the message says what to fix).
    """
    from connectors._http.errors import check_link_blocks
    from connectors.amilia.credentials import AmiliaCredentials
    from connectors.cyberimpact.credentials import CyberimpactCredentials

    blocks = await asyncio.gather(AmiliaCredentials.aload(link), CyberimpactCredentials.aload(link),
                                  return_exceptions=True)
    check_link_blocks(link, dict(zip(("amilia", "cyberimpact"), blocks, strict=True)))
    for outcome in await asyncio.gather(*(_check(block) for block in blocks), return_exceptions=True):
        if isinstance(outcome, BaseException):  # Amilia's first when both fail: the same line every time
            raise outcome


def _build(model, **fields):
    """The Block, or one line naming the option whose value it refuses (never echoing the value)."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        raise typer.BadParameter(error["msg"], param_hint=f"--{field.replace('_', '-')}" if field else None) \
            from None


def _save(block, name: str, check: bool) -> None:
    from connectors._http.errors import ApiError

    block._block_document_name = name  # so hints name the block: 'amilia-credentials/<name>'
    if check:
        try:
            asyncio.run(_check(block))
        except ApiError as exc:
            console.print(f"[red]not saved[/]: {escape(str(exc))}", soft_wrap=True, highlight=False)
            raise typer.Exit(1) from None
    block.save(name, overwrite=True)
    console.print(f"saved {type(block).__name__} block {escape(repr(name))}")


@app.command("amilia")
def connect_amilia(
    name: str = NameOpt,
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

    block = _build(AmiliaCredentials, username=username, password=password, organization=organization,
                   language=language, base_url=base_url)
    _save(block, name, check)


@app.command("cyberimpact")
def connect_cyberimpact(
    name: str = NameOpt,
    api_token: str = typer.Option(..., prompt=True, hide_input=True, envvar="CYBERIMPACT_API_TOKEN",
                                  help="Cyberimpact API token (prompted; or CYBERIMPACT_API_TOKEN)"),
    base_url: str = typer.Option("https://api.cyberimpact.com", help="advanced: API base URL"),
    check: bool = typer.Option(True, help="validate with GET /ping before saving"),
) -> None:
    """Save Cyberimpact Credentials, checked with the API's ping."""
    from connectors.cyberimpact.credentials import CyberimpactCredentials

    _save(_build(CyberimpactCredentials, api_token=api_token, base_url=base_url), name, check)
