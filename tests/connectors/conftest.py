"""Fixtures of the connector tests: a fast retry policy, a fake sleep, and a sandbox on a real socket.

The sandbox server is started once per session and reset before each test that uses it (the root
conftest's ``sandbox`` fixture starts one per test; these tests use many, so they share one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors._http import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=6, max_total_wait=5.0, initial_wait=0.01, max_wait=0.05)
AMILIA_USER = "demo@passerelle.dev"
AMILIA_PASSWORD = "demo-password"
AMILIA_ORG_SLUG = "centre-passerelle"
CYBER_TOKEN = "sandbox-cyberimpact-token"


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


class SleepRecorder:
    """A fake ``sleep`` for ``ApiClient(sleep=...)``: records the waits, does not sleep."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


class Control:
    """The sandbox control API (`/_sandbox/...`), synchronous: the server runs in its own thread."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def load(self, vendor: str, document: dict[str, Any]) -> None:
        r = self.http.put(f"/_sandbox/{vendor}/state", json=document)
        assert r.status_code == 200, r.text

    def state(self, vendor: str) -> dict[str, Any]:
        return self.http.get(f"/_sandbox/{vendor}/state").raise_for_status().json()

    def faults(self, vendor: str, **faults: Any) -> None:
        self.http.put("/_sandbox/faults", json={vendor: faults}).raise_for_status()

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        return self.http.get(f"/_sandbox/{vendor}/requests").raise_for_status().json()["requests"]

    def clear_requests(self, vendor: str) -> None:
        self.http.delete(f"/_sandbox/{vendor}/requests").raise_for_status()


@pytest.fixture(scope="session")
def _sandbox_session() -> Iterator[Control]:
    from sandbox.server import SandboxServer

    with SandboxServer() as server:
        control = Control(server)
        yield control
        control.http.close()


@pytest.fixture
def sb(_sandbox_session: Control) -> Control:
    """The shared sandbox, reset (state, request logs, faults) for this test."""
    _sandbox_session.reset()
    return _sandbox_session
