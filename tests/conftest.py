"""Shared fixtures: a sandbox (every vendor emulator + control API) on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.server import SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A started sandbox with the default vendors (fresh state), stopped after the test."""
    with SandboxServer() as server:
        yield server
