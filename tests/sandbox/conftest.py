"""Fixtures for the sandbox tests: a Cyberimpact-only sandbox shared by a module, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sandbox.app import create_app
from sandbox.cyberimpact.app import build_cyberimpact
from sandbox.server import SandboxServer

TOKEN = "sandbox-cyberimpact-token"


@pytest.fixture(scope="module")
def cyber_server() -> Iterator[SandboxServer]:
    """A sandbox serving only the Cyberimpact emulator (independent of the other emulators)."""
    with SandboxServer(app=create_app([build_cyberimpact()])) as server:
        yield server


@pytest.fixture
async def control(cyber_server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """Client on the sandbox root (control API); the sandbox is reset first."""
    async with httpx.AsyncClient(base_url=cyber_server.url, timeout=30) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
async def ci(cyber_server: SandboxServer, control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated client on the Cyberimpact emulator of a freshly reset sandbox."""
    async with httpx.AsyncClient(base_url=cyber_server.cyberimpact_url, timeout=30,
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client
