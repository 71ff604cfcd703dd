"""Known errors become one or two lines naming the thing and the fix; unknown ones keep their traceback."""

from __future__ import annotations

import logging
import socket
import sys

import pytest
import typer
from typer.testing import CliRunner

from connectors._http.errors import ApiError, LinkNotFound, TransportError, block_name_problem
from passerelle.cli.errors import HandledGroup, _KnownErrorFormatter, message_for, root_options
from passerelle.cli.main import app
from passerelle.settings import reset_settings_cache
from sandbox.server import SandboxServer, free_port
from tests.cli.support import assert_short

PASSWORD = "s3cret-pw"


# -- the store ------------------------------------------------------------------------------------------

@pytest.fixture
def dead_postgres(monkeypatch, closed_port) -> int:
    monkeypatch.setenv("PASSERELLE_DATABASE_URL", f"postgresql://x:{PASSWORD}@127.0.0.1:{closed_port}/db")
    reset_settings_cache()
    return closed_port


def test_unreachable_postgres_store_is_one_line_without_password(runner, dead_postgres) -> None:
    result = runner.invoke(app, ["inbox", "list"])
    text = assert_short(result, "PASSERELLE_DATABASE_URL", f"127.0.0.1:{dead_postgres}", "Start PostgreSQL")
    assert PASSWORD not in result.output and len(text.splitlines()) == 1


def test_debug_keeps_the_traceback(runner, dead_postgres, monkeypatch) -> None:
    from passerelle.store.engine import StoreUnavailable

    assert isinstance(runner.invoke(app, ["--debug", "inbox", "stats"]).exception, StoreUnavailable)
    monkeypatch.setenv("PASSERELLE_DEBUG", "1")
    assert isinstance(runner.invoke(app, ["inbox", "stats"]).exception, StoreUnavailable)


def test_gateway_with_unreachable_store_fails_before_serving(runner, dead_postgres) -> None:
    result = runner.invoke(app, ["gateway", "serve", "--port", str(free_port())])
    assert_short(result, "PASSERELLE_DATABASE_URL", f"127.0.0.1:{dead_postgres}")


# -- ports ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["99999", "0"])
def test_gateway_port_out_of_range_is_refused_by_the_option(runner, port) -> None:
    result = runner.invoke(app, ["gateway", "serve", "--port", port])
    assert_short(result, "--port", "65535" if port != "0" else "1", exit_code=2)


@pytest.mark.parametrize("command", ["gateway", "sandbox"])
def test_port_in_use_is_one_line(runner, command) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, [command, "serve", "--port", str(port)])
    assert_short(result, f"127.0.0.1:{port}", "in use", "choose another --port")


# -- inbox purge ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["99999999w", "99999999999999999999w"])
def test_purge_refuses_durations_out_of_range(runner, value) -> None:
    result = runner.invoke(app, ["inbox", "purge", "--older-than", value])
    assert_short(result, "--older-than", "at most 36500d", exit_code=2)


# -- the sandbox ----------------------------------------------------------------------------------------

def test_seed_into_a_stopped_sandbox_is_one_line(runner, closed_port) -> None:
    result = runner.invoke(app, ["sandbox", "seed", "--persons", "5", "--url", f"http://127.0.0.1:{closed_port}"])
    assert_short(result, f"http://127.0.0.1:{closed_port}", "passerelle sandbox serve", "--url")


def test_fire_at_a_stopped_sandbox_is_one_line(runner, closed_port) -> None:
    result = runner.invoke(app, ["sandbox", "fire", "--url", "http://127.0.0.1:1/hooks", "--events", "[]",
                                 "--sandbox", f"http://127.0.0.1:{closed_port}"])
    assert_short(result, f"http://127.0.0.1:{closed_port}", "--sandbox")


# -- connect --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "My-Club", "a_b", "club/x"])
def test_connect_refuses_bad_block_names_before_the_password_prompt(runner, name) -> None:
    result = runner.invoke(app, ["connect", "amilia", "--name", name, "--username", "a", "--organization", "1"])
    assert_short(result, "--name", "lowercase letters, digits and dashes", exit_code=2)
    assert "Password" not in result.output


def test_connect_refuses_invalid_fields_naming_the_option(runner) -> None:
    result = runner.invoke(app, ["connect", "amilia", "--name", "club", "--username", "a", "--organization", "1",
                                 "--password", PASSWORD, "--language", "de"])
    assert_short(result, "--language", "'en' or 'fr'", exit_code=2)
    assert PASSWORD not in result.output


def test_connect_hint_names_the_real_block(runner, monkeypatch) -> None:
    with SandboxServer() as sandbox:
        result = runner.invoke(app, ["connect", "amilia", "--name", "my-club", "--username", "demo@passerelle.dev",
                                     "--organization", "8008", "--password", "wrong-password",
                                     "--base-url", sandbox.amilia_url])
    text = assert_short(result, "not saved", "'amilia-credentials/my-club'")
    assert "<name>" not in text and "wrong-password" not in result.output


