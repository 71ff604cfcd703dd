"""The Prefect nudge: debounced per (source, link), off the request path, never failing a call."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
from prefect.events.clients import AssertingEventsClient

from passerelle.gateway.nudge import EVENT, Nudger, PrefectEmitter
from tests.gateway.conftest import Nudges, body_of, envelope


def test_a_burst_gives_few_nudges_at_least_the_interval_apart(start_gateway):
    gw = start_gateway(nudge_seconds=0.5)
    statuses: list[int] = []

    def send(k: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(40):
                body = body_of(envelope(payload={"Id": k * 100 + i}))
                r = client.post(gw.hook, params={"token": gw.token}, content=body)
                statuses.append(r.status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    burst = time.monotonic() - started
    time.sleep(0.7)  # the trailing nudge
    assert statuses == [200] * 320
    calls, times = gw.nudges.calls, gw.nudges.times
    assert {(s, link) for s, link, _ in calls} == {("amilia", "default")}
    assert sum(n for _, _, n in calls) == 320  # every accepted delivery is covered by a nudge
    assert 1 <= len(calls) <= burst / 0.5 + 2
    assert all(b - a >= 0.45 for a, b in zip(times, times[1:], strict=False))


def test_duplicates_do_not_nudge(start_gateway):
    gw = start_gateway(nudge_seconds=0.1)
    body = body_of(envelope())
    gw.post(body)
    time.sleep(0.2)
    gw.post(body)
    time.sleep(0.2)
    assert gw.nudges.calls == [("amilia", "default", 1)]


def test_unreachable_prefect_never_fails_a_call(start_gateway, caplog):
    gw = start_gateway(emitter=Nudges(fail=True), nudge_seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="passerelle.gateway"):
        for i in range(20):
            assert gw.post(body_of(envelope(payload={"Id": i}))).status_code == 200
            time.sleep(0.01)
        time.sleep(0.2)
    assert len(gw.nudges.calls) >= 1
    warnings = [r for r in caplog.records if "could not nudge" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited


async def test_nudger_leading_then_one_trailing_event():
    fake = Nudges()
    nudger = Nudger(fake, interval=0.2)
    nudger.notify("amilia", "a", 1)
    nudger.notify("amilia", "b", 2)
    await asyncio.sleep(0.01)  # the first nudge of each link leaves at once
    for _ in range(49):
        nudger.notify("amilia", "a", 1)
    await asyncio.sleep(0.05)
    assert sorted(fake.calls) == [("amilia", "a", 1), ("amilia", "b", 2)]
    await asyncio.sleep(0.25)
    assert sorted(fake.calls) == [("amilia", "a", 1), ("amilia", "a", 49), ("amilia", "b", 2)]
    await asyncio.sleep(0.3)
    assert len(fake.calls) == 3
    await nudger.stop()


async def test_failed_nudge_is_retried_with_its_count():
    fake = Nudges(fail=True)
    nudger = Nudger(fake, interval=0.05)
    nudger.notify("amilia", "a", 3)
    await asyncio.sleep(0.02)
    fake.fail = False
    await asyncio.sleep(1.2)  # first retry after max(interval, 1 s)
    assert fake.calls[-1] == ("amilia", "a", 3)
    await nudger.stop()


async def test_stop_sends_the_waiting_nudge():
    fake = Nudges()
    nudger = Nudger(fake, interval=10)
    nudger.notify("amilia", "a", 1)
    await asyncio.sleep(0.01)
    nudger.notify("amilia", "a", 4)
    await nudger.stop()
    assert fake.calls == [("amilia", "a", 1), ("amilia", "a", 4)]


async def test_prefect_emitter_sends_the_documented_event():
    AssertingEventsClient.reset()
    emitter = PrefectEmitter(client_factory=lambda **options: AssertingEventsClient(**options))
    await emitter("amilia", "club", 3)
    await emitter("amilia", "club", 1)
    [client] = AssertingEventsClient.all  # one client, kept open
    first = client.events[0]
    assert first.event == EVENT == "passerelle.inbox.received"
    assert first.resource.id == "passerelle.inbox.amilia.club"
    assert first.resource["passerelle.source"] == "amilia" and first.resource["passerelle.link"] == "club"
    assert first.payload == {"accepted": 3} and len(client.events) == 2
    await emitter.close()
