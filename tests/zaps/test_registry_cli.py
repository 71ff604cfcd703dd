"""`passerelle apps list|show`: one line per app; an app's triggers and actions in detail; outside text escaped."""

from __future__ import annotations

from pydantic import BaseModel
from typer.testing import CliRunner

from passerelle.cli.main import app
from passerelle.zaps.registry import action, isolated, trigger

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def test_list_prints_every_app_with_its_triggers_and_actions_one_line_each():
    result = run("apps", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "catch  triggers: catch.hook  actions: -" in lines
    assert "http  triggers: http.poll  actions: http.request" in lines
    assert "schedule  triggers: schedule.cron, schedule.interval  actions: -" in lines


def test_show_gives_kind_dedupe_key_sample_and_the_input_and_output_fields():
    result = run("apps", "show", "http")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "trigger http.poll  (polling)" in out and "dedupe key: id" in out and '"id": 42' in out
    assert "action http.request" in out
    assert "idempotent: depends on the inputs (GET/HEAD/PUT/DELETE/OPTIONS are; POST and PATCH only with an " \
           "idempotency key header.)" in out
    input_part, output_part = out.split("  output:")
    assert "    url  str  required" in input_part
    assert "    method  Literal['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']  optional, default 'GET'" \
        in input_part
    assert "    idempotency_key_header  str | None  optional" in input_part
    assert "    status  int  required" in output_part and "    truncated  bool  optional" in output_part


def test_show_of_an_unknown_app_lists_the_known_ones():
    result = run("apps", "show", "htp")
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    known = text.split("unknown app 'htp'; known apps: ", 1)[1].split()
    assert {"catch", "http", "schedule"} <= {w.strip(",.") for w in known}  # and each connector's app


class In(BaseModel):
    to: str


class Out(BaseModel):
    sid: str


def test_text_from_an_app_module_is_printed_escaped():
    with isolated():
        trigger("evil", "new", title="New [bold]thing[/bold]", kind="webhook", sample={"x": "\x1b]0;pwned\x07"},
                description="Desc [link=https://evil.example]click[/link] \x1b[2J")

        @action("evil", "send", title="Send", idempotent=False, description="Sends [/bogus] SMS")
        async def send(inputs: In, connection=None) -> Out:
            return Out(sid="1")

        result = run("apps", "show", "evil")
        listing = run("apps", "list")
    assert result.exit_code == 0, result.output
    assert "New [bold]thing[/bold]" in result.output and "[link=https://evil.example]click[/link]" in result.output
    assert "Sends [/bogus] SMS" in result.output
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output
    assert "idempotent: no (never re-sent after an ambiguous failure)" in result.output
    assert "evil  triggers: evil.new  actions: evil.send" in listing.output
