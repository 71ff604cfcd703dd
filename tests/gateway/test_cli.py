"""`passerelle hooks …` and `passerelle inbox …`."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from passerelle.cli.inbox import parse_duration
from passerelle.cli.main import app
from passerelle.settings import reset_settings_cache
from passerelle.store.inbox import DEAD, Delivery, claim_batch, mark_done, mark_failed, stats, store_deliveries
from passerelle.store.links import verify_token

runner = CliRunner()


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PASSERELLE_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()
    yield url
    reset_settings_cache()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_hooks_add_list_rotate_remove(store):
    out = run("hooks", "add", "amilia", "--link", "club", "--base-url", "https://hooks.example.org/")
    [url] = re.findall(r"https://hooks\.example\.org/hooks/amilia/club\?token=(\S+)", out)
    assert "Created" in out and verify_token("amilia", "club", url, url=store) is True
    listed = run("hooks", "list")
    assert "club" in listed and url not in listed
    rotated = run("hooks", "add", "amilia", "--link", "club")
    [new] = re.findall(r"http://127\.0\.0\.1:8000/hooks/amilia/club\?token=(\S+)", rotated)
    assert "Rotated" in rotated and new != url
    assert verify_token("amilia", "club", url, url=store) is False
    assert "removed" in run("hooks", "remove", "amilia", "--link", "club")
    assert verify_token("amilia", "club", new, url=store) is None
    assert runner.invoke(app, ["hooks", "remove", "amilia", "--link", "club"]).exit_code == 1
    assert runner.invoke(app, ["hooks", "add", "zapier"]).exit_code != 0
    assert runner.invoke(app, ["hooks", "add", "amilia", "--link", "a/b"]).exit_code != 0


def test_hooks_add_iadvize_prints_the_escalation_url_with_the_same_token(store):
    out = run("hooks", "add", "iadvize", "--link", "4242", "--base-url", "https://hooks.example.org")
    [token] = re.findall(r"https://hooks\.example\.org/hooks/iadvize/4242\?token=(\S+)", out)
    assert f"https://hooks.example.org/hooks/iadvize/4242/escalations?token={token}" in out.split()
    assert verify_token("iadvize", "4242", token, url=store) is True
    assert "/escalations" not in run("hooks", "add", "amilia", "--link", "club")


def test_inbox_stats_list_replay_purge(store):
    deliveries = [Delivery("amilia", "club", f"e{i}", "Person.Update", f"person:{i}", {"i": i}) for i in range(3)]
    store_deliveries(deliveries, url=store)
    claimed = claim_batch("amilia", "club", "w", url=store)
    mark_done([claimed[0].id], url=store)
    assert mark_failed(claimed[1].id, "HTTP 500 from Cyberimpact", max_attempts=1, url=store) == DEAD
    out = run("inbox", "stats", "--source", "amilia")
    assert re.search(r"dead\s+│\s+1", out) and re.search(r"total\s+│\s+3", out)
    listed = run("inbox", "list", "--status", "dead")
    assert "HTTP 500 from Cyberimpact" in listed and "person:1" in listed and "person:0" not in listed
    assert "1 dead event back to pending" in run("inbox", "replay", "--ids", str(claimed[1].id))
    assert stats(url=store)["dead"] == 0
    assert "purged 0" in run("inbox", "purge", "--older-than", "1d")
    assert "purged 1" in run("inbox", "purge", "--older-than", "0s")
    assert runner.invoke(app, ["inbox", "purge", "--older-than", "0s", "--status", "pending"]).exit_code != 0
    assert runner.invoke(app, ["inbox", "list", "--status", "nope"]).exit_code != 0


def test_durations():
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("2w") == timedelta(weeks=2)
