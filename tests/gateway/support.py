"""Helpers shared by the gateway's tests that run `passerelle gateway serve` as a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from passerelle.gateway.server import free_port

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
