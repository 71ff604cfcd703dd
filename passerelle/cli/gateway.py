"""`passerelle gateway serve`: the webhook gateway (docs/webhooks.md)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The webhook gateway: vendor webhooks into the durable inbox (docs/webhooks.md).",
                  no_args_is_help=True)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 behind a proxy)"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    access_log: bool = typer.Option(False, "--access-log", help="log every call (tokens are masked)"),
    log_level: str = typer.Option("info", help="debug, info, warning or error"),
    processes: int = typer.Option(None, min=1, max=64, help="gateway processes on the one port (default "
                                  "PASSERELLE_GATEWAY_PROCESSES, else 1); each uses up to a core"),
) -> None:
    """Serve every receiver until interrupted. Store: PASSERELLE_DATABASE_URL or the SQLite file under
    PASSERELLE_HOME; limits and nudges: PASSERELLE_GATEWAY_* (docs/webhooks.md)."""
    from passerelle.cli.errors import ensure_can_listen
    from passerelle.gateway.server import serve as run
    from passerelle.store.engine import get_engine

    ensure_can_listen(host, port)  # in use or not ours: one line, before uvicorn starts
    get_engine()  # the store unreachable: one line too (StoreUnavailable), not a failed startup's traceback
    typer.echo(f"Gateway on http://{host}:{port} — receivers under /hooks/<source>/<link>, OpenAPI at /docs")
    code = run(host=host, port=port, access_log=access_log, log_level=log_level, processes=processes)
    if code:
        raise typer.Exit(code)
