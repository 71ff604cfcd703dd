"""Group commit: shared transactions, per-call results, a faulty call isolated."""

from __future__ import annotations

import asyncio

import pytest

from passerelle.gateway.writer import GroupCommitWriter, StoreUnavailable, store_unique
from passerelle.store.inbox import Delivery, list_events


def delivery(event_id: str, link: str = "a") -> Delivery:
    return Delivery("amilia", link, event_id, "Person.Create", f"person:{event_id}", {"Id": event_id})


def test_store_unique_same_id_on_two_links_and_twice_in_a_batch(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    batch = [delivery("x", "a"), delivery("x", "b"), delivery("x", "a"), delivery("y", "b")]
    assert store_unique(batch, url=url) == [True, True, False, True]
    assert store_unique(batch, url=url) == [False, False, False, False]
    assert sorted((e.link, e.event_id) for e in list_events(url=url)) == [("a", "x"), ("b", "x"), ("b", "y")]


async def test_concurrent_calls_share_commits_and_get_their_own_results():
    batches: list[int] = []
    seen: set[str] = set()

    def store(deliveries: list[Delivery]) -> list[bool]:
        batches.append(len(deliveries))
        out = []
        for d in deliveries:
            out.append(d.event_id not in seen)
            seen.add(d.event_id)
        return out

    writer = GroupCommitWriter(store, linger=0.005, max_deliveries=50)
    await writer.start()
    calls = [[delivery(f"n{i}"), delivery(f"s{i % 10}")] for i in range(100)]
    results = await asyncio.gather(*(writer.submit(c) for c in calls))
    await writer.stop()
    assert sum(batches) == 200 and max(batches) <= 50 and len(batches) < 100
    assert all(r[0] for r in results)                       # each call gets its own flags, in order
    assert [r[1] for r in results[:10]] == [True] * 10 and not any(r[1] for r in results[10:])


async def test_a_failing_call_fails_alone():
    def store(deliveries: list[Delivery]) -> list[bool]:
        if any(d.event_id == "bad" for d in deliveries):
            raise ValueError("refused by the database")
        return [True] * len(deliveries)

    writer = GroupCommitWriter(store, linger=0.01)
    await writer.start()
    results = await asyncio.gather(writer.submit([delivery("1")]), writer.submit([delivery("bad")]),
                                   writer.submit([delivery("2"), delivery("3")]), return_exceptions=True)
    await writer.stop()
    assert results[0] == [True] and results[2] == [True, True]
    assert isinstance(results[1], StoreUnavailable)


async def test_stop_commits_what_is_waiting_and_refuses_after():
    stored: list[str] = []

    def store(deliveries: list[Delivery]) -> list[bool]:
        stored.extend(d.event_id for d in deliveries)
        return [True] * len(deliveries)

    writer = GroupCommitWriter(store, linger=0.05)
    await writer.start()
    pending = [asyncio.create_task(writer.submit([delivery(str(i))])) for i in range(5)]
    await asyncio.sleep(0)
    await writer.stop()
    assert [await p for p in pending] == [[True]] * 5 and len(stored) == 5
    with pytest.raises(StoreUnavailable):
        await writer.submit([delivery("late")])


async def test_an_unavailable_database_fails_the_batch_at_once():
    from sqlalchemy.exc import OperationalError

    calls: list[int] = []

    def store(deliveries: list[Delivery]) -> list[bool]:
        calls.append(len(deliveries))
        raise OperationalError("INSERT …", {}, Exception("database is locked"))

    writer = GroupCommitWriter(store, linger=0.01)
    await writer.start()
    results = await asyncio.gather(*(writer.submit([delivery(str(i))]) for i in range(5)), return_exceptions=True)
    await writer.stop()
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert calls == [5]  # not retried call by call
