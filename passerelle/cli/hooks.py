"""`passerelle hooks add|secret|list|remove`: the receiving URLs given to vendors, one secret token each, and
the signing secrets of the vendors that sign their calls.

The token is printed once, to this terminal only: the store keeps its SHA-256, never the token, and
nothing logs it. Lose it and run `hooks add` again: that rotates the token (the old URL stops working).

A signed source (iAdvize, Zendesk, Slack, Twilio) also needs the link's signing secret, the one the vendor
signs with: `hooks secret SOURCE --link L --secret-env VAR` (or `hooks add … --secret-env VAR`) saves it as
the Prefect Secret block `hook-<source>-<link>` (a SecretStr, shown masked in Prefect's UI), never in the
store; the gateway reads it from Prefect (docs/webhooks-signed.md, "Signed sources").
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from passerelle.cli.safe_text import untrusted

app = typer.Typer(help="Webhook URLs given to vendors (one secret token per source and link), and the signing "
                       "secrets of vendors that sign their calls.", no_args_is_help=True)
console = Console()

SecretEnvOpt = typer.Option(None, "--secret-env", metavar="VAR",
                            help="environment variable holding the vendor's signing secret (signed sources)")
PromptOpt = typer.Option(False, "--secret", help="prompt for the vendor's signing secret (hidden input)")


def receiver_url(base_url: str, source: str, link: str, token: str, token_in_path: bool = False,
                 subpath: str | None = None) -> str:
    if token_in_path:  # the sender appends its own `?…` (Oxiva): the token cannot be a query parameter
        return f"{base_url.rstrip('/')}/hooks/{source}/{link}/{token}/"
    return f"{base_url.rstrip('/')}/hooks/{source}/{link}{f'/{subpath}' if subpath else ''}?token={token}"


def _sources() -> dict:
    from passerelle.gateway.sources import default_sources

    return {s.name: s for s in default_sources()}


def _source(name: str):
    known = _sources()
    if name not in known:
        raise typer.BadParameter(f"unknown source {name!r}; known: {', '.join(sorted(known))}", param_hint="SOURCE")
    return known[name]


def _secret_value(source, secret_env: str | None, prompt: bool, required: bool) -> str | None:
    """The signing secret asked for (from the environment or a hidden prompt), or None when none was."""
    if secret_env is None and not prompt:
        if required:
            raise typer.BadParameter("give the signing secret with --secret-env VAR or --secret (prompted)",
                                     param_hint="--secret-env")
        return None
    if not source.signed:
        raise typer.BadParameter(f"the {source.name} source checks no signature: it has no signing secret",
                                 param_hint="--secret-env" if secret_env else "--secret")
    if secret_env is not None:
        value = os.environ.get(secret_env, "")
        if not value.strip():
            raise typer.BadParameter(f"the environment variable {secret_env} is not set or empty; export the "
                                     f"vendor's signing secret in it", param_hint="--secret-env")
    else:
        value = typer.prompt(f"{source.name.capitalize()} signing secret", hide_input=True)
    if value != value.strip():
        raise typer.BadParameter("the signing secret starts or ends with spaces; give it as the vendor shows it",
                                 param_hint="--secret-env" if secret_env else "--secret")
    return value


def _save_secret(source: str, link: str, value: str) -> str:
    from prefect.blocks.system import Secret

    from passerelle.gateway.secrets import secret_block_name

    name = secret_block_name(source, link)
    Secret(value=value).save(name, overwrite=True)
    return name


@app.command("add")
def add(
    source: str = typer.Argument(..., help="source plug-in, e.g. amilia"),
    link: str = typer.Option("default", help="link name (the name of the link's credential Blocks)"),
    base_url: str | None = typer.Option(None, help="public base URL of the gateway, as the vendor reaches it "
                                        "[default: PASSERELLE_GATEWAY_PUBLIC_URL or http://127.0.0.1:8000]"),
    secret_env: str | None = SecretEnvOpt,
    secret: bool = PromptOpt,
) -> None:
    """Create the link's receiving URL, or rotate its token, and print the URL to paste into the vendor."""
    from passerelle.gateway.settings import GatewaySettings
    from passerelle.store.links import check_link_name, create_link, list_links

    plugin = _source(source)
    try:
        check_link_name(link)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--link") from None
    value = _secret_value(plugin, secret_env, secret, required=False)
    if value is not None:  # before the token: a Prefect that cannot save it leaves the old URL working
        block = _save_secret(source, link, value)
        console.print(f"saved the signing secret in the Prefect Secret block {escape(repr(block))}")
    existed = any(row.link == link for row in list_links(source))
    token = create_link(source, link)
    url = receiver_url(base_url or GatewaySettings().public_url, source, link, token, plugin.token_in_path)
    where = ("the sender's webhook settings (it may append its own ?…)" if plugin.token_in_path
             else f"{source.capitalize()}'s webhook subscription")
    console.print(f"{'Rotated' if existed else 'Created'} the {source} link {escape(repr(link))}"
                  f"{' (the previous URL no longer works)' if existed else ''}. Paste this URL into "
                  f"{where}; it is shown only now:")
    console.print(url, markup=False, highlight=False, soft_wrap=True)
    for subpath in getattr(plugin, "subpaths", None) or {}:  # iAdvize: the escalations, same token and secret
        console.print(f"and, for its {subpath}:")
        console.print(receiver_url(base_url or GatewaySettings().public_url, source, link, token, subpath=subpath),
                      markup=False, highlight=False, soft_wrap=True)
    if plugin.signed and value is None:
        console.print(f"{source.capitalize()} signs its calls: until `passerelle hooks secret {source} --link "
                      f"{escape(link)} --secret-env VAR` sets the signing secret, its calls are answered 503.",
                      style="yellow", highlight=False)


