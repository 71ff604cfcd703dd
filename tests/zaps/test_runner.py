"""The zap runner on the generic drain, without Prefect: catch-hook calls in the inbox → zap runs against a local
HTTP target over a real socket (the SSRF guard lets 127.0.0.1 through here, as the demo does) → the runs store
and the effect ledger.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from passerelle.engine import DrainOptions, drain
from passerelle.store.effects import effect_details
from passerelle.store.inbox import list_events, stats
from passerelle.zaps import execute
from passerelle.zaps.resume import wake_due
from passerelle.zaps.runner import ZapHandler
from passerelle.zaps.runs import get_run, list_runs, set_enabled
from tests.zaps.runner_support import Killed, catch_calls, die_after_sending, make_zap

QUICK = DrainOptions(batch_size=50, max_seconds=20, linger=0.1, poll=0.05)
HOOK = "signups"


pytestmark = pytest.mark.usefixtures("zap_store")


async def drain_hook(*zaps, hook: str = HOOK):
    handler = ZapHandler(list(zaps), connect=None)
    report = await drain(handler, hook, "test-worker", QUICK)
    return report, handler


def only_run(zap_id: str):
    found = list_runs(zap=zap_id)
    assert len(found) == 1, found
    return get_run(found[0].id)


def signup_zap(base: str, **kwargs):
    return make_zap("signup", [
        {"id": "name", "type": "format", "kind": "text", "transform": "upper", "input": "{{ trigger.json.name }}"},
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{base}/contacts", "headers": {"Authorization": "Bearer s3cr3t"},
                    "body": {"email": "{{ trigger.json.email }}", "name": "{{ steps.name.output }}"}}},
        {"id": "tag", "type": "action", "action": "http.request",
         "inputs": {"method": "PUT", "url": f"{base}/contacts/{{{{ steps.add.body.id }}}}/tags",
                    "body": {"tag": "new", "for": "{{ steps.add.body.email }}"}}},
    ], hook=HOOK, **kwargs)


async def test_a_call_runs_its_zap_and_an_action_output_feeds_later_templates(target):
    catch_calls(HOOK, [{"method": "POST", "json": {"email": "lea@example.org", "name": "Léa"}}])
    report, handler = await drain_hook(signup_zap(target.base))

    assert [(r["method"], r["path"]) for r in target.requests] == [("POST", "/contacts"), ("PUT", "/contacts/1/tags")]
    assert target.requests[0]["body"] == {"email": "lea@example.org", "name": "LÉA"}
    assert target.requests[0]["headers"]["authorization"] == "Bearer s3cr3t"  # sent, but never stored:
    assert target.requests[1]["body"] == {"tag": "new", "for": "lea@example.org"}
    run, steps = only_run("signup")
    assert run.status == "ok" and run.error is None and run.ended_at is not None
    assert [(s.step_id, s.status) for s in steps] == [("name", "ok"), ("add", "ok"), ("tag", "ok")]
    assert steps[1].input["headers"] == {"Authorization": "***"}
    assert steps[1].output["status"] == 201 and steps[1].output["body"] == {"id": 1, "email": "lea@example.org"}
    assert all(s.duration_ms > 0 for s in steps)
    assert "s3cr3t" not in repr(steps) + repr(effect_details("inbox-"))
    assert stats(source="catch", link=HOOK)["done"] == 1
    assert handler.summary_rows() == [{"zap": "signup", "ok": 1, "filtered": 0, "failed": 0, "delayed": 0,
                                       "unknown": 0, "held": 0}]
    assert report.applied == 1


async def test_a_filter_that_does_not_hold_ends_the_run_filtered_and_calls_nothing(target):
    zap = make_zap("vip", [
        {"id": "only_vip", "type": "filter", "all": [{"field": "{{ trigger.json.plan }}", "operator": "equals",
                                                       "value": "vip"}]},
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{target.base}/contacts", "body": {"email": "x@example.org"}}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {"plan": "basic"}}])
    await drain_hook(zap)
    run, steps = only_run("vip")
    assert run.status == "filtered" and target.requests == []
    assert [(s.step_id, s.status) for s in steps] == [("only_vip", "filtered")]
    assert stats(source="catch", link=HOOK)["done"] == 1


async def test_paths_run_the_branch_whose_conditions_hold_and_none_is_filtered(target):
    def branch(name: str, kind: str) -> dict:
        return {"name": name, "all": [{"field": "{{ trigger.query.kind | default('') }}", "operator": "equals",
                                       "value": kind}],
                "steps": [{"id": f"{name}_row", "type": "action", "action": "http.request",
                           "inputs": {"method": "PUT", "url": f"{target.base}/sheets/{name}",
                                      "body": {"id": "{{ trigger.query.id }}"}}}]}

    zap = make_zap("route", [{"id": "route", "type": "paths", "branches": [branch("ticket", "t"),
                                                                             branch("client", "c")]}], hook=HOOK)
    catch_calls(HOOK, [{"method": "GET", "query": {"id": "11", "kind": "c"}},
                       {"method": "GET", "query": {"id": "12", "kind": "other"}}])
    await drain_hook(zap)
    assert [(r["path"], r["body"]) for r in target.requests] == [("/sheets/client", {"id": "11"})]
    statuses = sorted(r.status for r in list_runs(zap="route"))
    assert statuses == ["filtered", "ok"]
    ok = next(r for r in list_runs(zap="route") if r.status == "ok")
    _, steps = get_run(ok.id)
    assert steps[0].output["chosen"] == ["client"]
    assert [(s.path, s.status) for s in steps[1:]] == [("steps[0].branches[1].steps[0]", "ok")]


async def test_a_failing_action_fails_the_run_with_its_error_and_the_later_steps_do_not_run(target):
    zap = make_zap("broken", [
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{target.base}/status/422", "body": {"email": "bad"}}},
        {"id": "after", "type": "action", "action": "http.request",
         "inputs": {"method": "PUT", "url": f"{target.base}/never"}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, steps = only_run("broken")
    assert run.status == "failed"
    assert "422" in run.error and "steps[0]" in run.error
    assert [(s.step_id, s.status) for s in steps] == [("add", "failed")]
    assert [r["path"] for r in target.requests] == ["/status/422"]
    assert stats(source="catch", link=HOOK)["done"] == 1  # a 422 will not pass by itself: not retried


async def test_an_idempotent_action_is_retried_and_a_non_idempotent_one_is_not(target):
    safe = make_zap("safe", [{"id": "put", "type": "action", "action": "http.request",
                              "inputs": {"method": "PUT", "url": f"{target.base}/flaky/2", "body": {"a": 1}}}],
                    hook=HOOK)
    once = make_zap("once", [{"id": "post", "type": "action", "action": "http.request",
                              "inputs": {"method": "POST", "url": f"{target.base}/flaky/1", "body": {"a": 1}}}],
                    hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(safe, once)
    assert len(target.calls("/flaky/2")) == 3  # 503, 503, 200
    assert get_run(list_runs(zap="safe")[0].id)[0].status == "ok"
    assert len(target.calls("/flaky/1")) == 1  # a 503 to a POST may have created something: never re-sent
    run, steps = only_run("once")
    assert run.status == "unknown" and steps[0].status == "unknown"



async def test_a_crash_between_send_and_record_leaves_the_run_unknown_and_the_call_is_not_sent_again(
        target, monkeypatch):
    zap = signup_zap(target.base)
    catch_calls(HOOK, [{"method": "POST", "json": {"email": "lea@example.org", "name": "Léa"}}])
    real = die_after_sending(monkeypatch, "add")
    with pytest.raises(Killed):
        await drain_hook(zap)
    assert len(target.calls("/contacts")) == 1
    assert list_runs(zap="signup")[0].status == "running"
    assert [e.status for e in list_events(source="catch", link=HOOK)] == ["pending"]  # given back

    monkeypatch.setattr(execute, "ledger_record", real)
    await drain_hook(zap)
    await drain_hook(zap)
    assert len(target.calls("/contacts")) == 1  # never re-sent
    assert target.calls("/contacts/1/tags") == []
    run, steps = only_run("signup")
    assert run.status == "unknown" and run.attempts == 2
    assert [(s.step_id, s.status) for s in steps] == [("name", "ok"), ("add", "unknown")]
    assert "not sent again" in steps[1].error
    assert stats(source="catch", link=HOOK)["done"] == 1


async def test_a_run_that_failed_on_an_error_that_may_pass_is_replayed_by_itself_from_the_failed_step(target):
    zap = make_zap("resume", [
        {"id": "add", "type": "action", "action": "http.request",
         "inputs": {"method": "POST", "url": f"{target.base}/contacts", "body": {"email": "a@example.org"}}},
        {"id": "sync", "type": "action", "action": "http.request",
         "inputs": {"method": "PUT", "url": f"{target.base}/flaky/3", "body": {"id": "{{ steps.add.body.id }}"}}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, _ = only_run("resume")
    assert run.status == "failed" and run.retriable and "503" in run.error
    assert "replayed by itself at" in run.error and "attempt 2 of 6" in run.error
    wait = run.resume_at.replace(tzinfo=UTC) - run.ended_at.replace(tzinfo=UTC)
    assert timedelta(minutes=4, seconds=59) < wait <= timedelta(minutes=5)  # Zapier's first autoreplay wait
    [event] = list_events(source="catch", link=HOOK)
    assert event.status == "done"  # the event is settled; the run waits in the store, not in the inbox

    await drain_hook(zap)  # not due yet: nothing runs
    assert len(target.calls("/flaky/3")) == 3
    assert wake_due(run.resume_at.replace(tzinfo=UTC) - timedelta(seconds=1)) == {}
    assert wake_due(run.resume_at.replace(tzinfo=UTC) + timedelta(seconds=1)) == {("catch", HOOK): 1}
    await drain_hook(zap)
    run, steps = only_run("resume")
    assert run.status == "ok" and run.attempts == 2
    assert [(s.step_id, s.status) for s in steps] == [("add", "reused"), ("sync", "ok")]
    assert len(target.calls("/contacts")) == 1 and len(target.calls("/flaky/3")) == 4


async def test_a_delay_records_the_run_delayed_with_its_resume_time(target):
    zap = make_zap("later", [
        {"id": "wait", "type": "delay", "for": "2 days"},
        {"id": "send", "type": "action", "action": "http.request", "inputs": {"method": "PUT", "url": target.base}},
    ], hook=HOOK)
    catch_calls(HOOK, [{"method": "POST", "json": {}}])
    await drain_hook(zap)
    run, steps = only_run("later")
    assert run.status == "delayed" and target.requests == []
    event = list_events(source="catch", link=HOOK)[0]
    assert (run.resume_at - event.received_at.replace(tzinfo=run.resume_at.tzinfo)).days == 2
    assert [(s.step_id, s.status) for s in steps] == [("wait", "delayed")]


async def test_a_disabled_zap_keeps_its_calls_and_runs_them_once_enabled(target):
    zap = signup_zap(target.base)
    set_enabled("signup", False)
    catch_calls(HOOK, [{"method": "POST", "json": {"email": "lea@example.org", "name": "Léa"}}])
    report, handler = await drain_hook(zap)
    assert target.requests == []
    assert only_run("signup")[0].status == "held"
    assert handler.summary_rows()[0]["held"] == 1
    await drain_hook(zap)  # still off: still held, not run
    assert target.requests == [] and only_run("signup")[0].status == "held"

    assert set_enabled("signup", True) == 1
    await drain_hook(zap)
    assert [r["path"] for r in target.requests] == ["/contacts", "/contacts/1/tags"]
    assert only_run("signup")[0].status == "ok"


async def test_calls_to_a_hook_no_zap_listens_on_are_done_and_other_hooks_zaps_do_not_run(target):
    catch_calls("elsewhere", [{"method": "GET", "query": {}}])
    report, _ = await drain_hook(signup_zap(target.base), hook="elsewhere")
    assert report.skipped == {"no enabled or disabled zap listens on this hook": 1}
    assert target.requests == [] and list_runs() == []


async def test_one_entitys_events_run_in_the_order_they_came_while_others_run_alongside(target):
    """A batch runs many events at once, but never two of one entity out of order (an OKAST user's events)."""
    from passerelle.store.inbox import Delivery, store_deliveries

    url = target.base + "/slow/{{ trigger.wait }}/users/{{ trigger.user }}"
    zap = make_zap("ordered", [{"id": "put", "type": "action", "action": "http.request",
                                "inputs": {"method": "PUT", "url": url, "body": {"n": "{{ trigger.n }}"}}}], hook=HOOK)
    # Each user's first event is slow to answer: run alongside the others, it would complete after them.
    store_deliveries([Delivery("catch", HOOK, f"e{n}", "catch_hook", f"user:{n % 3}",
                               {"user": n % 3, "n": n, "wait": 300 if n < 3 else 0}) for n in range(30)])
    await drain_hook(zap)
    for user in range(3):
        sent = [r["body"]["n"] for r in target.requests if r["path"].endswith(f"/users/{user}")]
        assert sent == sorted(sent) and len(sent) == 10, sent
