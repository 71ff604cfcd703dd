"""The generic drain engine with a second, tiny handler: echo events into a table of their own. It proves a new
source needs no engine change: the lease per link, per-entity order, pipelining, failures retried then dead,
bad payloads dead at once, an auth refusal giving the batch back, the ledger making a re-run skip what is
done, and the report. (Amilia's handler: tests/flows/test_amilia_webhooks*.py.)"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors._http import AuthError
from passerelle.engine import APPLIED, BatchOutcome, DrainOptions, DrainReport, drain, event_key, final_keys
from passerelle.store.effects import acquire_lease, done_keys, record_effects, release_lease
from passerelle.store.inbox import Delivery, InboxEvent, list_events, stats, store_deliveries

QUICK = DrainOptions(batch_size=3, max_seconds=20, max_attempts=8, linger=0.2, poll=0.05)


class EchoTable:
    """The 'vendor': a SQLite table that receives one row per applied event."""

    def __init__(self, path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE echo (inbox_id INTEGER, entity TEXT, text TEXT)")
        self.calls = 0

    def rows(self) -> list[tuple[int, str, str]]:
        return self.db.execute("SELECT inbox_id, entity, text FROM echo ORDER BY rowid").fetchall()


class EchoEvents:
    """A complete BatchHandler in 40 lines: plan = read the payloads, write = insert, record the ledger."""

    source = "echo"
    skip_meaning = "nothing to echo"

    def __init__(self, table: EchoTable, store_url: str, *, refuse: bool = False) -> None:
        self.table, self.store_url, self.refuse, self.opened = table, store_url, refuse, 0
        self.batches: list[list[int]] = []

    @contextlib.asynccontextmanager
    async def open(self, link: str) -> AsyncIterator[None]:
        self.opened += 1
        yield

    async def plan(self, rows: list[InboxEvent]) -> tuple[list[InboxEvent], BatchOutcome]:
        if self.refuse:
            raise AuthError(vendor="Echo", status=401, method="POST", path="/echo", credential="token")
        self.batches.append([r.id for r in rows])
        outcome, recorded = BatchOutcome(), done_keys(final_keys(r.id for r in rows), url=self.store_url)
        todo = []
        for row in rows:
            if event_key(row.id, APPLIED) in recorded:
                outcome.done.append(row.id)
                outcome.already_applied += 1
            elif not isinstance(row.payload.get("text"), str):
                outcome.bad[row.id] = "bad payload: text is not a string"
            elif row.payload["text"] == "fail":
                outcome.failed[row.id] = "echo answered 500"
            elif row.payload["text"] == "":
                outcome.skipped["empty text"] += 1
                outcome.done.append(row.id)
            else:
                todo.append(row)
        return todo, outcome

    async def write(self, planned: tuple[list[InboxEvent], BatchOutcome]) -> BatchOutcome:
        todo, outcome = planned
        details = {}
        for row in todo:
            self.table.db.execute("INSERT INTO echo VALUES (?, ?, ?)", (row.id, row.entity_key, row.payload["text"]))
            self.table.calls += 1
            details[event_key(row.id, APPLIED)] = f'{{"text": "{row.payload["text"]}"}}'
            outcome.done.append(row.id)
            outcome.applied += 1
            outcome.counts["rows echoed"] += 1
        self.table.db.commit()
        record_effects(details, url=self.store_url)
        outcome.effects.update(details)
        return outcome

    def calls(self) -> dict[str, int]:
        return {"echo": self.table.calls}

    def describe(self, detail: dict[str, Any]) -> str:
        return f"echoed {detail['text']!r}"

    def notes(self, report: DrainReport) -> list[str]:
        return [f"{report.counts['rows echoed']} rows echoed."] if report.applied else []


def deliver(store_url: str, link: str, *events: tuple[str, Any]) -> None:
    store_deliveries([Delivery("echo", link, uuid.uuid4().hex, "Echo.Create", entity, {"text": text})
                      for entity, text in events], url=store_url)


@pytest.fixture
def link() -> str:
    return f"echo-{uuid.uuid4().hex[:8]}"


async def test_a_new_source_drains_through_the_engine_unchanged(store_url, tmp_path, link):
    table = EchoTable(tmp_path / "echo.db")
    deliver(store_url, link, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", ""), ("b", 42), ("a", "a3"), ("d", "fail"))
    handler = EchoEvents(table, store_url)
    report = await drain(handler, link, "worker-1", QUICK, store_url=store_url)
    assert handler.opened == 1 and report.source == "echo" and not report.busy
    assert [(entity, text) for _, entity, text in table.rows() if entity == "a"] == [("a", "a1"), ("a", "a2"),
                                                                                  ("a", "a3")]  # entity order
    assert sorted(text for _, _, text in table.rows()) == ["a1", "a2", "a3", "b1"]
    # the failing event comes back after its backoff (2 s, then 4 s…) and may be claimed again by this run
    assert (report.applied, report.dead) == (4, 1) and report.failed >= 1
    assert report.claimed == 6 + report.failed
    assert report.skipped == {"empty text": 1} and report.counts == {"rows echoed": 4}
    assert report.as_dict()["echo_calls"] == 4 and report.as_dict()["rows echoed"] == 4
    notes = report.notes()
    assert "4 applied, 1 skipped (nothing to echo)" in notes[0] and "4 rows echoed." in notes
    changes = {t["inbox id"]: (t["outcome"], t["change"]) for t in report.touched}
    assert ("applied", "echoed 'a1'") in changes.values() and ("set aside (dead)", "bad payload: text is not a "
                                                                "string") in changes.values()
    counts = stats("echo", link, url=store_url)
    assert (counts["done"], counts["pending"], counts["dead"]) == (5, 1, 1)  # the failure is retried later


async def test_the_ledger_makes_a_rerun_skip_what_was_applied(store_url, tmp_path, link):
    """A drain killed after writing but before marking done: the next one marks it done without writing."""
    table = EchoTable(tmp_path / "echo.db")
    deliver(store_url, link, ("a", "a1"))
    row = list_events(source="echo", link=link, url=store_url)[0]
    record_effects({event_key(row.id, APPLIED): '{"text": "a1"}'}, url=store_url)
    report = await drain(EchoEvents(table, store_url), link, "worker-2", QUICK, store_url=store_url)
    assert (report.applied, report.already_applied, table.rows()) == (0, 1, [])


async def test_a_busy_link_and_an_auth_refusal(store_url, tmp_path, link):
    table = EchoTable(tmp_path / "echo.db")
    deliver(store_url, link, ("a", "a1"), ("b", "b1"))
    assert acquire_lease(f"echo-drain:{link}", "someone-else", 30, url=store_url)
    busy = await drain(EchoEvents(table, store_url), link, "worker-3", QUICK, store_url=store_url)
    release_lease(f"echo-drain:{link}", "someone-else", url=store_url)
    assert busy.busy and busy.claimed == 0 and "Another drain of link" in busy.notes()[0]
    with pytest.raises(AuthError):
        await drain(EchoEvents(table, store_url, refuse=True), link, "worker-4", QUICK, store_url=store_url)
    pending = list_events(source="echo", link=link, url=store_url)
    assert {e.status for e in pending} == {"pending"} and {e.attempts for e in pending} == {0}  # given back
    done = await drain(EchoEvents(table, store_url), link, "worker-5", QUICK, store_url=store_url)
    assert done.applied == 2
