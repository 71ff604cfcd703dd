"""Helpers shared by the gateway's tests that run `passerelle gateway serve` as a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from passerelle.gateway.server import free_port
from tests.gateway.conftest import body_of, envelope, sha

ROOT = Path(__file__).resolve().parents[2]


def start_gateway(tmp_path: Path, store: str, port: int, *args: str) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PASSERELLE_"))}
    env.update({"PASSERELLE_DATABASE_URL": store, "PASSERELLE_HOME": str(tmp_path / "home"),
                "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                # Prefect is "configured" but down: nudges fail, calls must not
                "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
    log_path = tmp_path / "gateway.log"
    cli = Path(sys.executable).with_name("passerelle")
    cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "passerelle.cli.main"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*cmd, "gateway", "serve", "--port", str(port), *args], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, log_path
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"gateway did not start: {log_path.read_text()}")


class Burst:
    """`workers` threads each posting `per_worker` distinct Amilia envelopes to `url`; `acked` holds the hashes of
    the bodies answered 200, `failed` the others (an error status or a broken connection). A worker opens a new
    connection every `reconnect_every` posts (0: one connection throughout)."""

    def __init__(self, url: str, token: str, workers: int, per_worker: int, note_bytes: int = 0,
                 reconnect_every: int = 0) -> None:
        self.url, self.token, self.per_worker = url, token, per_worker
        self.note_bytes, self.reconnect_every = note_bytes, reconnect_every
        self.acked: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, args=(w,)) for w in range(workers)]

    def _send(self, worker: int) -> None:
        client = httpx.Client(timeout=10)
        try:
            for i in range(self.per_worker):
                if self.reconnect_every and i and i % self.reconnect_every == 0:
                    client.close()
                    client = httpx.Client(timeout=10)
                payload = {"Id": worker * 1000 + i, **({"Note": "x" * self.note_bytes} if self.note_bytes else {})}
                body = body_of(envelope(payload=payload))
                try:
                    ok = client.post(self.url, params={"token": self.token}, content=body).status_code == 200
                except httpx.TransportError:
                    ok = False
                with self._lock:
                    (self.acked if ok else self.failed).append(sha(body))
        finally:
            client.close()

    def start(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def wait_acked(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` posts are acknowledged (or `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.001)

    def join(self, timeout: float = 60.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
