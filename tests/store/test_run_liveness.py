"""Runs a crash left "running" (hardening issue, part 5): a run whose process died is recorded as crashed once
its heartbeat is older than `run_stale_after_seconds`, and the next run of its link may start; on SQLite and
PostgreSQL, with a process really killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from passerelle.settings import reset_settings_cache
from passerelle.store import finish_sync_run, get_sync_run, latest_sync_run, live_sync_run, reap_stale_runs
from passerelle.store.effects import lease_holder
from passerelle.store.engine import engine_for
from passerelle.store.runs import CRASHED, beat, start_sync_run

ROOT = Path(__file__).resolve().parents[2]
KIND = "amilia_initial_sync"


@pytest.fixture(autouse=True)
def quick_heartbeats(monkeypatch):
    monkeypatch.setenv("PASSERELLE_RUN_HEARTBEAT_SECONDS", "0.2")
    monkeypatch.setenv("PASSERELLE_RUN_STALE_AFTER_SECONDS", "2")
    reset_settings_cache()
    yield
    reset_settings_cache()


def killed_run(store_url: str, link: str) -> int:
    """A process that starts a live run of `link`, beats a few times, then is killed with SIGKILL."""
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from passerelle.store import live_sync_run, update_progress
        with live_sync_run({KIND!r}, {link!r}, lease="sync:{link}", holder="doomed", url={store_url!r}) as run_id:
            update_progress(run_id, "loading contacts", 2, 4, url={store_url!r})
            print(run_id, flush=True)
            time.sleep(0.7)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    child = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ})
    assert child.returncode == -signal.SIGKILL, child.stderr
    return int(child.stdout.split()[0])


def test_a_killed_run_is_recorded_as_crashed_and_the_next_run_of_its_link_starts(store_url):
    link = f"link-{uuid.uuid4().hex[:8]}"
    run_id = killed_run(store_url, link)
    assert get_sync_run(run_id, url=store_url).status == "running"  # just killed: not yet known dead
    with live_sync_run(KIND, link, lease=f"sync:{link}", holder="next", url=store_url) as blocked:
        assert blocked is None  # the lease of the dead run has not expired yet
    time.sleep(2.3)
    crashed = latest_sync_run(KIND, link, url=store_url)
    assert (crashed.id, crashed.status, crashed.stage) == (run_id, CRASHED, CRASHED)
    assert crashed.finished_at is not None
    assert "while loading contacts" in crashed.error and "process running it died" in crashed.error
    with live_sync_run(KIND, link, lease=f"sync:{link}", holder="next", url=store_url) as next_id:
        assert next_id is not None and next_id != run_id
        assert lease_holder(f"sync:{link}", url=store_url) == "next"
        finish_sync_run(next_id, status="completed", url=store_url)
    assert lease_holder(f"sync:{link}", url=store_url) is None  # released at the end


def test_a_live_run_is_never_reaped_while_it_beats(store_url):
    link = f"link-{uuid.uuid4().hex[:8]}"
    with live_sync_run(KIND, link, lease=f"sync:{link}", holder="alive", url=store_url) as run_id:
        time.sleep(2.6)  # longer than stale_after: the heartbeat thread kept it fresh
        assert run_id not in reap_stale_runs(url=store_url)
        assert get_sync_run(run_id, url=store_url).status == "running"
        finish_sync_run(run_id, status="completed", url=store_url)
    assert not beat(run_id, url=store_url)  # a finished run is not marked alive again


def test_reaping_is_scoped_to_the_kind_and_link_asked(store_url):
    a, b = (f"link-{uuid.uuid4().hex[:8]}" for _ in range(2))
    old_a = start_sync_run(KIND, a, url=store_url)
    old_b = start_sync_run(KIND, b, url=store_url)
    with engine_for(store_url).begin() as conn:
        conn.execute(text("UPDATE sync_run SET heartbeat_at = :t WHERE id IN (:a, :b)"),
                     {"t": "2000-01-01 00:00:00", "a": old_a, "b": old_b})
    assert reap_stale_runs(KIND, a, url=store_url) == [old_a]
    assert get_sync_run(old_b, url=store_url).status == "running"
    assert old_b in reap_stale_runs(url=store_url)  # what the webhook drain does every minute


def test_an_older_store_gets_the_heartbeat_column(tmp_path):
    """A store created before runs had a heartbeat: its sync_run table gains the column, its rows are kept."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:
        conn.execute(text("CREATE TABLE sync_run (id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL, link VARCHAR NOT "
                          "NULL, flow_run_id VARCHAR, dry_run BOOLEAN NOT NULL, status VARCHAR NOT NULL, stage "
                          "VARCHAR NOT NULL, progress_done INTEGER NOT NULL, progress_total INTEGER NOT NULL, "
                          "started_at DATETIME NOT NULL, finished_at DATETIME, summary JSON, error TEXT)"))
        conn.execute(text("INSERT INTO sync_run VALUES (1, 'amilia_initial_sync', 'default', NULL, 0, 'completed', "
                          "'done', 4, 4, '2026-01-01 00:00:00', '2026-01-01 00:10:00', '{}', NULL)"))
    old.dispose()
    engine_for(url)
    assert "heartbeat_at" in {c["name"] for c in inspect(create_engine(url)).get_columns("sync_run")}
    assert latest_sync_run(KIND, "default", url=url).status == "completed"
