"""Schedules and polls, started by the sweep (passerelle/zaps/starters.py): a slot fires once and a missed one is
skipped; a poll's first answer only seeds, later ones start the zap once per new item; a bad option is named and
does not stop the others. Polls go to the sandbox's request bin over a real socket, through the SSRF guard."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from passerelle.engine import DrainOptions, drain
from passerelle.store.inbox import list_events
from passerelle.zaps import ssrf
from passerelle.zaps.runner import ZapHandler, listens_on
from passerelle.zaps.runs import get_run, list_runs
from passerelle.zaps.spec import parse_zap
from passerelle.zaps.starters import latest_slot, start_due

QUICK = DrainOptions(batch_size=50, max_seconds=20, linger=0.1, poll=0.05)
NOW = dt.datetime(2026, 11, 27, 14, 0, 30, tzinfo=dt.UTC)  # a Friday


pytestmark = pytest.mark.usefixtures("zap_store")


def zap(zap_id: str, app: str, event: str, options: dict, steps: list | None = None):
    return parse_zap({"id": zap_id, "name": zap_id, "trigger": {"app": app, "event": event, "options": options},
                      "steps": steps or [{"id": "seen", "type": "format", "kind": "text", "transform": "trim",
                                          "input": "{{ trigger | tojson }}"}]}, f"{zap_id}.yaml")


async def test_an_interval_schedule_fires_each_slot_once_and_its_zap_runs_with_the_slot():
    every = zap("every-15", "schedule", "interval", {"interval_seconds": 900})
    assert listens_on(every) == ("schedule", "every-15")
    first = await start_due([every], {}, now=NOW)
    assert first.events == {("schedule", "every-15"): 1} and first.problems == []
    assert (await start_due([every], {}, now=NOW + dt.timedelta(seconds=20))).events == {}  # same slot: once
    assert (await start_due([every], {}, now=NOW + dt.timedelta(minutes=15))).events == {("schedule", "every-15"): 1}
    events = list_events(source="schedule", link="every-15")
    assert sorted(e.payload["scheduled_at"] for e in events) == ["2026-11-27T14:00:00+00:00",
                                                                  "2026-11-27T14:15:00+00:00"]
    await drain(ZapHandler([every], connect=None, source="schedule"), "every-15", "test", QUICK)
    runs = list_runs(zap="every-15")
    assert [r.status for r in runs] == ["ok", "ok"]
    assert '"interval_seconds": 900' in get_run(runs[0].id)[1][0].output


async def test_a_cron_fires_at_its_local_time_a_missed_slot_is_skipped_and_a_bad_cron_is_named():
    daily = zap("weekdays-9", "schedule", "cron", {"cron": "0 9 * * 1-5", "timezone": "America/Montreal"})
    assert latest_slot(daily, NOW) == dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)  # 9:00 EST
    assert (await start_due([daily], {}, now=NOW)).events == {("schedule", "weekdays-9"): 1}
    late = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.UTC)
    assert latest_slot(daily, late) == latest_slot(daily, NOW)
    assert (await start_due([daily], {}, now=late + dt.timedelta(days=3))).events == {}  # Monday 9:30: 30 min late
    broken = zap("broken", "schedule", "cron", {"cron": "61 * * * *"})
    off = zap("off", "schedule", "interval", {"interval_seconds": 60})
    started = await start_due([broken, off, daily], {"off": False}, now=NOW + dt.timedelta(days=3))
    assert started.problems == ["broken: trigger.options.cron: '61 * * * *' is not a cron expression (e.g. "
                                "'0 9 * * 1-5': 9:00 on weekdays)"]
    assert started.events == {("schedule", "weekdays-9"): 1}  # Monday 9:00, the broken and the disabled aside


async def test_a_poll_seeds_first_then_starts_the_zap_once_per_new_item(sandbox):
    feed = f"{sandbox.vendor_url('requestbin')}/feed/contacts"
    httpx.put(feed, json={"items": [{"id": 1, "email": "a@example.org"}, {"id": 2, "email": "b@example.org"}]})
    poll = zap("new-contacts", "http", "poll", {"url": feed, "items_path": "items", "interval_seconds": 60})
    assert listens_on(poll) == ("poll", "new-contacts")
    assert (await start_due([poll], {}, now=NOW)).events == {}  # the first poll marks what is there as seen

    httpx.put(feed, json={"items": [{"id": 1, "email": "a@example.org"}, {"id": 2, "email": "b@example.org"},
                                    {"id": 3, "email": "c@example.org"}]})
    assert (await start_due([poll], {}, now=NOW + dt.timedelta(seconds=10))).events == {}  # same slot: no poll
    second = await start_due([poll], {}, now=NOW + dt.timedelta(minutes=1))
    assert second.events == {("poll", "new-contacts"): 1}
    assert (await start_due([poll], {}, now=NOW + dt.timedelta(minutes=2))).events == {}  # 3 is seen now
    assert [e.payload for e in list_events(source="poll", link="new-contacts")] == [{"id": 3,
                                                                                      "email": "c@example.org"}]
    await drain(ZapHandler([poll], connect=None, source="poll"), "new-contacts", "test", QUICK)
    assert [r.status for r in list_runs(zap="new-contacts")] == ["ok"]


async def test_a_poll_to_a_private_address_is_refused_by_the_guard(monkeypatch):
    monkeypatch.delenv(ssrf.ALLOW_NETWORKS_ENV)
    poll = zap("inside", "http", "poll", {"url": "http://10.0.0.5/items", "interval_seconds": 60})
    started = await start_due([poll], {}, now=NOW)
    assert started.events == {} and len(started.problems) == 1
    assert "10.0.0.5 is a private address" in started.problems[0]
