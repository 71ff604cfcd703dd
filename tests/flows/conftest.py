"""Flows run under prefect_test_harness against the sandbox over a real socket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.credentials import CyberimpactCredentials
from passerelle.settings import reset_settings_cache
from sandbox.server import SandboxServer
from tests.support.cyberimpact_state import CYBERIMPACT_TOKEN

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(prefect_server) -> Iterator[None]:
    """Every flow test runs against the run's one Prefect test server (tests/conftest.py)."""
    yield


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


@dataclass
class Link:
    """A sandbox plus the two credential blocks of one link pointing at it."""

    name: str
    sandbox: SandboxServer

    def load(self, amilia: dict[str, Any], cyberimpact: dict[str, Any] | None = None) -> None:
        httpx.put(f"{self.sandbox.url}/_sandbox/amilia/state", json=amilia, timeout=30).raise_for_status()
        doc = cyberimpact or {"tokens": [CYBERIMPACT_TOKEN]}
        httpx.put(f"{self.sandbox.url}/_sandbox/cyberimpact/state", json=doc, timeout=30).raise_for_status()

    def cyberimpact(self) -> dict[str, Any]:
        return httpx.get(f"{self.sandbox.url}/_sandbox/cyberimpact/state", timeout=30).json()

    def requests(self, vendor: str) -> list[dict[str, Any]]:
        return httpx.get(f"{self.sandbox.url}/_sandbox/{vendor}/requests", timeout=30).json()["requests"]

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests("cyberimpact") if r["method"] in WRITE_METHODS]

    def clear_requests(self) -> None:
        for vendor in ("amilia", "cyberimpact"):
            httpx.delete(f"{self.sandbox.url}/_sandbox/{vendor}/requests", timeout=30).raise_for_status()

    def group_members(self, title: str) -> set[str]:
        headers = {"Authorization": f"Bearer {CYBERIMPACT_TOKEN}"}
        groups = httpx.get(f"{self.sandbox.cyberimpact_url}/groups", params={"limit": 10000},
                           headers=headers, timeout=30).json()["groups"]
        group = next(g for g in groups if g["title"] == title)
        members = httpx.get(f"{self.sandbox.cyberimpact_url}/groups/{group['id']}/members",
                            params={"limit": 10000, "status": "all"}, headers=headers, timeout=30).json()
        return {m["email"] for m in members["members"]}


@pytest.fixture
def link() -> Iterator[Link]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    with SandboxServer() as sandbox:
        AmiliaCredentials(username="demo@passerelle.dev", password="demo-password", organization="8008",
                          base_url=sandbox.amilia_url).save(name, overwrite=True)
        CyberimpactCredentials(api_token=CYBERIMPACT_TOKEN, base_url=sandbox.cyberimpact_url).save(
            name, overwrite=True)
        yield Link(name, sandbox)