@app.command("secret")
def set_secret(
    source: str = typer.Argument(..., help="a source that checks signatures"),
    link: str = typer.Option("default", help="link name"),
    secret_env: str | None = SecretEnvOpt,
    secret: bool = PromptOpt,
) -> None:
    """Set (or rotate) a link's signing secret, the one the vendor signs its calls with; the URL stays."""
    from passerelle.store.links import list_links

    plugin = _source(source)
    if not plugin.signed:
        raise typer.BadParameter(f"the {source} source checks no signature: it has no signing secret",
                                 param_hint="SOURCE")
    if not any(row.link == link for row in list_links(source)):
        raise typer.BadParameter(f"no {source} link {link!r}: create it with `passerelle hooks add {source} "
                                 f"--link {link}`", param_hint="--link")
    value = _secret_value(plugin, secret_env, secret or secret_env is None, required=True)
    name = _save_secret(source, link, value)
    console.print(f"saved the {source} link {escape(repr(link))}'s signing secret in the Prefect Secret block "
                  f"{escape(repr(name))}; a running gateway uses it at the next call")


@app.command("list")
def list_(source: str | None = typer.Option(None, help="only this source")) -> None:
    """The links that can receive webhooks (tokens are never shown again)."""
    from passerelle.gateway.secrets import secret_block_name
    from passerelle.store.links import list_links

    plugins = _sources()
    table = Table(title="Webhook links", title_justify="left")
    for column in ("source", "link", "receiver path", "signing secret", "created"):
        table.add_column(column)
    for row in list_links(source):  # names read back from the store: printed as text, never as markup
        plugin = plugins.get(row.source)
        path = f"/hooks/{row.source}/{row.link}/…/" if plugin is not None and plugin.token_in_path \
            else f"/hooks/{row.source}/{row.link}?token=…"
        block = f"Secret block {secret_block_name(row.source, row.link)}" if plugin is not None and plugin.signed \
            else "—"
        table.add_row(untrusted(row.source), untrusted(row.link), untrusted(path), untrusted(block),
                      f"{row.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("remove")
def remove(source: str = typer.Argument(..., help="source plug-in, e.g. amilia"),
           link: str = typer.Option("default", help="link name")) -> None:
    """Delete a link: its URL stops working (within a few seconds on a running gateway), and a signed
    source's signing secret is deleted from Prefect."""
    from passerelle.store.links import delete_link

    if not delete_link(source, link):
        console.print(untrusted(f"no {source} link {link!r}", style="yellow"))
        raise typer.Exit(1)
    console.print(untrusted(f"removed the {source} link {link!r}"))
    plugin = _sources().get(source)
    if plugin is not None and plugin.signed:
        _delete_secret(source, link)


def _delete_secret(source: str, link: str) -> None:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    from passerelle.gateway.secrets import secret_block_name

    name = secret_block_name(source, link)
    try:
        Secret.delete(name)
    except (ObjectNotFound, ValueError):  # never set (Prefect says "Unable to find block document named …")
        return
    console.print(untrusted(f"deleted its signing secret (Prefect Secret block {name!r})"))
