"""`passerelle connect APP` and `passerelle connections list`: connections are credentials Blocks saved under a
name, one Block type per app (connectors/registry.py).

`connect APP` exists for every registered app and is built from its Block's fields: each field is an option
(`api_token` → `--api-token`), required when the field is; secret (`SecretStr`) fields are prompted without
echo or read from `<APP>_<FIELD>` (`AMILIA_PASSWORD`, `CYBERIMPACT_API_TOKEN`). The Block is checked with
its `test()` (the vendor's cheapest authenticated call) before it is saved, unless `--no-check`. The apps are
looked up only when `connect` is used, so `passerelle --help` does not import Prefect or the connectors.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from passerelle.cli.connect_iadvize_zendesk import connect_iadvize_zendesk
from passerelle.cli.safe_text import untrusted

if TYPE_CHECKING:
    from connectors._http.credentials import ConnectionCredentials
    from connectors.registry import App

console = Console()
RESERVED = ("name", "check")  # the command's own options


def block_name(name: str) -> str:
    """Option callback: refuse, before any prompt, a name Prefect would refuse for a Block."""
    from connectors._http.errors import block_name_problem

    problem = block_name_problem(name)
    if problem:
        raise typer.BadParameter(problem)
    return name


NameOpt = typer.Option("default", callback=block_name, help="block name = the connection's name (for the "
                       "Amilia sync: its link); lowercase letters, digits and dashes")


class ConnectGroup(TyperGroup):
    """`connect`: one sub-command per registered app, built when asked for."""

    def list_commands(self, ctx) -> list[str]:
        from connectors.registry import apps

        return sorted({*self.commands, *apps()})

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        from connectors.registry import apps

        app = apps().get(cmd_name)
        if app is None:
            return None
        command = typer.main.get_command(_app_typer(app))
        self.commands[cmd_name] = command
        return command


app = typer.Typer(help="Save an app's credentials as a Prefect Block (a connection; secrets stay in SecretStr "
                  "fields).", no_args_is_help=True, cls=ConnectGroup)
connections_app = typer.Typer(help="The saved connections of every app.", no_args_is_help=True)
app.command("iadvize-zendesk")(connect_iadvize_zendesk)  # an app install (one per iAdvize site), not a connection


# -- connect APP ---------------------------------------------------------------------------------------------

def _cli_type(annotation: Any) -> Any:
    """The type typer parses an option as (pydantic validates the value afterwards), or None if unsupported."""
    from pydantic import SecretStr

    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:  # Optional[X]
        inner = _cli_type(next(a for a in args if a is not type(None)))
        return inner and (inner | None)
    if annotation is SecretStr or origin is Literal:
        return str
    return annotation if annotation in (str, int, float, bool) else None


def _option(app: App, field: str, info: Any, secret: bool) -> Any:
    required = info.is_required()
    help_text = (info.description or field).rstrip(".")
    if typing.get_origin(info.annotation) is Literal:
        help_text += f" ({' or '.join(map(str, typing.get_args(info.annotation)))})"
    if secret:
        env = app.env_var(field)
        return typer.Option(... if required else info.default, prompt=required, hide_input=True, envvar=env,
                            help=f"{help_text} (prompted; or {env})", show_envvar=False)
    return typer.Option(... if required else info.default, help=help_text)


def _app_typer(app: App) -> typer.Typer:
    """A one-command typer whose options are the app's Block fields."""
    cls = app.credentials_class()
    secrets = set(cls.secret_field_names())
    params = [inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=NameOpt, annotation=str)]
    for field, info in cls.model_fields.items():
        kind = _cli_type(info.annotation)
        if field in RESERVED or (kind is None and info.is_required()):
            raise TypeError(f"{cls.__name__}.{field} cannot be set from the command line")
        if kind is not None:
            params.append(inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, annotation=kind,
                                            default=_option(app, field, info, field in secrets)))
    params.append(inspect.Parameter("check", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        True, help="validate with the app's test call before saving")))

    def connect(name: str, check: bool, **fields: Any) -> None:
        _save(_build(cls, **{k: v for k, v in fields.items() if v is not None}), name, check)

    connect.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    connect.__annotations__ = {p.name: p.annotation for p in params}
    test_line = (inspect.getdoc(cls.test) or "").splitlines()[0].rstrip(".").replace("``", "`")
    single = typer.Typer(add_completion=False)
    single.command(app.name, help=f"Save {cls.get_block_type_name()}, checked first: {test_line}.")(connect)
    return single


