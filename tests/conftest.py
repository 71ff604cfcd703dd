"""Shared fixtures: a sandbox (every vendor emulator + control API) on a real socket, and one Prefect test
server per pytest run.

Before anything imports Prefect, the run gets homes of its own: nothing a test does writes to `~/.prefect`
or to the project's `.passerelle/`, and a stack the developer left running (`passerelle up`) is not touched.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_RUN_HOME = Path(tempfile.mkdtemp(prefix="passerelle-tests-"))
os.environ["PREFECT_HOME"] = str(_RUN_HOME / "prefect")
os.environ["PASSERELLE_HOME"] = str(_RUN_HOME / "passerelle")
os.environ.pop("PASSERELLE_DATABASE_URL", None)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_PROFILES_PATH", None)
# pytest-xdist's workers get COLUMNS=80, and a Rich console made at import keeps the width it saw then: the CLI's
# consoles follow the width a test gives (`env={"COLUMNS": ...}`) only when none is set at import.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)



def _database_of_this_worker(url: str, worker: str) -> str:
    """Under `pytest -n` (pytest-xdist), a PostgreSQL test database per worker (`test_gw0`, …), created when
    missing, so two workers never share tables; the URL unchanged when PostgreSQL cannot be reached (the
    PostgreSQL tests then skip, or fail under PASSERELLE_REQUIRE_POSTGRES, as they would anyway)."""
    from sqlalchemy.engine import make_url

    from passerelle.cli.stack_production import ensure_database  # what `up --production-like` creates with

    base = make_url(url)
    worker_url = base.set(database=f"{base.database or 'test'}_{worker}")
    try:
        ensure_database(worker_url.render_as_string(hide_password=False))
    except Exception:  # noqa: BLE001 - not reachable here: the tests say so themselves
        return url
    return worker_url.render_as_string(hide_password=False)


if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["PASSERELLE_TEST_POSTGRES_URL"] = _database_of_this_worker(
        os.environ.get("PASSERELLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        os.environ["PYTEST_XDIST_WORKER"])

# A busy 2-core machine took 49 s to start Prefect's test server: wait up to 5 minutes for it.
PREFECT_STARTUP_TIMEOUT = int(os.environ.get("PASSERELLE_TEST_PREFECT_STARTUP_SECONDS", "300"))

from sandbox.server import SandboxServer  # noqa: E402 - after the homes are set


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A started sandbox with the default vendors (fresh state), stopped after the test."""
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """The run's single Prefect test server (started on first use, stopped at the end of the run)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=PREFECT_STARTUP_TIMEOUT):
        yield
    _quiet_prefect_logging()


def _quiet_prefect_logging() -> None:
    """Flush Prefect's log shipping while its server is still known, then detach its handlers: pytest closes
    the captured streams at exit, and a late record would print "Logging error … I/O operation on closed
    file"."""
    try:
        from prefect.logging.handlers import APILogHandler

        APILogHandler.flush()
    except Exception:  # noqa: BLE001 - best effort at shutdown
        pass
    for name in ("prefect", "prefect.server", "uvicorn", "uvicorn.error", "uvicorn.access", ""):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
