"""process_amilia_events as a durable consumer: order, duplicates, retries and dead letters, a 401, bugs,
one live drain per link (DESIGN.md, "Data paths: Webhooks": "Nothing acknowledged is ever lost")."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

import flows.amilia_webhooks as webhooks
from connectors._http import AuthError
from flows.amilia_webhooks import process_amilia_events
from passerelle.store import session_scope
from passerelle.store.effects import done_keys, lease_holder
from passerelle.store.inbox import InboxEvent, replay
from tasks.amilia_cyberimpact.mapping import CLIENTS_GROUP
from tests.support.amilia_org import KARATE, person
from tests.support.amilia_webhooks import deliver, envelope, events, person_event, registration_event
from tests.support.clubs import JULIE, reload_amilia, synced
from tests.support.clubs import webhook_club as club
from tests.support.cyberimpact_state import CYBERIMPACT_TOKEN, member
from tests.support.cyberimpact_state import custom_fields as custom


@pytest.fixture(autouse=True)
def no_linger(monkeypatch):
    monkeypatch.setattr(webhooks, "LINGER_SECONDS", 0.0)


def faults(link, **cyberimpact) -> None:
    httpx.put(f"{link.sandbox.url}/_sandbox/faults", json={"cyberimpact": cyberimpact}, timeout=10).raise_for_status()


def after_prepare(monkeypatch, then) -> None:
    """Run `then()` once the drain has read Cyberimpact's ids (its per-run preparation), before any batch."""
    real = webhooks.prepare_cyberimpact

    async def prepare(side, amilia):
        await real(side, amilia)
        then()

    monkeypatch.setattr(webhooks, "prepare_cyberimpact", prepare)


async def test_create_then_delete_in_one_batch_ends_archived(link):
    """Per-entity order: "En cas de suppression d'une personne …, nous modifierons la valeur du champ
    Amilia.IsArchived des contacts concernés à "True"" — even when its creation is in the same batch."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    created = person_event(zoe)
    zoe["IsArchived"] = True
    julie = person(org, 11)
    karate = org.register(104, julie, 2, days_ago=0)
    create_reg = registration_event(karate)
    karate["IsCancelled"] = True
    reload_amilia(link, org)
    deliver(link.name, created, person_event(zoe, "Delete"), create_reg, registration_event(karate, "Delete"))
    summary = await process_amilia_events(link=link.name)

    assert summary["batches"] == 1 and summary["failed"] == 0, summary
    state = link.cyberimpact()
    assert custom(state, "zoe.roy@example.org")["Amilia.IsArchived"] == "True"
    assert "zoe.roy@example.org" in link.group_members(CLIENTS_GROUP)
    assert JULIE not in link.group_members(KARATE)


async def test_duplicates_and_reruns_apply_once(link):
    """A re-delivery is stored once; an event applied before a crash (ledger written, row not marked done)
    is marked done without being applied again."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    reload_amilia(link, org)
    created = person_event(zoe)
    assert deliver(link.name, created, created) == [True, False]
    assert deliver(link.name, created) == [False]
    link.clear_requests()
    first = await process_amilia_events(link=link.name)
    writes = len(link.writes())
    assert first["applied"] == 1 and writes > 0

    (row,) = events(link.name)
    with session_scope() as s:  # as if the drain died between its ledger write and mark_done
        stored = s.get(InboxEvent, row.id)
        stored.status, stored.claimed_until = "processing", datetime.now(UTC) - timedelta(seconds=1)
    again = await process_amilia_events(link=link.name)
    assert again["already_applied"] == 1 and again["applied"] == 0
    assert len(link.writes()) == writes  # nothing written twice
    assert [e.status for e in events(link.name)] == ["done"]