def _build(model: type[ConnectionCredentials], **fields: Any) -> ConnectionCredentials:
    """The Block, or one line naming the option whose value it refuses (never echoing the value)."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        raise typer.BadParameter(error["msg"], param_hint=f"--{field.replace('_', '-')}" if field else None) \
            from None


def _save(block: ConnectionCredentials, name: str, check: bool) -> None:
    from connectors._http.errors import ApiError

    block._block_document_name = name  # so hints name the block: 'amilia-credentials/<name>'
    if check:
        try:
            verdict = asyncio.run(block.test())
        except ApiError as exc:
            console.print(Text.assemble(("not saved", "red"), ": ", untrusted(str(exc))), soft_wrap=True,
                          highlight=False)
            raise typer.Exit(1) from None
        console.print(untrusted(verdict), highlight=False)
    block.save(name, overwrite=True)
    console.print(Text.assemble(f"saved {type(block).__name__} block ", untrusted(repr(name))))


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
    for outcome in await asyncio.gather(*(block.test() for block in blocks), return_exceptions=True):
        if isinstance(outcome, BaseException):  # Amilia's first when both fail: the same line every time
            raise outcome


# -- connections list ----------------------------------------------------------------------------------------

def shown_url(url: Any) -> str:
    """A base URL as printed: without user info or query string (where a careless URL keeps a secret)."""
    import httpx

    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "(not a URL)"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


async def saved_connections(app_names: list[str], check: bool) -> list[tuple[str, str, str, str | None]]:
    """``(app, name, base_url, verdict)`` of every saved connection of these apps; the verdict of the app's
    ``test()`` (or the error it raised) with ``check``, else None."""
    import httpx
    from prefect.client.orchestration import get_client

    from connectors._http.errors import ApiError
    from connectors.registry import get_app

    found: list[tuple[str, str, str]] = []
    async with get_client() as client:
        for app_name in app_names:
            slug = get_app(app_name).credentials_class().get_block_type_slug()
            try:  # the server answers every document of the type at once (it takes no offset or limit)
                documents = await client.read_block_documents_by_type(slug, include_secrets=False)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 404:  # 404: the type was never registered, so nothing saved
                    raise
                documents = []
            found += [(app_name, d.name, shown_url(d.data.get("base_url")))
                      for d in sorted(documents, key=lambda d: d.name or "") if not d.is_anonymous and d.name]

    async def verdict(app_name: str, name: str) -> str:
        try:
            block = await get_app(app_name).credentials_class().aload(name)
        except Exception as exc:  # noqa: BLE001 - its text may quote a stored secret: name the kind only
            return (f"no: the saved Block does not load ({type(exc).__name__}); save it again with "
                    f"`passerelle connect {app_name} --name {name}`")
        try:
            return f"yes: {await block.test()}"
        except ApiError as exc:
            return f"no: {exc}"

    verdicts = (await asyncio.gather(*(verdict(a, n) for a, n, _ in found)) if check
                else [None] * len(found))
    return [(a, n, url, v) for (a, n, url), v in zip(found, verdicts, strict=True)]


def _app_filter(value: str | None) -> str | None:
    from connectors.registry import apps

    if value is not None and value not in apps():
        raise typer.BadParameter(f"no app named {value!r}: use one of {', '.join(apps())}")
    return value


@connections_app.command("list")
def list_connections(
    app_name: str = typer.Option(None, "--app", callback=_app_filter, help="only this app's connections"),
    check: bool = typer.Option(False, "--check", help="ask each vendor whether it accepts the credentials "
                               "(its cheapest authenticated call)"),
) -> None:
    """List saved connections: app, name and base URL (never a secret); `--check` asks each vendor."""
    from connectors.registry import apps

    names = [app_name] if app_name else list(apps())
    rows = asyncio.run(saved_connections(names, check))
    if not rows:
        console.print(f"no connections: create one with `passerelle connect APP --name NAME` (APP: "
                      f"{', '.join(names)})", markup=False, highlight=False)
        return
    table = Table("app", "name", "base_url", *(["vendor answers"] if check else []))
    for app_, name, url, verdict in rows:
        cells = [untrusted(app_), untrusted(name), untrusted(url)]
        if check:
            cells.append(untrusted(verdict, style="green" if (verdict or "").startswith("yes") else "red"))
        table.add_row(*cells)
    console.print(table)
