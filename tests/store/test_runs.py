"""The store's sync-run records and watermarks, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from passerelle.settings import Settings, normalise_database_url
from passerelle.store import (
    finish_sync_run,
    get_sync_run,
    get_watermark,
    latest_sync_run,
    set_watermark,
    start_sync_run,
    update_progress,
)


def test_sync_run_lifecycle(store_url):
    link = f"link-{uuid.uuid4().hex[:8]}"
    run_id = start_sync_run("amilia_initial_sync", link, dry_run=True, flow_run_id="fr-1", url=store_url)
    update_progress(run_id, "planning contacts", 1, 4, url=store_url)
    running = get_sync_run(run_id, url=store_url)
    assert (running.status, running.stage, running.progress_done, running.progress_total) == (
        "running", "planning contacts", 1, 4)
    finish_sync_run(run_id, status="completed", summary={"counts": {"contacts created": 3}}, url=store_url)
    done = latest_sync_run("amilia_initial_sync", link, url=store_url)
    assert done.id == run_id and done.status == "completed" and done.dry_run
    assert done.summary == {"counts": {"contacts created": 3}}
    assert done.finished_at is not None


def test_failed_run_keeps_its_error(store_url):
    link = f"link-{uuid.uuid4().hex[:8]}"
    run_id = start_sync_run("amilia_initial_sync", link, url=store_url)
    finish_sync_run(run_id, status="failed", error="PreflightError: no room", url=store_url)
    assert get_sync_run(run_id, url=store_url).error == "PreflightError: no room"


def test_watermark_never_moves_backwards(store_url):
    link = f"link-{uuid.uuid4().hex[:8]}"
    assert get_watermark("amilia", link, url=store_url) is None
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    set_watermark("amilia", link, now, url=store_url)
    set_watermark("amilia", link, now - timedelta(days=1), url=store_url)
    assert get_watermark("amilia", link, url=store_url).replace(tzinfo=UTC) == now
    set_watermark("amilia", link, now + timedelta(hours=1), url=store_url)
    assert get_watermark("amilia", link, url=store_url).replace(tzinfo=UTC) == now + timedelta(hours=1)


def test_database_url_forms(tmp_path, monkeypatch):
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    assert Settings(home=tmp_path).store_url == f"sqlite:///{tmp_path.resolve() / 'passerelle.db'}"
    monkeypatch.setenv("PASSERELLE_DATABASE_URL", "postgres://u@h/db")
    assert Settings().store_url == "postgresql+psycopg://u@h/db"