def test_connect_to_an_unreachable_vendor_is_one_line(runner, closed_port) -> None:
    result = runner.invoke(app, ["connect", "cyberimpact", "--name", "x", "--api-token", PASSWORD,
                                 "--base-url", f"http://127.0.0.1:{closed_port}/cyberimpact"])
    assert_short(result, "Cyberimpact could not be reached", f"http://127.0.0.1:{closed_port}/cyberimpact")
    assert PASSWORD not in result.output


def test_block_names_follow_prefect() -> None:
    from prefect.types.names import BlockDocumentName
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(BlockDocumentName)
    for name in ("default", "my-club-2", "../x", "Club", "a b", "a_b", "", "x/y", "é"):
        try:
            adapter.validate_python(name)
            prefect_ok = True
        except ValidationError:
            prefect_ok = False
        assert (block_name_problem(name) is None) == prefect_ok, name


# -- the handler ----------------------------------------------------------------------------------------

def _app_raising(exc: BaseException) -> typer.Typer:
    demo = typer.Typer(cls=HandledGroup)
    demo.callback()(root_options)

    @demo.command()
    def boom() -> None:
        raise exc

    return demo


def test_outside_text_is_escaped(runner) -> None:
    result = CliRunner().invoke(_app_raising(ApiError(vendor="Amilia", status=400, method="GET", path="/x",
                                                      message="[bold red]boom[/] [link=x]")), ["boom"])
    assert_short(result, "[bold red]boom[/] [link=x]")


def test_unknown_errors_keep_their_traceback(runner) -> None:
    result = CliRunner().invoke(_app_raising(KeyError("bug")), ["boom"])
    assert isinstance(result.exception, KeyError)
    assert message_for(KeyError("bug")) is None and message_for(OSError("disk")) is None


def test_known_errors_are_recognised() -> None:
    assert message_for(LinkNotFound("nope")).startswith("no link named 'nope'")
    assert "could not be reached" in message_for(TransportError(vendor="Amilia", attempts=2))
    from pydantic import BaseModel, SecretStr

    class Creds(BaseModel):
        token: SecretStr
        size: int

    slow = message_for(RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server."))
    assert "passerelle up" in slow and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in slow
    assert message_for(RuntimeError("other")) is None

    with pytest.raises(Exception) as info:
        Creds(token=PASSWORD, size="big")
    text = message_for(info.value)
    assert text == "invalid Creds: size: Input should be a valid integer, unable to parse string as an integer"


def test_prefect_console_lines_drop_known_tracebacks() -> None:
    formatter = _KnownErrorFormatter(logging.Formatter("%(message)s"))

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            return logging.LogRecord("prefect", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    known = record(TransportError(vendor="Amilia", attempts=6))
    assert formatter.format(known) == "failed" and known.exc_info is not None  # the API handler keeps it
    assert "Traceback" in formatter.format(record(KeyError("bug")))


def test_unreachable_prefect_api_names_the_setting(monkeypatch) -> None:
    import httpx

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    request = httpx.Request("GET", "http://127.0.0.1:4200/api/block_types/slug/x?token=abc")
    text = message_for(httpx.ConnectError("Connection refused", request=request))
    assert text.startswith("the Prefect API at http://127.0.0.1:4200/api could not be reached")
    assert "passerelle up" in text and "PREFECT_API_URL" in text
    other = message_for(httpx.ConnectError("refused", request=httpx.Request("GET", "http://h:1/p?token=abc")))
    assert other.startswith("could not reach http://h:1/p ") and "abc" not in other


def test_a_prefect_api_refusing_us_names_the_auth_setting(monkeypatch) -> None:
    """A stack started with `passerelle up --auth` answers 401 to a client without its string: one line."""
    import httpx

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:wrong-secret")
    request = httpx.Request("POST", "http://127.0.0.1:4200/api/block_documents/filter")
    refused = httpx.HTTPStatusError("401", request=request, response=httpx.Response(401, request=request))
    text = message_for(refused)
    assert "refused a wrong PREFECT_API_AUTH_STRING (401)" in text and "wrong-secret" not in text
    vendor = httpx.Request("GET", "http://vendor.example/api")
    assert message_for(httpx.HTTPStatusError("401", request=vendor, response=httpx.Response(401))) is None


def test_outside_text_in_names_is_not_markup(runner) -> None:
    result = runner.invoke(app, ["hooks", "remove", "amilia", "--link", "[/x]"])
    assert result.exit_code == 1 and "no amilia link '[/x]'" in result.output, result.output
