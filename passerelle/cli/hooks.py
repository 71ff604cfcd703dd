"""`passerelle hooks add|list|remove`: the receiving URLs given to vendors, one secret token each.

The token is printed once, to this terminal only: the store keeps its SHA-256, never the token, and
nothing logs it. Lose it and run `hooks add` again: that rotates the token (the old URL stops working).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from passerelle.cli.safe_text import untrusted

app = typer.Typer(help="Webhook URLs given to vendors (one secret token per source and link).",
                  no_args_is_help=True)
console = Console()


def receiver_url(base_url: str, source: str, link: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/hooks/{source}/{link}?token={token}"


@app.command("add")
def add(
    source: str = typer.Argument(..., help="source plug-in, e.g. amilia"),
    link: str = typer.Option("default", help="link name (the name of the link's credential Blocks)"),
    base_url: str | None = typer.Option(None, help="public base URL of the gateway, as the vendor reaches it "
                                        "[default: PASSERELLE_GATEWAY_PUBLIC_URL or http://127.0.0.1:8000]"),
) -> None:
    """Create the link's receiving URL, or rotate its token, and print the URL to paste into the vendor."""
    from passerelle.gateway.settings import GatewaySettings
    from passerelle.gateway.sources import default_sources
    from passerelle.store.links import create_link, list_links

    known = {s.name for s in default_sources()}
    if source not in known:
        raise typer.BadParameter(f"unknown source {source!r}; known: {', '.join(sorted(known))}",
                                 param_hint="SOURCE")
    existed = any(row.link == link for row in list_links(source))
    try:
        token = create_link(source, link)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--link") from None
    url = receiver_url(base_url or GatewaySettings().public_url, source, link, token)
    console.print(f"{'Rotated' if existed else 'Created'} the {source} link {escape(repr(link))}"
                  f"{' (the previous URL no longer works)' if existed else ''}. Paste this URL into "
                  f"{source.capitalize()}'s webhook subscription; it is shown only now:")
    console.print(url, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_(source: str | None = typer.Option(None, help="only this source")) -> None:
    """The links that can receive webhooks (tokens are never shown again)."""
    from passerelle.store.links import list_links

    table = Table(title="Webhook links", title_justify="left")
    for column in ("source", "link", "receiver path", "created"):
        table.add_column(column)
    for row in list_links(source):  # names read back from the store: printed as text, never as markup
        table.add_row(untrusted(row.source), untrusted(row.link), untrusted(f"/hooks/{row.source}/{row.link}?token=…"),
                      f"{row.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@app.command("remove")
def remove(source: str = typer.Argument(..., help="source plug-in, e.g. amilia"),
           link: str = typer.Option("default", help="link name")) -> None:
    """Delete a link: its URL stops working (within a few seconds on a running gateway)."""
    from passerelle.store.links import delete_link

    if not delete_link(source, link):
        console.print(untrusted(f"no {source} link {link!r}", style="yellow"))
        raise typer.Exit(1)
    console.print(untrusted(f"removed the {source} link {link!r}"))
