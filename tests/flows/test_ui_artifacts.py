"""What the Prefect UI shows of a run: its name, its progress, artifacts whose numbers are explained, and a
second run of a busy link ending at once, Completed, with the reason.

Flows run under the test harness against the sandbox over a real socket; what the UI shows is read back
from the Prefect API (flow runs and artifacts), as the UI reads it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.amilia_reconcile import amilia_reconcile
from flows.amilia_sync import SYNC_KIND, amilia_initial_sync
from flows.amilia_webhooks import process_amilia_events
from passerelle.store import latest_sync_run
from passerelle.store.effects import acquire_lease, release_lease
from tasks.amilia_cyberimpact.events.handler import drain_lease_name
from tests.support.amilia_org import Org, person
from tests.support.amilia_webhooks import account_event, deliver, envelope, events, person_event
from tests.support.clubs import INITIAL_SYNC_CYBERIMPACT as CYBERIMPACT
from tests.support.clubs import INITIAL_SYNC_DAY as TODAY
from tests.support.clubs import JULIE, MARC, webhook_club
from tests.support.clubs import initial_sync_club as club


async def shown(state) -> tuple[Any, dict[str, Any]]:
    """The run of a final state as the UI reads it, and its artifacts by key."""
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    return run, {a.key: a for a in artifacts}


async def test_initial_sync_names_its_runs_shows_progress_and_explains_its_counts(link):
    link.load(club().state(), CYBERIMPACT)
    dry = await amilia_initial_sync(link=link.name, as_of=TODAY, dry_run=True, return_state=True)
    real = await amilia_initial_sync(link=link.name, as_of=TODAY, return_state=True)
    (dry_run, dry_artifacts), (run, artifacts) = await shown(dry), await shown(real)

    assert dry_run.name == f"amilia-initial-sync/{link.name}/{TODAY}/dry-run"
    assert run.name == f"amilia-initial-sync/{link.name}/{TODAY}"
    key = f"amilia-sync-{link.name}"
    assert set(dry_artifacts) == {f"{key}-dry-run", f"{key}-dry-run-progress"}
    assert set(artifacts) == {key, f"{key}-progress"}

    summary = await real.result()
    counts = summary["counts"]
    progress = artifacts[f"{key}-progress"]
    assert progress.type == "progress" and float(progress.data) == 100.0 and "done" in progress.description
    stored = latest_sync_run(SYNC_KIND, link.name)
    assert (stored.progress_done, stored.progress_total) == (4, 4)

    # "planned 5 / created 4": the one not created is the contact who unsubscribed in Cyberimpact.
    unsubscribed = summary["skipped"]["unsubscribed in Cyberimpact: left unsubscribed"]
    assert counts["contacts planned"] == (counts["contacts created"] + counts["contacts updated"]
                                          + counts["contacts unchanged"] + unsubscribed
                                          + counts["contacts rejected by Cyberimpact"])
    headline = summary["notes"][0]
    assert headline.startswith(f"{counts['contacts planned']} contacts planned from Amilia: "
                               f"{counts['contacts created']} created")
    assert f"{unsubscribed} left alone because they unsubscribed in Cyberimpact" in headline
    assert real.message == headline  # the run's state message in the UI
    table = artifacts[key]
    assert all(note in table.description for note in summary["notes"])
    assert {"item": "contacts created", "count": counts["contacts created"]} in json.loads(table.data)
    assert "Dry run: nothing was written" in dry_artifacts[f"{key}-dry-run"].description


async def test_a_contact_rejected_by_cyberimpact_is_explained(link):
    org = club()
    broken = org.family(7, "nobody@localhost")  # an address Amilia keeps and Cyberimpact refuses
    org.register(700, broken, 1, days_ago=3)
    link.load(org.state(), CYBERIMPACT)
    summary = await amilia_initial_sync(link=link.name, as_of=TODAY)

    assert summary["counts"]["contacts rejected by Cyberimpact"] == 1
    assert {f["email"] for f in summary["failures"]} == {"nobody@localhost"}  # the contact, then its groups
    assert "1 rejected by Cyberimpact (listed under failures" in summary["notes"][0]
    failures = summary["counts"]["failures"]
    assert f"{failures} changes refused by Cyberimpact: 1 contacts and {failures - 1} group additions" in (
        " ".join(summary["notes"]))


async def test_webhook_run_lists_the_entities_it_touched_and_explains_the_counts(link, monkeypatch):
    monkeypatch.setattr("flows.amilia_webhooks.LINGER_SECONDS", 0.0)
    org = webhook_club()
    link.load(org.state())
    await amilia_initial_sync(link=link.name)
    julie = person(org, 11)
    julie["Telephone"] = "514-555-7777"
    org.accounts[1]["IsArchived"] = True
    link.load(org.state(), link.cyberimpact())
    deliver(link.name, person_event(julie, "Update"), person_event({**julie, "LastName": "Roy"}, "Update"),
            envelope("Program", "Update", {"Id": 1, "Name": "Arts"}), account_event(org, 2))
    state = await process_amilia_events(link=link.name, return_state=True)
    run, artifacts = await shown(state)
    report = await state.result()

    assert run.name == f"amilia-webhooks/{link.name}"
    key = f"amilia-webhooks-{link.name}"
    assert set(artifacts) == {key, f"{key}-events", f"{key}-progress"}
    touched = {row["inbox id"]: row for row in json.loads(artifacts[f"{key}-events"].data)}
    assert [row["event"] for row in touched.values()] == [e.event_type for e in events(link.name)]
    rows = list(touched.values())
    assert rows[0]["entity"] == f"person:{julie['Id']}" and rows[0]["outcome"] == "applied"
    assert rows[0]["change"] == f"details brought up to date: {JULIE}, {MARC}"  # the person and the owner
    assert rows[2] == {**rows[2], "event": "Program.Update", "outcome": "skipped",
                       "change": "Program events are not sync triggers"}
    assert rows[3]["event"] == "Account.Delete" and rows[3]["change"].startswith("archived")

    # "applied 3 events" vs "2 contacts written": both updates of Julie make one write.
    assert report["applied"] == 3 and report["contacts_written"] < report["applied"]
    counts = artifacts[key].description
    assert f"The {report['applied']} events applied wrote {report['contacts_written']} contacts" in counts
    assert "make one write per contact" in counts and "1 Program events are not sync triggers" in counts
    assert state.message == report["notes"][0]
    progress = artifacts[f"{key}-progress"]
    assert float(progress.data) == 100.0 and "4 events settled" in progress.description


async def test_a_second_drain_of_a_busy_link_ends_completed_at_once(link):
    deliver(link.name, person_event(Org().family(1, "marc@example.org")))
    assert acquire_lease(drain_lease_name(link.name), "the-live-drain", 30)  # a drain of this link is running
    try:
        started = time.monotonic()
        state = await process_amilia_events(link=link.name, return_state=True)
        elapsed = time.monotonic() - started
    finally:
        release_lease(drain_lease_name(link.name), "the-live-drain")
    run, artifacts = await shown(state)
    assert state.is_completed() and not state.is_cancelled()
    assert state.message == f"Another drain of link {link.name!r} is running; it will take these events."
    assert (await state.result())["busy"] and elapsed < 10
    assert [e.status for e in events(link.name)] == ["pending"]  # left to the live drain
    assert artifacts == {} and link.requests("amilia") == [] and link.requests("cyberimpact") == []


async def test_reconcile_names_its_runs_keeps_dry_runs_apart_and_one_run_per_link(link):
    link.load(club().state(), CYBERIMPACT)
    dry = await amilia_reconcile(link=link.name, as_of=TODAY, dry_run=True, return_state=True)
    run, artifacts = await shown(dry)
    assert run.name == f"amilia-reconcile/{link.name}/{TODAY}/dry-run"
    key = f"amilia-reconcile-{link.name}-dry-run"
    assert set(artifacts) == {key, f"{key}-progress"}
    summary = await dry.result()
    assert dry.message == summary["notes"][0] and "would be repaired by a real run" in dry.message
    assert f"{summary['counts']['contacts missing']} contacts missing: in Amilia's clients" in (
        artifacts[key].description)

    assert acquire_lease(f"amilia-reconcile:{link.name}", "the-nightly-run", 30)
    link.clear_requests()
    try:
        busy = await amilia_reconcile(link=link.name, as_of=TODAY, return_state=True)
    finally:
        release_lease(f"amilia-reconcile:{link.name}", "the-nightly-run")
    assert busy.is_completed() and "Another reconciliation of link" in busy.message
    assert (await busy.result())["busy"] and link.requests("amilia") == [] and link.writes() == []
