"""The inbox's claim semantics, on SQLite and PostgreSQL (the `store_url` fixture)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import text, update

from passerelle.store.engine import session_scope
from passerelle.store.inbox import (
    DEAD,
    DONE,
    PENDING,
    PROCESSING,
    Delivery,
    InboxEvent,
    backoff_seconds,
    claim_batch,
    list_events,
    mark_done,
    mark_failed,
    purge,
    release,
    replay,
    stats,
    store_deliveries,
)


def new_link() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def put(url: str, link: str, *entities: str) -> list[int]:
    """Store one event per entity key given (in order); returns their ids."""
    deliveries = [Delivery("amilia", link, uuid.uuid4().hex, "Person.Update", key, {"n": i})
                  for i, key in enumerate(entities)]
    assert all(store_deliveries(deliveries, url=url))
    rows = sorted(list_events(source="amilia", link=link, limit=10_000, url=url), key=lambda e: e.id)
    return [e.id for e in rows[-len(entities):]]


def claim(url: str, link: str, worker: str = "w1", limit: int = 200, lease: float = 60.0) -> list[int]:
    return [e.id for e in claim_batch("amilia", link, worker, limit=limit, lease_seconds=lease, url=url)]


def make_due(url: str, ids: list[int]) -> None:
    """As if the backoff had elapsed."""
    with session_scope(url) as s:
        s.execute(update(InboxEvent).where(InboxEvent.id.in_(ids))
                  .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_duplicates_are_stored_once(store_url):
    link = new_link()
    a = Delivery("amilia", link, "evt-1", "Person.Create", "person:1", {"Id": 1})
    b = Delivery("amilia", link, "evt-2", "Person.Create", "person:2", {"Id": 2})
    assert store_deliveries([a, b, a], url=store_url) == [True, True, False]
    assert store_deliveries([b], url=store_url) == [False]
    other_link = Delivery("amilia", new_link(), "evt-1", "Person.Create", "person:1", {"Id": 1})
    assert store_deliveries([other_link], url=store_url) == [True]
    assert stats("amilia", link, url=store_url)[PENDING] == 2


def test_a_stored_delivery_reads_back_as_received_and_is_claimable_at_once(store_url):
    """The SQLite path writes rows on the DB-API connection: what the model reads must be what was sent."""
    link = new_link()
    raw = '{"Payload": {"Id": 7, "FirstName": "Zoë"},  "Context": "Person"}'.encode()
    before = datetime.now(UTC)
    assert store_deliveries([
        Delivery("amilia", link, "raw", "Person.Create", "person:7", orjson.loads(raw), raw=raw),
        Delivery("amilia", link, "parsed", "Person.Update", "person:8", {"Id": 8, "Name": "Émile"}),
    ], url=store_url) == [True, True]
    rows = {e.event_id: e for e in list_events(link=link, url=store_url)}
    assert rows["raw"].payload == {"Context": "Person", "Payload": {"Id": 7, "FirstName": "Zoë"}}
    if store_url.startswith("sqlite"):  # stored as the bytes received, spacing and key order included
        with session_scope(store_url) as s:
            stored = s.execute(text("SELECT payload FROM inbox_event WHERE id = :id"), {"id": rows["raw"].id})
            assert stored.scalar_one() == raw.decode()
    assert rows["parsed"].payload == {"Id": 8, "Name": "Émile"}
    for event in rows.values():
        assert (event.status, event.attempts, event.claimed_by) == (PENDING, 0, None)
        assert before - timedelta(seconds=1) <= event.received_at <= datetime.now(UTC)
        assert event.next_attempt_at == event.received_at
    assert sorted(e.event_id for e in claim_batch("amilia", link, "w1", url=store_url)) == ["parsed", "raw"]


def test_claims_take_whole_chains_in_order_and_hold_the_entity(store_url):
    link = new_link()
    ids = put(store_url, link, "person:1", "person:2", "person:1", "person:1", "person:3")
    assert claim(store_url, link, "w1", limit=2) == ids[:2]           # person:1's head, person:2
    assert claim(store_url, link, "w2") == [ids[4]]                   # person:1 is held by w1
    mark_done([ids[0]], url=store_url)
    assert claim(store_url, link, "w2") == [ids[2], ids[3]]           # the rest of person:1, in order
    assert claim(store_url, link, "w3") == []


def test_a_failed_head_waits_its_backoff_and_holds_back_its_entity(store_url):
    link = new_link()
    ids = put(store_url, link, "person:1", "person:1", "person:2")
    assert claim(store_url, link) == ids
    assert mark_failed(ids[0], "HTTP 503", max_attempts=5, url=store_url) == PENDING
    mark_done([ids[2]], url=store_url)
    release([ids[1]], url=store_url)
    [head] = [e for e in list_events(source="amilia", link=link, url=store_url) if e.id == ids[0]]
    wait = head.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(seconds=1) < wait <= timedelta(seconds=backoff_seconds(1))
    assert head.last_error == "HTTP 503" and head.attempts == 1
    assert claim(store_url, link) == []                               # not due, and person:1's second waits
    make_due(store_url, [ids[0]])
    assert claim(store_url, link) == ids[:2]


def test_backoff_doubles_up_to_a_cap():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff_seconds(50) == 600


def test_an_expired_lease_is_claimed_again(store_url):
    link = new_link()
    ids = put(store_url, link, "person:1", "person:1")
    assert claim(store_url, link, "w1", lease=0.3) == ids             # w1 dies holding them
    assert claim(store_url, link, "w2") == []
    time.sleep(0.5)
    assert claim(store_url, link, "w2") == ids
    rows = {e.id: e for e in list_events(source="amilia", link=link, url=store_url)}
    assert rows[ids[0]].claimed_by == "w2" and rows[ids[0]].attempts == 2


def test_dead_letter_after_max_attempts_then_replay(store_url):
    link = new_link()
    ids = put(store_url, link, "person:1", "person:1", "person:2")
    for attempt in (1, 2):
        assert claim(store_url, link, limit=1) == [ids[0]]
        status = mark_failed(ids[0], f"boom {attempt}", max_attempts=2, url=store_url)
        make_due(store_url, [ids[0]])
    assert status == DEAD
    assert claim(store_url, link) == ids[1:]                          # the dead one no longer holds person:1
    mark_done(ids[1:], url=store_url)
    assert stats("amilia", link, url=store_url) == {PENDING: 0, PROCESSING: 0, DONE: 2, DEAD: 1}
    [dead] = list_events(DEAD, source="amilia", link=link, url=store_url)
    assert dead.last_error == "boom 2"
    assert replay(source="amilia", link=link, ids=[ids[1]], url=store_url) == 0   # not dead
    assert replay(source="amilia", link=link, url=store_url) == 1
    assert claim(store_url, link) == [ids[0]]
    assert [e.attempts for e in list_events(source="amilia", link=link, url=store_url) if e.id == ids[0]] == [1]


def test_purge_deletes_old_finished_events_only(store_url):
    link = new_link()
    ids = put(store_url, link, "person:1", "person:2", "person:3")
    claim(store_url, link)
    mark_done(ids[:2], url=store_url)
    release([ids[2]], url=store_url)
    with session_scope(store_url) as s:  # received long ago (older than anything other tests keep)
        s.execute(update(InboxEvent).where(InboxEvent.id.in_(ids)).values(received_at=datetime(2001, 1, 1, tzinfo=UTC)))
    assert purge(timedelta(days=365 * 20), url=store_url) == 2
    assert [e.id for e in list_events(source="amilia", link=link, url=store_url)] == [ids[2]]
    assert purge(timedelta(days=365 * 20), statuses=(DONE, DEAD), url=store_url) == 0


def test_two_drainers_claim_disjoint_sets_and_keep_per_entity_order(store_url):
    link = new_link()
    keys = [f"person:{i % 60}" for i in range(240)]  # more entities than one claim takes
    ids = put(store_url, link, *keys)
    key_of = dict(zip(ids, keys, strict=True))
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    applied: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def drain(worker: str) -> None:
        start.wait()
        idle = 0
        while idle < 5:
            batch = claim(store_url, link, worker, limit=17)
            if not batch:
                idle += 1
                time.sleep(0.02)
                continue
            idle = 0
            claimed[worker].extend(batch)
            for event_id in batch:  # "apply" in claim order
                with lock:
                    applied.append(event_id)
                time.sleep(0.001)
            mark_done(batch, url=store_url)

    threads = [threading.Thread(target=drain, args=(w,)) for w in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == ids and claimed["a"] and claimed["b"]
    for key in set(keys):
        order = [i for i in applied if key_of[i] == key]
        assert order == sorted(order), f"{key} applied out of order"
    assert stats("amilia", link, url=store_url)[DONE] == 240
