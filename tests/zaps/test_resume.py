"""Runs that go on later, without Prefect: a delay that outlives every process, auto-replay after errors that may
pass (on, off, giving up), a person's replay from the failed step, an unknown step replayed or marked done, a
cancelled delay. The local HTTP target is a real socket; the store is SQLite in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from passerelle.engine import DrainOptions, drain
from passerelle.store.inbox import list_events
from passerelle.zaps import execute
from passerelle.zaps.resume import RunRefused, cancel, mark_done, replay, wake_due
from passerelle.zaps.runner import FOLDER_ENV, ZapHandler
from passerelle.zaps.runs import get_run, list_runs
from tests.zaps.runner_support import Killed, catch_calls, die_after_sending, make_zap

QUICK = DrainOptions(batch_size=50, max_seconds=20, linger=0.1, poll=0.05)
HOOK = "renewals"


pytestmark = pytest.mark.usefixtures("zap_store")


async def drain_hook(*zaps):
    return await drain(ZapHandler(list(zaps), connect=None), HOOK, "test-worker", QUICK)


def only_run(zap_id: str):
    [run] = list_runs(zap=zap_id)
    return get_run(run.id)


def later(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) + timedelta(seconds=1)


def test_a_delay_goes_on_after_every_process_has_stopped_and_new_ones_started(tmp_path, target):
    """Each `passerelle zaps run` is a new process: the delay lives only in the store between them."""
    folder = tmp_path / "zaps"
    folder.mkdir()
    zap = {"id": "remind", "name": "Reminder", "trigger": {"app": "catch", "event": "hook", "options": {"hook": HOOK}},
           "steps": [{"id": "wait", "type": "delay", "for": "20s"},  # a process starts in 2-8 s on a busy machine
                     {"id": "send", "type": "action", "action": "http.request",
                      "inputs": {"method": "PUT", "url": f"{target.base}/reminders/{{{{ trigger.json.id }}}}",
                                 "body": {"email": "{{ trigger.json.email }}"}}}]}
    (folder / "remind.yaml").write_text(yaml.safe_dump(zap))
    catch_calls(HOOK, [{"method": "POST", "json": {"id": 7, "email": "lea@example.org"}}])
    env = {**os.environ, FOLDER_ENV: str(folder)}

    def passerelle(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "passerelle.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "1 delayed" in passerelle("zaps", "run", HOOK)
    run, steps = only_run("remind")
    assert run.status == "delayed" and target.requests == []
    assert "no hook has calls waiting" in passerelle("zaps", "run")  # not due yet: nothing is woken
    time.sleep(max(0.0, (later(run.resume_at) - datetime.now(UTC)).total_seconds()))
    out = passerelle("zaps", "run")  # a new process: wakes the run and drains its hook
    assert f"1 run(s) of hook {HOOK}" in out and "1 ok" in out
    assert [(r["method"], r["path"], r["body"]) for r in target.requests] == [
        ("PUT", "/reminders/7", {"email": "lea@example.org"})]
    run, steps = only_run("remind")
    assert run.status == "ok" and [(s.step_id, s.status) for s in steps] == [("wait", "ok"), ("send", "ok")]


async def test_auto_replay_follows_the_zaps_waits_then_leaves_the_run_failed_for_a_person(target):
    zap = make_zap("sync", [{"id": "put", "type": "action", "action": "http.request",
                             "inputs": {"method": "PUT", "url": f"{target.base}/flaky/100"}}], hook=HOOK)
    zap = zap.model_copy(update={"auto_replay": zap.auto_replay.model_copy(update={"after": ["1m", "10m"]})})
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    first, _ = only_run("sync")
    assert first.retriable and "attempt 2 of 3" in first.error
    assert abs(later(first.resume_at) - later(first.ended_at) - timedelta(minutes=1)) < timedelta(seconds=1)

    assert wake_due(later(first.resume_at)) == {("catch", HOOK): 1}
    await drain_hook(zap)
    second, _ = only_run("sync")
    assert second.attempts == 2 and "attempt 3 of 3" in second.error
    assert abs(later(second.resume_at) - later(second.ended_at) - timedelta(minutes=10)) < timedelta(seconds=1)

    assert wake_due(later(second.resume_at)) == {("catch", HOOK): 1}
    await drain_hook(zap)
    last, _ = only_run("sync")
    assert last.status == "failed" and not last.retriable and last.resume_at is None
    assert "auto-replay gave up after 3 attempts" in last.error and "passerelle runs replay" in last.error
    assert wake_due(datetime.now(UTC) + timedelta(days=365)) == {}  # nothing more by itself
    assert len(target.calls("/flaky/100")) == 3 * execute.RETRIES  # each attempt retried the idempotent PUT


async def test_a_zap_with_auto_replay_off_fails_for_good_on_the_first_error(target):
    zap = make_zap("once", [{"id": "put", "type": "action", "action": "http.request",
                             "inputs": {"method": "PUT", "url": f"{target.base}/status/503"}}], hook=HOOK)
    zap = zap.model_copy(update={"auto_replay": zap.auto_replay.model_copy(update={"enabled": False})})
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, _ = only_run("once")
    assert run.status == "failed" and not run.retriable and "auto-replay is off for this zap" in run.error
    assert [e.status for e in list_events(source="catch", link=HOOK)] == ["done"]


async def test_a_replay_goes_on_from_the_failed_step_reusing_what_was_done(target):
    """A 404 is not an error that may pass: the run fails for good. Once the target is fixed (here: the step's
    URL answers), a person replays it; the action done before is not sent again."""
    zap = make_zap("order", [
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{target.base}/contacts", "body": {"email": "a@example.org"}}},
        {"id": "tag", "type": "action", "action": "http.request",
         "inputs": {"method": "PUT", "url": f"{target.base}/status/{{{{ trigger.json.code }}}}"}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {"code": 404}}])
    await drain_hook(zap)
    run, steps = only_run("order")
    assert run.status == "failed" and not run.retriable
    assert [(s.step_id, s.status) for s in steps] == [("add", "ok"), ("tag", "failed")]

    fixed = zap.model_copy(deep=True)
    fixed.steps[1].inputs["url"] = f"{target.base}/tags"
    assert replay(run.id) == HOOK
    assert list_runs(zap="order")[0].status == "replay"
    await drain_hook(fixed)
    run, steps = only_run("order")
    assert run.status == "ok" and run.attempts == 2
    assert [(s.step_id, s.status) for s in steps] == [("add", "reused"), ("tag", "ok")]
    assert len(target.calls("/contacts")) == 1 and len(target.calls("/tags")) == 1



async def unknown_run(target, monkeypatch):
    zap = make_zap("signup", [
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{target.base}/contacts", "body": {"email": "lea@example.org"}}},
        {"id": "tag", "type": "action", "action": "http.request",
         "inputs": {"method": "PUT", "url": f"{target.base}/contacts/lea/tags"}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    real = die_after_sending(monkeypatch, "add")
    with pytest.raises(Killed):
        await drain_hook(zap)
    monkeypatch.setattr(execute, "ledger_record", real)
    await drain_hook(zap)
    run, _ = only_run("signup")
    assert run.status == "unknown" and len(target.calls("/contacts")) == 1
    return zap, run


async def test_an_unknown_step_replayed_is_sent_again_once(target, monkeypatch):
    zap, run = await unknown_run(target, monkeypatch)
    with pytest.raises(RunRefused, match="only a delayed run"):
        cancel(run.id)
    replay(run.id)
    await drain_hook(zap)
    await drain_hook(zap)
    run, steps = only_run("signup")
    assert run.status == "ok" and [(s.step_id, s.status) for s in steps] == [("add", "ok"), ("tag", "ok")]
    assert len(target.calls("/contacts")) == 2  # the person said the first did not arrive
    assert len(target.calls("/contacts/lea/tags")) == 1


async def test_an_unknown_step_marked_done_is_not_sent_again_and_the_run_goes_on_after_it(target, monkeypatch):
    zap, run = await unknown_run(target, monkeypatch)
    hook, steps_marked = mark_done(run.id, by="lea")
    assert (hook, steps_marked) == (HOOK, ["add"])
    with pytest.raises(RunRefused, match="only an unknown run"):
        mark_done(run.id)
    await drain_hook(zap)
    run, steps = only_run("signup")
    assert run.status == "ok"
    assert [(s.step_id, s.status) for s in steps] == [("add", "reused"), ("tag", "ok")]
    assert steps[0].output["marked_done_by"] == "lea"
    assert len(target.calls("/contacts")) == 1 and len(target.calls("/contacts/lea/tags")) == 1


async def test_a_cancelled_delay_never_goes_on_and_refusals_name_the_fix(target):
    zap = make_zap("later", [{"id": "wait", "type": "delay", "for": "2 days"},
                             {"id": "send", "type": "action", "action": "http.request",
                              "inputs": {"method": "PUT", "url": target.base}}], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, _ = only_run("later")
    with pytest.raises(RunRefused, match="runs cancel"):
        replay(run.id)
    assert cancel(run.id).startswith("delayed until ")
    assert wake_due(later(run.resume_at)) == {}
    await drain_hook(zap)
    run, _ = only_run("later")
    assert run.status == "cancelled" and "cancelled by a person" in run.error and target.requests == []
    with pytest.raises(RunRefused, match="no zap run 999"):
        replay(999)


async def test_runs_replay_mark_done_and_cancel_from_the_cli_name_the_run_and_what_to_do(target):
    from typer.testing import CliRunner

    from passerelle.cli.main import app

    zap = make_zap("later", [{"id": "wait", "type": "delay", "for": "2 days"}], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, _ = only_run("later")
    cli = CliRunner()
    refused = cli.invoke(app, ["runs", "replay", str(run.id)])
    assert refused.exit_code == 2 and f"run {run.id} is delayed" in refused.output
    refused = cli.invoke(app, ["runs", "mark-done", str(run.id)])
    assert refused.exit_code == 2 and "only an unknown run" in refused.output
    listed = cli.invoke(app, ["runs", "list", "--status", "delayed"])
    assert listed.exit_code == 0 and "later" in listed.output
    done = cli.invoke(app, ["runs", "cancel", str(run.id)])
    assert done.exit_code == 0 and f"run {run.id}: cancelled (it was delayed until" in done.output
    again = cli.invoke(app, ["runs", "replay", str(run.id)])
    assert again.exit_code == 0 and f"queued for a replay; the next drain of hook {HOOK}" in again.output
    assert list_runs(zap="later")[0].status == "replay"
