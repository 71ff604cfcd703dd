"""Nothing acknowledged is lost: SIGKILL the gateway process in the middle of a burst."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from passerelle.gateway.server import free_port
from passerelle.store.inbox import list_events
from passerelle.store.links import create_link
from tests.gateway.conftest import body_of, envelope, sha
from tests.gateway.support import start_gateway


def test_every_acknowledged_delivery_survives_sigkill(tmp_path):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    token = create_link("amilia", "default", url=store)
    port = free_port()
    proc, log_path = start_gateway(tmp_path, store, port)
    url = f"http://127.0.0.1:{port}/hooks/amilia/default"
    acked: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(32):
                body = body_of(envelope(payload={"Id": worker * 1000 + i, "Note": "x" * 600}))
                try:
                    ok = client.post(url, params={"token": token}, content=body).status_code == 200
                except httpx.TransportError:
                    ok = False
                with lock:
                    (acked if ok else failed).append(sha(body))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(16)]  # 512 deliveries
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 120 and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: calls in flight, a batch maybe mid-commit
        proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stored = {e.event_id for e in list_events(source="amilia", limit=10_000, url=store)}
    assert len(acked) >= 120 and failed, "the kill did not land in the middle of the burst"
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged deliveries lost"
    assert "could not nudge Prefect" in log_path.read_text()  # Prefect down: warned, calls unaffected
