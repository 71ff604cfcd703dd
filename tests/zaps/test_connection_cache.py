"""A drain reads each connection's credentials once per ttl (passerelle/zaps/runner.py, ConnectionCache): every
run of the drain uses that read; concurrent first reads share one; a read that failed is not kept, so a missing
connection fails each run that needs it (and a connection saved meanwhile is found by the next run)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest

from passerelle.engine import DrainOptions, drain
from passerelle.zaps.runner import ConnectionCache, ZapHandler
from passerelle.zaps.runs import get_run, list_runs
from tests.zaps.runner_support import catch_calls, make_zap

QUICK = DrainOptions(batch_size=50, max_seconds=20, linger=0.1, poll=0.05)
HOOK = "newsletter-signups"


class FakeMailchimp:
    """A connection object with ``client()`` (not a Mailchimp Credentials block: a new client per call)."""

    def __init__(self) -> None:
        self.upserts: list[str] = []

    @asynccontextmanager
    async def client(self):
        yield self

    async def upsert_member(self, list_id: str, email: str, **kwargs: Any) -> dict[str, Any]:
        self.upserts.append(email)
        return {"id": "x", "email_address": email, "status": "subscribed", "list_id": list_id}


def upsert_zap() -> Any:
    return make_zap(HOOK, [{"id": "subscribe", "type": "action", "action": "mailchimp.upsert_member",
                            "connection": "newsletter",
                            "inputs": {"list_id": "8e3b1f0c2a", "email": "{{ trigger.json.email }}"}}])


async def test_concurrent_reads_share_one_load_and_later_ones_reuse_it() -> None:
    loads: list[tuple[str, str]] = []

    async def load(app: str, name: str) -> object:
        loads.append((app, name))
        await asyncio.sleep(0.01)
        return object()

    cache = ConnectionCache(load)
    first = await asyncio.gather(*(cache("mailchimp", "newsletter") for _ in range(16)))
    again = await cache("mailchimp", "newsletter")
    other = await cache("mailchimp", "other")
    assert loads == [("mailchimp", "newsletter"), ("mailchimp", "other")]
    assert all(found is again for found in first) and other is not again


async def test_a_failed_read_is_not_kept() -> None:
    calls = 0

    async def load(app: str, name: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError(f"no {app} connection {name!r}")
        return "block"

    cache = ConnectionCache(load)
    with pytest.raises(KeyError):
        await cache("mailchimp", "newsletter")
    assert await cache("mailchimp", "newsletter") == "block"
    assert calls == 2


async def test_a_connection_is_read_again_after_the_ttl() -> None:
    now, loads = [100.0], []

    async def load(app: str, name: str) -> int:
        loads.append(now[0])
        return len(loads)

    cache = ConnectionCache(load, ttl=10.0, clock=lambda: now[0])
    assert await cache("mailchimp", "newsletter") == 1
    now[0] += 9.0
    assert await cache("mailchimp", "newsletter") == 1
    now[0] += 2.0  # a rotated key is seen within the ttl
    assert await cache("mailchimp", "newsletter") == 2
    assert loads == [100.0, 111.0]


@pytest.mark.usefixtures("zap_store")
async def test_a_drain_reads_the_connection_once_for_all_its_runs() -> None:
    fake, loads = FakeMailchimp(), []

    async def connect(app: str, name: str) -> FakeMailchimp:
        loads.append((app, name))
        return fake

    catch_calls(HOOK, [{"method": "POST", "json": {"email": f"p{n}@example.org"}} for n in range(30)])
    await drain(ZapHandler([upsert_zap()], connect=connect), HOOK, "test-worker", QUICK)
    assert loads == [("mailchimp", "newsletter")]
    assert sorted(fake.upserts) == sorted(f"p{n}@example.org" for n in range(30))
    assert {r.status for r in list_runs(zap=HOOK, limit=100)} == {"ok"}


@pytest.mark.usefixtures("zap_store")
async def test_a_missing_connection_fails_each_run_and_the_next_drain_reads_it_again() -> None:
    fake, loads = FakeMailchimp(), []

    async def missing(app: str, name: str) -> Any:
        loads.append(name)
        raise KeyError(f"no {app} connection named {name!r}")

    catch_calls(HOOK, [{"method": "POST", "json": {"email": f"p{n}@example.org"}} for n in range(3)])
    await drain(ZapHandler([upsert_zap()], connect=missing), HOOK, "test-worker", QUICK)
    runs = list_runs(zap=HOOK)
    assert [r.status for r in runs] == ["failed"] * 3
    assert 1 <= len(loads) <= 3  # runs under way together share a read; a failed one is not kept
    assert "newsletter" in get_run(runs[0].id)[0].error
    before = len(loads)

    async def saved(app: str, name: str) -> FakeMailchimp:
        loads.append(name)
        return fake

    catch_calls(HOOK, [{"method": "POST", "json": {"email": "late@example.org"}}])
    await drain(ZapHandler([upsert_zap()], connect=saved), HOOK, "test-worker", QUICK)
    assert fake.upserts == ["late@example.org"] and len(loads) == before + 1
