"""The real `passerelle` script: a known error is one line on the terminal, exit code 1; `--debug` and
PASSERELLE_DEBUG=1 keep the traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSERELLE = Path(sys.executable).with_name("passerelle")
PASSWORD = "s3cret-pw"


@pytest.fixture
def env(tmp_path, closed_port) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PASSERELLE_"))}
    return env | {"PREFECT_HOME": str(tmp_path / "prefect"), "PASSERELLE_HOME": str(tmp_path / "home"),
                  "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "80",
                  "PASSERELLE_DATABASE_URL": f"postgresql://x:{PASSWORD}@127.0.0.1:{closed_port}/db"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PASSERELLE), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not PASSERELLE.exists(), reason="the passerelle script is not installed in this venv")
def test_unreachable_store_is_one_line_and_debug_keeps_the_traceback(env, closed_port) -> None:
    done = run(env, "inbox", "list")
    assert done.returncode == 1, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "PASSERELLE_DATABASE_URL" in lines[0] and f"127.0.0.1:{closed_port}" in lines[0]
    assert PASSWORD not in lines[0]

    for debug in (run(env, "--debug", "inbox", "list"), run(env | {"PASSERELLE_DEBUG": "1"}, "inbox", "list")):
        assert debug.returncode == 1 and "Traceback" in debug.stderr and "StoreUnavailable" in debug.stderr
        assert PASSWORD not in debug.stdout + debug.stderr
