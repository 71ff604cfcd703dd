"""The drain under stress: two drainers at once on PostgreSQL, and a drain killed with SIGKILL mid-batch.

Both call the drain loop (tasks/amilia_cyberimpact/events/handler.py) directly, with plain steps: the flow adds only
Prefect task runs around the same functions (tests/flows/test_amilia_webhooks*.py run the flow).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient
from passerelle.store import session_scope
from passerelle.store.effects import done_keys
from passerelle.store.inbox import InboxEvent, list_events, store_deliveries
from tasks.amilia_cyberimpact.events.handler import DrainOptions, DrainReport, drain
from tests.support.amilia_org import BALLET, KARATE, SWIM
from tests.support.amilia_webhooks import delivery, registration_event
from tests.support.clubs import GAGNON, MARC, synced
from tests.support.clubs import webhook_club as club
from tests.support.cyberimpact_state import CYBERIMPACT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("PASSERELLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FAMILIES = range(30, 42)  # account ids of the families the tests add (owners 300…410)


def clients(link) -> tuple[AmiliaClient, CyberimpactClient]:
    return (AmiliaClient(username="demo@passerelle.dev", password="demo-password", organization="8008",
                         base_url=link.sandbox.amilia_url),
            CyberimpactClient(api_token=CYBERIMPACT_TOKEN, base_url=link.sandbox.cyberimpact_url))


def faults(link, **cyberimpact) -> None:
    httpx.put(f"{link.sandbox.url}/_sandbox/faults", json={"cyberimpact": cyberimpact}, timeout=10).raise_for_status()


async def families(link):
    """The club, plus 12 families each in karate and ballet (synced); then each cancels karate and joins
    swimming. Returns the org, the 24 deliveries and the owners' e-mails."""
    org = club()
    owners = []
    for account in FAMILIES:
        owner = org.family(account, f"famille{account}@example.org")
        org.register(account * 100, owner, 2, days_ago=15)
        org.register(account * 100 + 1, owner, 1, days_ago=14)
        owners.append(owner)
    await synced(link, org)
    envelopes = []
    for owner in owners:
        karate = next(r for r in org.registrations if r["Id"] == owner["AccountId"] * 100)
        karate["IsCancelled"] = True
        envelopes.append(registration_event(karate, "Delete"))
        envelopes.append(registration_event(org.register(owner["AccountId"] * 100 + 2, owner, 3, days_ago=0)))
    link.load(org.state(), link.cyberimpact())
    return org, [delivery(link.name, e) for e in envelopes], [o["Email"] for o in owners]


def check_final_state(link, emails: list[str]) -> None:
    assert link.group_members(KARATE) == {MARC, GAGNON}      # the families' owners are out of karate
    assert set(emails) <= link.group_members(SWIM) and set(emails) <= link.group_members(BALLET)
    assert MARC in link.group_members(BALLET)


def postgres_or_skip() -> str:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection problem means "not here"
        if os.environ.get("PASSERELLE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required (PASSERELLE_REQUIRE_POSTGRES) but {POSTGRES_URL} is not "
                        f"reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__}); set "
                    "PASSERELLE_TEST_POSTGRES_URL to run the two-drainer test")
    return POSTGRES_URL


