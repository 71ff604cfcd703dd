"""CLI error tests: each known failure is at most two lines on the terminal, naming the thing and the fix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from passerelle.settings import reset_settings_cache
from sandbox.server import free_port


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch) -> Iterator[None]:
    """A store of the test's own (SQLite under tmp), and no debug mode from the developer's shell."""
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    monkeypatch.delenv("PASSERELLE_DEBUG", raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def closed_port() -> int:
    """A free port nothing listens on: a stopped sandbox, a dead database."""
    return free_port()
