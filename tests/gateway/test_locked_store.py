"""A store someone else holds locked: the gateway answers 503 with Retry-After after a bounded wait
(PASSERELLE_GATEWAY_STORE_LOCK_TIMEOUT_SECONDS), stores nothing of those calls, and stores the retries once
the lock is gone."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx

from tests.gateway.conftest import body_of, envelope, sha


def lock_exclusively(store: str) -> sqlite3.Connection:
    """Another process's write transaction on the SQLite file (WAL: readers go on, writers wait)."""
    holder = sqlite3.connect(store.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_locked_store_answers_503_with_retry_after_within_the_bound(start_gateway):
    gw = start_gateway(store_lock_timeout_seconds=1.0, retry_after_seconds=4)
    assert gw.post(body_of(envelope(payload={"Id": 1}))).status_code == 200  # connections warmed up
    bodies = [body_of(envelope(payload={"Id": 100 + i})) for i in range(6)]
    answers: dict[int, tuple[int, str | None, float]] = {}

    def post(i: int) -> None:
        started = time.monotonic()
        r = httpx.post(gw.hook, params={"token": gw.token}, content=bodies[i], timeout=60)
        answers[i] = (r.status_code, r.headers.get("retry-after"), time.monotonic() - started)

    holder = lock_exclusively(gw.store)
    try:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
        for i, t in enumerate(threads):  # some calls join the batch waiting on the lock, some queue behind it
            t.start()
            time.sleep(0.15 * (i % 3))
        for t in threads:
            t.join(timeout=30)
    finally:
        holder.rollback()
        holder.close()
    assert sorted(answers) == list(range(len(bodies)))
    for status, retry_after, waited in answers.values():
        assert (status, retry_after) == (503, "4")
        assert waited < 1.0 + 1.5, f"waited {waited:.1f} s for a 503; the bound is the 1 s lock timeout"
    assert [r.event_id for r in gw.rows()] == [sha(body_of(envelope(payload={"Id": 1})))]  # nothing of them
    for body in bodies:  # the vendor's retries, once the lock is released, are stored
        assert gw.post(body).json() == {"accepted": 1, "duplicates": 0}
    assert {r.event_id for r in gw.rows()} >= {sha(b) for b in bodies}