async def test_two_drainers_at_once_on_postgres_apply_each_event_once(link):
    """Two drainers claiming the same link's inbox at once (e.g. a stalled drain whose lease was taken
    over): FOR UPDATE SKIP LOCKED gives each event to one of them, and each is applied once."""
    url = postgres_or_skip()
    _, deliveries, emails = await families(link)
    store_deliveries(deliveries, url=url)
    faults(link, latency_ms=30)
    reports: list[DrainReport] = []

    def run(worker: str) -> None:
        async def go() -> None:
            amilia, cyberimpact = clients(link)
            async with amilia, cyberimpact:
                options = DrainOptions(batch_size=3, linger=0.5, poll=0.05)
                reports.append(await drain(link.name, worker, amilia, cyberimpact, options, store_url=url,
                                           lease_name=f"test-lease:{worker}"))
        asyncio.run(go())

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2 and all(r.claimed > 0 for r in reports), [r.as_dict() for r in reports]
    assert sum(r.claimed for r in reports) == len(deliveries)
    assert sum(r.applied + sum(r.skipped.values()) for r in reports) == len(deliveries)
    rows = list_events(link=link.name, limit=1000, url=url)
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert done_keys([f"inbox-{r.id}:applied" for r in rows], url=url) == {f"inbox-{r.id}:applied" for r in rows}
    faults(link)
    check_final_state(link, emails)


DRAIN_SCRIPT = """
import asyncio, sys
from connectors.amilia.client import AmiliaClient
from connectors.cyberimpact.client import CyberimpactClient
from tasks.amilia_cyberimpact.events.handler import DrainOptions, drain

async def main(link, amilia_url, cyberimpact_url, token):
    async with AmiliaClient(username="demo@passerelle.dev", password="demo-password", organization="8008",
                            base_url=amilia_url) as amilia, \\
            CyberimpactClient(api_token=token, base_url=cyberimpact_url) as cyberimpact:
        options = DrainOptions(batch_size=6, claim_lease=2.0, drain_lease=2.0, linger=30, max_seconds=60)
        await drain(link, "doomed", amilia, cyberimpact, options)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_drain_killed_mid_batch_loses_nothing_and_repeats_nothing(link, tmp_path):
    """SIGKILL while a batch is being written (slow Cyberimpact): once the claim expires a new drain applies
    every event, each exactly once in effect — right final state, no removal sent twice, all events done."""
    _, deliveries, emails = await families(link)
    store_deliveries(deliveries)
    faults(link, latency_ms=150)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_LOGGING_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, link.name, link.sandbox.amilia_url,
                             link.sandbox.cyberimpact_url, CYBERIMPACT_TOKEN], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:  # kill once some removals are done and events are still being processed
            removed = _removal_keys()
            with session_scope() as s:
                processing = s.exec(select(InboxEvent).where(InboxEvent.status == "processing")).all()
            if removed and processing:
                break
            assert proc.poll() is None, "the drain exited before it could be killed"
            assert time.monotonic() < deadline, "the drain never got to its removals"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    removed_before = _removal_keys()
    assert len(removed_before) < len(emails), "killed too late: every removal was already done"
    log_before = len(link.requests("cyberimpact"))
    faults(link)
    time.sleep(2.2)  # the killed drain's claim and lease expire
    amilia, cyberimpact = clients(link)
    async with amilia, cyberimpact:
        report = await drain(link.name, "survivor", amilia, cyberimpact, DrainOptions(linger=0))
    assert report.claimed > 0 and report.failed == report.dead == 0, report.as_dict()

    rows = list_events(link=link.name, limit=1000)
    assert {r.status for r in rows} == {"done"} and len(rows) == len(deliveries)
    assert done_keys([f"inbox-{r.id}:applied" for r in rows]) == {f"inbox-{r.id}:applied" for r in rows}
    check_final_state(link, emails)
    log = link.requests("cyberimpact")
    after = {r["path"] for r in log[log_before:] if r["method"] == "DELETE"}
    for key in removed_before:  # a removal recorded before the kill is not sent again
        _, _, group_id, email = key.split(":", 3)
        assert f"/cyberimpact/members/{email}/groups/{group_id}" not in after
    # nor one done but not yet recorded: the new drain reads the member, already out of the group
    deletes = Counter(r["path"] for r in log if r["method"] == "DELETE")
    assert deletes and max(deletes.values()) == 1, deletes


def _removal_keys() -> set[str]:
    from passerelle.store.models import Effect

    with session_scope() as s:
        return {k for k in s.exec(select(Effect.key)) if ":remove:" in k}
