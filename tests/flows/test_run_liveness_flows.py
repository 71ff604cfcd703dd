"""One initial sync per link at a time, and a run whose process died does not block the next one (hardening
issue, part 5): the flows under the test harness against the sandbox over a real socket.

The process kill itself is in tests/store/test_run_liveness.py (SIGKILL of a real process) and, for Prefect's
side (a run turning Crashed), in tests/stack/test_local_stack.py."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from sqlalchemy import text

from flows.amilia_sync import SYNC_KIND, amilia_initial_sync
from flows.amilia_webhooks import process_amilia_events
from passerelle.cli.render import print_summary
from passerelle.store import get_engine, get_sync_run, latest_sync_run, start_sync_run
from passerelle.store.effects import acquire_lease, lease_holder, release_lease
from passerelle.store.runs import CRASHED
from tests.support.clubs import INITIAL_SYNC_CYBERIMPACT as CYBERIMPACT
from tests.support.clubs import INITIAL_SYNC_DAY as TODAY
from tests.support.clubs import initial_sync_club as club


def age(run_id: int, lease: str | None = None) -> None:
    """Make a run look like its process died long ago: an old heartbeat, and its lease expired."""
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE sync_run SET heartbeat_at = '2000-01-01 00:00:00' WHERE id = :id"), {"id": run_id})
        if lease:
            conn.execute(text("UPDATE lease SET expires_at = '2000-01-01 00:00:00' WHERE name = :n"), {"n": lease})


async def test_a_second_initial_sync_of_a_busy_link_ends_completed_without_calling_anyone(link):
    link.load(club().state(), CYBERIMPACT)
    lease = f"amilia-initial-sync:{link.name}"
    assert acquire_lease(lease, "the-first-run", 60)
    try:
        state = await amilia_initial_sync(link=link.name, as_of=TODAY, return_state=True)
    finally:
        release_lease(lease, "the-first-run")
    summary = await state.result()
    assert state.is_completed() and "Another initial sync of link" in state.message
    assert summary["busy"] and link.requests("amilia") == [] and link.writes() == []
    assert latest_sync_run(SYNC_KIND, link.name) is None  # it recorded no run of its own
    out = StringIO()
    print_summary(Console(file=out, width=120), summary)  # `passerelle sync amilia` says why, without a table
    assert "Another initial sync of link" in out.getvalue()


async def test_the_run_after_a_crash_starts_and_the_dead_one_says_it_crashed(link):
    link.load(club().state(), CYBERIMPACT)
    lease = f"amilia-initial-sync:{link.name}"
    assert acquire_lease(lease, "killed-worker", 60)
    dead = start_sync_run(SYNC_KIND, link.name, flow_run_id="killed-worker")
    age(dead, lease)
    state = await amilia_initial_sync(link=link.name, as_of=TODAY, return_state=True)
    assert state.is_completed() and not (await state.result()).get("busy")
    crashed = get_sync_run(dead)
    assert crashed.status == CRASHED and "process running it died" in crashed.error
    assert latest_sync_run(SYNC_KIND, link.name).status == "completed"
    assert lease_holder(lease) is None


async def test_the_webhook_drain_records_dead_runs_every_time_it_runs(link):
    """The drain runs every minute (its schedule): a dead reconciliation of any link is recorded as crashed
    even when nobody starts another one."""
    link.load(club().state(), CYBERIMPACT)
    dead = start_sync_run("amilia_reconcile", "some-other-link")
    age(dead)
    await process_amilia_events(link=link.name, return_state=True)
    assert get_sync_run(dead).status == CRASHED
