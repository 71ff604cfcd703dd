"""Fixtures of the zap tests that drain: a store of their own, the SSRF guard letting 127.0.0.1 through (the local
targets and the sandbox, as the demo does), fast retries, and a scripted HTTP target on a real socket."""

from __future__ import annotations

import pytest

from passerelle.settings import reset_settings_cache
from passerelle.zaps import execute, ssrf
from tests.zaps.runner_support import Target


@pytest.fixture
def zap_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    monkeypatch.setenv(ssrf.ALLOW_NETWORKS_ENV, "127.0.0.1/32")
    monkeypatch.setattr(execute, "RETRY_BASE_SECONDS", 0.01)
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def target():
    with Target() as server:
        yield server