async def test_failures_retry_then_dead_letter_then_replay(link, monkeypatch):
    """A vendor failing after its retries fails the event (backoff, then dead with the error); `replay`
    puts it back and it is applied."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    reload_amilia(link, org)
    deliver(link.name, person_event(zoe))
    after_prepare(monkeypatch, lambda: faults(link, error_rate=1.0))
    first = await process_amilia_events(link=link.name, max_attempts=2)
    assert first["failed"] == 1 and first["dead"] == 0
    (row,) = events(link.name)
    assert row.status == "pending" and row.attempts == 1 and "Cyberimpact" in row.last_error
    assert CYBERIMPACT_TOKEN not in row.last_error
    time.sleep(max(0.0, (row.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) + 0.1)
    faults(link)  # up for the run's preparation, down again for the batch
    second = await process_amilia_events(link=link.name, max_attempts=2)
    assert second["dead"] == 1
    (row,) = events(link.name)
    assert row.status == "dead" and "kept failing" in row.last_error

    monkeypatch.undo()
    monkeypatch.setattr(webhooks, "LINGER_SECONDS", 0.0)
    faults(link)
    assert replay(source="amilia", link=link.name) == 1
    third = await process_amilia_events(link=link.name)
    assert third["applied"] == 1 and [e.status for e in events(link.name)] == ["done"]
    assert "zoe.roy@example.org" in link.group_members(CLIENTS_GROUP)


async def test_a_401_stops_the_drain_and_releases_the_batch(link, monkeypatch):
    """A refused token is a configuration error: the drain stops, says so, and gives the batch back
    untouched (no attempt counted); once the token is fixed, the events go through."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    reload_amilia(link, org)
    deliver(link.name, person_event(zoe), person_event(person(org, 11), "Update"))
    doc = link.cyberimpact()
    after_prepare(monkeypatch, lambda: link.load(org.state(), {**doc, "tokens": ["another-token"]}))
    with pytest.raises(AuthError, match="rejected the API token"):
        await process_amilia_events(link=link.name)
    assert [(e.status, e.attempts) for e in events(link.name)] == [("pending", 0), ("pending", 0)]
    assert lease_holder(f"amilia-drain:{link.name}") is None

    monkeypatch.undo()
    monkeypatch.setattr(webhooks, "LINGER_SECONDS", 0.0)
    link.load(org.state(), doc)
    assert (await process_amilia_events(link=link.name))["applied"] == 2


async def test_a_bad_payload_is_dead_at_once_and_a_bug_fails_only_its_event(link, monkeypatch):
    """An envelope that cannot be read will never work: dead at once. A bug on one event fails that event
    only (retried later); the rest of the batch is applied."""
    org = club()
    await synced(link, org)
    zoe = org.person(13, 1, "Zoé", "zoe.roy@example.org")
    reload_amilia(link, org)
    deliver(link.name, envelope("Person", "Create", {"Id": "not-an-id"}), person_event(zoe),
            person_event(person(org, 11), "Update"))
    bad_id, zoe_id, julie_id = (e.id for e in events(link.name))
    import tasks.amilia_cyberimpact.events.batch as module

    real = module.classify

    def classify(row_id, *args, **kwargs):
        if row_id == julie_id:
            raise RuntimeError("boom")
        return real(row_id, *args, **kwargs)

    monkeypatch.setattr(module, "classify", classify)
    summary = await process_amilia_events(link=link.name)
    assert (summary["applied"], summary["failed"], summary["dead"]) == (1, 1, 1), summary
    rows = {e.id: e for e in events(link.name)}
    assert rows[bad_id].status == "dead" and "bad payload" in rows[bad_id].last_error
    assert rows[julie_id].status == "pending" and rows[julie_id].last_error == "RuntimeError: boom"
    assert rows[zoe_id].status == "done" and done_keys([f"inbox-{zoe_id}:applied"])


async def test_one_live_drain_per_link(link):
    """A second drain of a link while one runs returns at once ("busy"): the live one takes the new events."""
    org = club()
    await synced(link, org)
    new = [org.person(60 + i, 1, f"P{i}", f"p{i}@example.org") for i in range(6)]
    reload_amilia(link, org)
    deliver(link.name, *(person_event(p) for p in new))
    # every Cyberimpact call takes 0.4 s: the first drain holds the lease for several seconds (three batches of
    # two), longer than the second drain takes to start on a busy machine (0.15 s once let the first one finish)
    faults(link, latency_ms=400)
    first = asyncio.ensure_future(process_amilia_events(link=link.name, batch_size=2))
    for _ in range(200):
        if lease_holder(f"amilia-drain:{link.name}"):
            break
        await asyncio.sleep(0.05)
    second = await process_amilia_events(link=link.name)
    done = await first
    assert second["busy"] and second["claimed"] == 0, (second, done)
    assert not done["busy"] and done["applied"] == 6
    with session_scope() as s:
        rows = s.exec(select(InboxEvent).where(InboxEvent.link == link.name)).all()
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert {p["Email"] for p in new} <= {m["email"] for m in link.cyberimpact()["members"]}
    assert member(link.cyberimpact(), "p0@example.org")["firstname"] == "P0"
