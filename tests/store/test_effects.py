"""The effect ledger and leases, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid

from passerelle.store.effects import (
    acquire_lease,
    done_keys,
    effect_details,
    effect_done,
    lease_holder,
    record_effect,
    record_effects,
    release_lease,
    renew_lease,
)


def _key(step: str) -> str:
    return f"test-{uuid.uuid4().hex[:10]}:{step}"


def test_record_is_insert_if_absent(store_url):
    key = _key("upsert")
    assert not effect_done(key, url=store_url)
    assert record_effect(key, "first", url=store_url) is True
    assert record_effect(key, "second", url=store_url) is False  # kept as it was
    assert effect_done(key, url=store_url)
    assert effect_details(key.split(":")[0], url=store_url) == {key: "first"}


def test_batch_variants(store_url):
    keys = [_key(f"step{i}") for i in range(1200)]  # more than one chunk
    assert done_keys(keys, url=store_url) == set()
    assert record_effects(keys[:700], url=store_url) == set(keys[:700])
    new = record_effects({k: "d" for k in keys[600:]}, url=store_url)
    assert new == set(keys[700:])
    assert done_keys([*keys, "nope:x"], url=store_url) == set(keys)
    assert done_keys([], url=store_url) == set() and record_effects([], url=store_url) == set()


def test_concurrent_recorders_record_each_key_once(store_url):
    keys = [_key(f"k{i}") for i in range(200)]
    results: list[set[str]] = []
    done_keys(keys[:1], url=store_url)  # create the engine first: engine_for is not safe to race

    def record() -> None:
        results.append(record_effects(keys, url=store_url))

    threads = [threading.Thread(target=record) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert sum(len(r) for r in results) == len(keys)  # every key new for exactly one recorder
    assert done_keys(keys, url=store_url) == set(keys)


def test_lease_one_holder_at_a_time_and_expiry(store_url):
    name = f"drain:{uuid.uuid4().hex[:8]}"
    assert acquire_lease(name, "a", 30, url=store_url)
    assert acquire_lease(name, "a", 30, url=store_url)  # re-entrant for its holder
    assert not acquire_lease(name, "b", 30, url=store_url)
    assert lease_holder(name, url=store_url) == "a"
    assert renew_lease(name, "a", 0.2, url=store_url) and not renew_lease(name, "b", 30, url=store_url)
    time.sleep(0.4)
    assert lease_holder(name, url=store_url) is None
    assert acquire_lease(name, "b", 30, url=store_url)  # expired: taken over
    assert not renew_lease(name, "a", 30, url=store_url)
    release_lease(name, "a", url=store_url)  # not ours: no-op
    assert lease_holder(name, url=store_url) == "b"
    release_lease(name, "b", url=store_url)
    assert lease_holder(name, url=store_url) is None


def test_concurrent_acquirers_one_wins(store_url):
    name = f"drain:{uuid.uuid4().hex[:8]}"
    wins: list[str] = []
    lease_holder(name, url=store_url)  # create the engine first

    def take(holder: str) -> None:
        if acquire_lease(name, holder, 30, url=store_url):
            wins.append(holder)

    threads = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
