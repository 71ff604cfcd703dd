"""`passerelle zaps enable|disable`: the flag lives in the store (the YAML is not touched), a disabled zap's calls
are held, and enabling it puts them back in the inbox for the next drain."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from passerelle.cli.main import app
from passerelle.engine import DrainOptions, drain
from passerelle.settings import reset_settings_cache
from passerelle.store.inbox import list_events
from passerelle.zaps.runner import ZapHandler, load_folder
from passerelle.zaps.runs import list_runs, zap_flags
from tests.zaps.runner_support import catch_calls

ZAP = {"id": "ping", "name": "Ping", "enabled": True, "trigger": {"app": "catch", "event": "hook"},
       "steps": [{"id": "up", "type": "format", "kind": "text", "transform": "upper",
                  "input": "{{ trigger.query.x }}"}]}
cli = CliRunner()


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    reset_settings_cache()
    (tmp_path / "zaps").mkdir()
    (tmp_path / "zaps" / "ping.yaml").write_text(yaml.safe_dump(ZAP))
    yield tmp_path / "zaps"
    reset_settings_cache()


async def test_disable_holds_calls_and_enable_sends_them_back_to_the_inbox(folder):
    before = (folder / "ping.yaml").read_text()
    result = cli.invoke(app, ["zaps", "disable", "ping"])
    assert result.exit_code == 0, result.output
    assert zap_flags() == {"ping": False} and (folder / "ping.yaml").read_text() == before

    catch_calls("ping", [{"method": "GET", "query": {"x": "a"}}])  # the hook is the zap's id by default
    zaps, problems = load_folder()
    assert problems == []
    await drain(ZapHandler(zaps), "ping", "w", DrainOptions(linger=0.1, poll=0.05))
    assert [r.status for r in list_runs(zap="ping")] == ["held"]
    assert [e.status for e in list_events(source="catch", link="ping")] == ["done"]

    result = cli.invoke(app, ["zaps", "enable", "ping"])
    assert result.exit_code == 0, result.output
    assert "ping: enabled" in result.output and "1 call(s) held" in result.output
    assert [e.status for e in list_events(source="catch", link="ping")] == ["pending"]
    await drain(ZapHandler(zaps), "ping", "w", DrainOptions(linger=0.1, poll=0.05))
    assert [r.status for r in list_runs(zap="ping")] == ["ok"]


def test_enable_names_a_zap_that_does_not_exist():
    result = cli.invoke(app, ["zaps", "enable", "nope"])
    assert result.exit_code != 0 and "no zap with id 'nope'" in result.output
