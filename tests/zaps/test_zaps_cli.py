"""`passerelle zaps validate|test`: one line per zap, exit 1 on any problem, outside text escaped, nothing called."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from passerelle.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    zaps = tmp_path / "zaps"
    zaps.mkdir()
    shutil.copy(ROOT / "zaps" / "oxiva-to-sheets.yaml", zaps)
    return zaps


def test_validate_the_default_folder_ok(folder: Path) -> None:
    result = runner.invoke(app, ["zaps", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output == "ok  zaps/oxiva-to-sheets.yaml  oxiva-to-sheets\n"


def test_validate_the_repository_examples() -> None:
    result = runner.invoke(app, ["zaps", "validate", str(ROOT / "zaps")])
    assert result.exit_code == 0, result.output
    assert "okast-renewal" in result.output and "oxiva-to-sheets" in result.output


def test_validate_reports_each_problem_and_exits_1(folder: Path) -> None:
    (folder / "bad.yaml").write_text("id: bad\nname: Bad\ntrigger: {app: catch, event: hook}\nsteps:\n"
                                     "  - {id: a, type: action, action: http.request, inputs: {method: GET}}\n"
                                     "  - {id: b, type: delay, for: \"{{ steps.c.x }}\"}\n", encoding="utf-8")
    result = runner.invoke(app, ["zaps", "validate", "zaps"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "zaps/bad.yaml: steps[0].inputs.url: field required",
        "zaps/bad.yaml: steps[1].for: no step 'c' in this zap",
        "ok  zaps/oxiva-to-sheets.yaml  oxiva-to-sheets",
        "1 of 2 zap file(s) have problems",
    ]


def test_validate_escapes_outside_text(folder: Path) -> None:
    (folder / "evil.yaml").write_text('id: evil\nname: E\ntrigger: {app: catch, event: hook}\nsteps:\n'
                                      '  - {id: a, type: "\\e]0;owned\\a[red]x[/red]"}\n', encoding="utf-8")
    result = runner.invoke(app, ["zaps", "validate", "zaps/evil.yaml"])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert result.output.splitlines()[0] == ("zaps/evil.yaml: steps[0].type: unknown step type "
                                             "'\\x1b]0;owned\\x07[red]x[/red]' (one of action, filter, paths, "
                                             "format, delay)")


def test_validate_missing_path(folder: Path) -> None:
    result = runner.invoke(app, ["zaps", "validate", "nowhere"])
    assert result.exit_code == 2 and "nowhere does not exist" in result.output


def test_test_with_an_event_file_renders_and_calls_nothing(folder: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"method": "GET", "query": {"id": "11", "ccom_id": "52"}}), encoding="utf-8")
    result = runner.invoke(app, ["zaps", "test", "oxiva-to-sheets", "--event", str(event)])
    assert result.exit_code == 0, result.output
    body, last = result.output.rsplit("\n}\n", 1)
    rendered = json.loads(body + "\n}")
    assert rendered["status"] == "ok" and rendered["steps"][1]["chosen"] == ["activity"]
    assert rendered["steps"][2]["inputs"]["values"][1:3] == ["11", "52"]
    assert last == "oxiva-to-sheets: ok (nothing was called)\n"


def test_test_with_the_trigger_sample(folder: Path) -> None:
    result = runner.invoke(app, ["zaps", "test", "zaps/oxiva-to-sheets.yaml", "--sample"])
    assert result.exit_code == 0, result.output
    assert '"chosen": [\n        "ticket"' in result.output  # the catch hook's sample carries a sticket_id


def test_test_a_failing_render_exits_1(folder: Path, tmp_path: Path) -> None:
    (folder / "typed.yaml").write_text("id: typed\nname: T\ntrigger: {app: catch, event: hook}\nsteps:\n"
                                       "  - {id: a, type: action, action: http.request, inputs: {url: "
                                       "'https://example.com/', timeout: '{{ trigger.json.t }}'}}\n", encoding="utf-8")
    event = tmp_path / "e.json"
    event.write_text('{"json": {"t": "soon"}}', encoding="utf-8")
    result = runner.invoke(app, ["zaps", "test", "typed", "--event", str(event)])
    assert result.exit_code == 1
    assert ("steps[0].inputs.timeout: Input should be a valid number, unable to parse string as a number"
            in result.output)
    assert result.output.endswith("typed: failed (nothing was called)\n")


@pytest.mark.parametrize(("args", "message"), [
    (["nope", "--sample"], "no zap with id 'nope' in zaps/"),
    (["oxiva-to-sheets"], "give exactly one of --event FILE"),
])
def test_test_bad_arguments(folder: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["zaps", "test", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
