"""Nothing acknowledged is lost: SIGKILL the gateway process in the middle of a burst."""

from __future__ import annotations

import os
import signal

from passerelle.gateway.server import free_port
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from tests.gateway.support import Burst, start_gateway


def test_every_acknowledged_delivery_survives_sigkill(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    token = create_link("amilia", "default", url=store)
    port = free_port()
    proc, log_path = start_gateway(tmp_path, store, port)
    url = f"http://127.0.0.1:{port}/hooks/amilia/default"
    burst = Burst(url, token, workers=16, per_worker=32, note_bytes=600)  # 512 deliveries
    try:
        burst.start().wait_acked(120)
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: calls in flight, a batch maybe mid-commit
        proc.wait(timeout=10)
        burst.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    acked, failed = burst.acked, burst.failed
    stored = {e.event_id for e in list_events(source="amilia", limit=10_000, url=store)}
    assert len(acked) >= 120 and failed, "the kill did not land in the middle of the burst"
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged deliveries lost"
    assert "could not nudge Prefect" in log_path.read_text()  # Prefect down: warned, calls unaffected
