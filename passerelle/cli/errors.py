"""Errors a person can act on: known failures become one red line naming the thing and the fix.

`HandledGroup` is the root command's class: when a command raises an error of a known kind (a vendor
API error, a missing link, an unreachable store, a port that cannot be listened on, invalid input, a
Prefect API that is unreachable or too slow to start), it prints :func:`message_for`'s line on stderr and
exits with 1. Anything else is a bug and keeps its traceback. `passerelle --debug …` or
``PASSERELLE_DEBUG=1`` keeps every traceback.

Example:
    $ passerelle sync amilia --link nope
    error: no link named 'nope': create it with `passerelle connect amilia --name nope` and ...
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import socket
import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

DEBUG_ENV = "PASSERELLE_DEBUG"
_debug = False


class CliError(Exception):
    """A failure whose message already names the thing and the fix: printed as it is."""


def debug_enabled() -> bool:
    return _debug or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def root_options(debug: bool = typer.Option(False, "--debug", envvar=DEBUG_ENV,
                                            help="show the full traceback of any error")) -> None:
    """Passerelle: integration pipelines on Prefect 3."""
    global _debug
    _debug = debug


class HandledGroup(TyperGroup):
    """The root group: known errors raised by any command become one line on stderr and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            text = None if debug_enabled() else message_for(exc)
            if text is None:
                raise
            report(text)
            raise typer.Exit(1) from None


def report(text: str) -> None:
    """Print an error line on stderr (`text` may hold outside text: it is escaped, never read as markup)."""
    from rich.text import Text

    from passerelle.cli.safe_text import untrusted

    Console(stderr=True).print(Text.assemble(("error: ", "bold red"), untrusted(text)), soft_wrap=True,
                               highlight=False)


def message_for(exc: BaseException) -> str | None:
    """The one-line message for a known kind of error, or None for anything else (a bug)."""
    from connectors._http.errors import ApiError, LinkNotFound

    if isinstance(exc, ApiError | LinkNotFound | CliError):
        return str(exc)
    store = _store_message(exc)
    if store:
        return store
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        return validation_message(exc)
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return _unreachable_message(exc)
    if httpx is not None and isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 401:
        return _refused_message(exc)
    if isinstance(exc, RuntimeError) and str(exc).startswith(_EPHEMERAL_TIMEOUT):
        waited = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20")
        return (f"Prefect's temporary server did not start within {waited} s: start the stack with "
                f"`passerelle up`, or allow more time with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120")
    return None


_EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"  # prefect 3.8


def _store_message(exc: BaseException) -> str | None:
    if "passerelle.store.engine" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError

    from passerelle.settings import get_settings
    from passerelle.store.engine import StoreUnavailable, describe_store_error

    if isinstance(exc, StoreUnavailable):
        return str(exc)
    if isinstance(exc, OperationalError):  # the database went away after the engine was created
        return describe_store_error(get_settings().store_url, exc)
    return None


def validation_message(exc) -> str:
    """A pydantic ValidationError as `Model: field: problem; …`, without the input values (secrets)."""
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)]
    return f"invalid {exc.title}: " + "; ".join(problems)


def _unreachable_message(exc) -> str:
    try:
        url = str(exc.request.url.copy_with(query=None))
    except RuntimeError:  # no request attached
        return f"a connection failed ({type(exc).__name__}: {exc})"
    api = os.environ.get("PREFECT_API_URL", "")
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if api and url.startswith(api.rstrip("/")):
        return (f"the Prefect API at {api} could not be reached ({reason}): start it with `passerelle up`, "
                f"or fix PREFECT_API_URL")
    return f"could not reach {url} ({reason}): check that it is running and the address is right"


def _refused_message(exc) -> str | None:
    """A 401 from the Prefect API: its server requires basic auth (PREFECT_SERVER_API_AUTH_STRING)."""
    api = os.environ.get("PREFECT_API_URL", "")
    if not api or not str(exc.request.url).startswith(api.rstrip("/")):
        return None
    given = "a wrong PREFECT_API_AUTH_STRING" if os.environ.get("PREFECT_API_AUTH_STRING") else "no credentials"
    return (f"the Prefect API at {api} refused {given} (401): set PREFECT_API_AUTH_STRING=user:password to the "
            f"server's PREFECT_SERVER_API_AUTH_STRING (a stack started with `passerelle up --auth` keeps it in "
            f"its stack.env)")


def ensure_can_listen(host: str, port: int, what: str = "--port") -> None:
    """Fail with one line before a server starts on an address it cannot bind (in use, not ours, < 1024).

    Raises:
        CliError: naming host:port, the reason and the fix.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fix = {errno.EADDRINUSE: f"stop what listens there or choose another {what}",
               errno.EACCES: f"ports below 1024 need privileges: choose another {what}",
               errno.EADDRNOTAVAIL: "this machine has no such address: fix --host"}.get(
            exc.errno, "fix --host (an address of this machine, or 0.0.0.0)")
        raise CliError(f"cannot listen on {host}:{port} ({reason}): {fix}") from exc


def quiet_prefect_tracebacks() -> None:
    """Keep Prefect's console log lines (task and flow failures) but drop their tracebacks when the error is
    of a known kind; the run's logs in the Prefect UI keep them. Does nothing under --debug."""
    if debug_enabled():
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not isinstance(handler.formatter, _KnownErrorFormatter):
            handler.setFormatter(_KnownErrorFormatter(handler.formatter))


class _KnownErrorFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[1] is not None and message_for(record.exc_info[1]) is not None:
            record = copy.copy(record)
            record.exc_info, record.exc_text = None, None
        return self.inner.format(record)
