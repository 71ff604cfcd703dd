"""The triggers nobody calls: schedules and polls, started by the sweep (docs/zaps.md, "Schedules and polls").

Each minute the ``zaps-resume`` deployment (a Prefect schedule; or ``passerelle zaps run``) calls :func:`start_due`
before it drains. For each enabled zap whose trigger is

- ``schedule.cron`` (``options.cron``, ``options.timezone``, default UTC) or ``schedule.interval``
  (``options.interval_seconds``, at least 60): the latest slot at or before now, when it is less than
  ``CATCH_UP`` old, is put in the inbox once — source ``schedule``, link the zap's id, event id the slot — with
  the payload ``{"scheduled_at", "cron" | "interval_seconds", "timezone"}``. A slot missed for longer (the
  machine was off) is skipped, as Zapier does; a slot is never fired twice (the inbox dedupes the event id);
- ``http.poll`` (``options.url``, ``items_path``, ``dedupe_key`` default ``id``, ``interval_seconds`` default 300,
  at least 60): when its slot comes, a GET through the ``http.request`` action (the SSRF guard included); each
  item never seen (passerelle/zaps/polling.py) goes in the inbox — source ``poll``, link the zap's id, event id
  the item's key — then is marked seen (a crash in between re-emits it and the inbox drops the copy). The first
  poll of a zap only marks what is there as seen (nothing fires: Zapier's behaviour when a zap is turned on).

A problem (a bad cron, a poll that fails) is reported in the sweep's notes; the other zaps go on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from passerelle.store.effects import record_effects
from passerelle.store.inbox import Delivery, store_deliveries
from passerelle.zaps import polling
from passerelle.zaps.spec import Zap

CATCH_UP = dt.timedelta(minutes=5)
MIN_INTERVAL = 60
POLL_INTERVAL = 300


@dataclass
class Started:
    """What one pass started: events put in the inbox per (source, link), and the problems met."""

    events: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _interval(zap: Zap, default: int | None) -> int:
    value = zap.trigger.options.get("interval_seconds", default)
    if not isinstance(value, int) or isinstance(value, bool) or value < MIN_INTERVAL:
        raise ValueError(f"trigger.options.interval_seconds: give a whole number of seconds ≥ {MIN_INTERVAL}")
    return value


def latest_slot(zap: Zap, now: dt.datetime) -> dt.datetime:
    """The zap's latest scheduled time at or before `now` (UTC)."""
    options = zap.trigger.options
    if zap.trigger.event == "cron":
        name = options.get("timezone", "UTC")
        try:
            zone = ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"trigger.options.timezone: unknown time zone {name!r} (e.g. America/Montreal)") \
                from None
        try:
            before = next(iter(CronSim(str(options.get("cron", "")), now.astimezone(zone), reverse=True)))
        except (CronSimError, StopIteration):
            raise ValueError(f"trigger.options.cron: {options.get('cron')!r} is not a cron expression "
                             "(e.g. '0 9 * * 1-5': 9:00 on weekdays)") from None
        return before.astimezone(dt.UTC)
    every = _interval(zap, None if zap.trigger.app == "schedule" else POLL_INTERVAL)
    stamp = int(now.timestamp()) // every * every
    return dt.datetime.fromtimestamp(stamp, dt.UTC)


def _due(zap: Zap, now: dt.datetime, url: str | None) -> dt.datetime | None:
    slot = latest_slot(zap, now)
    if now - slot > CATCH_UP:
        return None
    fresh = record_effects({f"slot:{zap.id}:{slot.isoformat()}": None}, url=url)
    return slot if fresh else None


def _schedule(zap: Zap, slot: dt.datetime) -> Delivery:
    options = zap.trigger.options
    payload: dict[str, Any] = {"scheduled_at": slot.isoformat(), "timezone": options.get("timezone", "UTC")}
    if zap.trigger.event == "cron":
        payload["cron"] = options.get("cron")
    else:
        payload["interval_seconds"] = options.get("interval_seconds")
    event_id = slot.isoformat()
    return Delivery("schedule", zap.id, event_id, zap.trigger.event, f"slot:{event_id}", payload)


async def _poll(zap: Zap, url: str | None) -> list[Delivery]:
    from tasks.actions.http import HttpRequestInput, request

    options = zap.trigger.options
    dedupe = options.get("dedupe_key", "id")
    answer = await request(HttpRequestInput(url=str(options.get("url", "")), method="GET",
                                            headers=dict(options.get("headers") or {})))
    items = polling.extract_items(answer.body, options.get("items_path"))
    if polling.seen_count(zap.id, url=url) == 0:
        polling.mark_seen(zap.id, items, dedupe, url=url)  # the first poll seeds: nothing fires
        return []
    return [Delivery("poll", zap.id, polling.item_key(item, dedupe), "item", f"item:{polling.item_key(item, dedupe)}",
                     item) for item in polling.unseen(zap.id, items, dedupe, url=url)]


async def start_due(zaps: list[Zap], enabled: dict[str, bool], now: dt.datetime | None = None,
                    url: str | None = None) -> Started:
    """Put in the inbox what the enabled schedule and polling zaps have due now."""
    now = now or dt.datetime.now(dt.UTC)
    started = Started()
    for zap in zaps:
        kind = (zap.trigger.app, zap.trigger.event)
        if kind not in (("schedule", "cron"), ("schedule", "interval"), ("http", "poll")) or \
                not enabled.get(zap.id, zap.enabled):
            continue
        try:
            slot = _due(zap, now, url)
            if slot is None:
                continue
            deliveries = [_schedule(zap, slot)] if zap.trigger.app == "schedule" else await _poll(zap, url)
            if deliveries:
                store_deliveries(deliveries, url=url)
                if zap.trigger.app == "http":
                    polling.mark_seen(zap.id, [d.payload for d in deliveries],
                                      zap.trigger.options.get("dedupe_key", "id"), url=url)
                key = (deliveries[0].source, zap.id)
                started.events[key] = started.events.get(key, 0) + len(deliveries)
        except Exception as exc:  # noqa: BLE001 - one zap's problem must not stop the others
            started.problems.append(f"{zap.id}: {exc}"[:500])
    return started
