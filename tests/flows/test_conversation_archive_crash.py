"""The archival drain killed with SIGKILL between Zendesk's 201 for a ticket and the store's record of it
(issue 10, "Done when"): the rerun finds the ticket by its external_id and creates no second one.

A real process runs the drain (the generic engine with the iAdvize handler, as the flow does). A test-only hook
in that process (ZendeskClient.create_ticket wrapped in the child only: nothing in the product changes) lets the
real call through, then writes a marker file and waits: that is the moment after the 201 and before
``conversation_ticket`` and the effect ledger are written. The test kills the process there, then runs the
``iadvize-archive`` flow (the install Block saved, as in production) until the inbox is done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from flows.conversation_archive import archive_conversations
from passerelle.store.conversation_tickets import ticket_for
from passerelle.store.inbox import list_events, store_deliveries
from sandbox.server import SandboxServer
from tasks.iadvize_zendesk.install import IadvizeZendeskInstall, install_block_name
from tests.support.iadvize_zendesk import (
    JANE,
    NOMAIL,
    SITE,
    STRANGER,
    ZENDESK_ADMIN,
    ZENDESK_TOKEN,
    closed_delivery,
    graphql_token,
    load,
    tickets,
)

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = (JANE, NOMAIL, STRANGER)

DRAIN_SCRIPT = """
import asyncio, pathlib, sys
from connectors.iadvize.client import IadvizeClient
from connectors.zendesk.client import ZendeskClient
from passerelle.engine import DrainOptions, drain
from tasks.iadvize_zendesk.handler import ConversationArchive
from tasks.iadvize_zendesk.site import ArchiveSettings, ArchiveSite

site, iadvize_url, zendesk_url, token, email, api_token, marker = sys.argv[1:]
real_create = ZendeskClient.create_ticket

async def create_then_hang(self, ticket, **kwargs):  # the test-only hook: 201 received, nothing recorded yet
    created = await real_create(self, ticket, **kwargs)
    done = pathlib.Path(f"{marker}.{created['id']}")
    done.write_text(str(created["id"]))
    done.replace(marker)  # whole, at once: the test reads it as soon as it appears
    await asyncio.sleep(3600)

ZendeskClient.create_ticket = create_then_hang

async def main():
    archive = ArchiveSite(ArchiveSettings(site=site, auto_archive=True),
                          lambda: IadvizeClient(token=token, base_url=iadvize_url),
                          lambda: ZendeskClient(email=email, api_token=api_token, base_url=zendesk_url))
    options = DrainOptions(claim_lease=2.0, drain_lease=2.0, linger=30, max_seconds=120)
    await drain(ConversationArchive(site=archive), site, "doomed", options)

asyncio.run(main())
"""


@pytest.fixture
def sandbox():
    with SandboxServer() as server:
        load(server.url)
        yield server


def ticket_posts(sandbox) -> int:
    log = httpx.get(f"{sandbox.url}/_sandbox/zendesk/requests", timeout=30).json()["requests"]
    return sum(1 for r in log if r["method"] == "POST" and r["path"].rstrip("/").endswith("/api/v2/tickets"))


def kill_after_the_201(sandbox, token: str, marker: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_LOGGING_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, SITE, sandbox.vendor_url("iadvize"),
                             sandbox.vendor_url("zendesk"), token, ZENDESK_ADMIN, ZENDESK_TOKEN, str(marker)],
                            cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, f"the drain exited ({proc.returncode}) before creating a ticket"
            assert time.monotonic() < deadline, "the drain never created a ticket"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_sigkill_between_the_zendesk_201_and_the_store_write_makes_no_second_ticket(sandbox, tmp_path):
    token = graphql_token(sandbox.vendor_url("iadvize"))
    await IadvizeZendeskInstall(
        site=SITE, zendesk_domain="https://acme.zendesk.com", zendesk_email=ZENDESK_ADMIN,
        zendesk_api_key=ZENDESK_TOKEN, iadvize_rest_api_key="unused-rest-key", iadvize_graphql_token=token,
        zendesk_base_url=sandbox.vendor_url("zendesk"), iadvize_base_url=sandbox.vendor_url("iadvize"),
        auto_archive=True).save(install_block_name(SITE), overwrite=True)
    store_deliveries([closed_delivery(cid) for cid in CONVERSATIONS])
    marker = tmp_path / "created"

    kill_after_the_201(sandbox, token, marker)
    time.sleep(0.5)  # a create the killed process had in flight is finished by Zendesk all the same
    made = tickets(sandbox.url)
    killed_ticket = int(marker.read_text())
    assert killed_ticket in {t["id"] for t in made} and 1 <= len(made) == ticket_posts(sandbox)
    for cid in CONVERSATIONS:  # killed at the right moment: Zendesk has tickets the store knows nothing of
        assert ticket_for(SITE, cid) is None
    assert all(not [c for c in t["comments"] if not c["public"]] for t in made)  # no note got in either

    time.sleep(2.2)  # the killed drain's lease and claim expire
    runs = []
    deadline = time.monotonic() + 120
    while {e.status for e in list_events(source="iadvize", limit=100)} != {"done"}:
        assert time.monotonic() < deadline, runs
        runs.append(await archive_conversations(site=SITE, max_seconds=30))
        time.sleep(0.2)
    assert sum(r.get("failed", 0) for r in runs) == 0, runs

    per_conversation = Counter(t["external_id"] for t in tickets(sandbox.url))
    assert per_conversation == {f"iadvize-conversation-{cid}": 1 for cid in CONVERSATIONS}
    assert ticket_posts(sandbox) == len(CONVERSATIONS)  # the tickets made before the kill were not posted again
    assert sum(r.get("tickets_found", 0) for r in runs) == len(made)  # found by external_id, adopted
    for t in tickets(sandbox.url):
        cid = t["external_id"].removeprefix("iadvize-conversation-")
        assert ticket_for(SITE, cid).ticket_id == t["id"] and t["status"] == "solved"
        assert [c["public"] for c in t["comments"]] == [True, False]  # the transcript, then one internal note
