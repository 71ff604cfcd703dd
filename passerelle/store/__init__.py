"""The store: sync runs, watermarks, the effect ledger and leases, the inbox, webhook links, registration facts
(sqlmodel; SQLite or PostgreSQL). Every table is in models.py; Alembic migrations (migrations/) keep a store's
schema current: docs/store.md."""

from passerelle.store.engine import get_engine, session_scope
from passerelle.store.models import Effect, SyncRun, Watermark
from passerelle.store.runs import (
    RunHeartbeat,
    finish_sync_run,
    get_sync_run,
    get_watermark,
    latest_sync_run,
    live_sync_run,
    reap_stale_runs,
    set_watermark,
    start_sync_run,
    update_progress,
)

__all__ = [
    "Effect", "RunHeartbeat", "SyncRun", "Watermark", "finish_sync_run", "get_engine", "get_sync_run",
    "get_watermark", "latest_sync_run", "live_sync_run", "reap_stale_runs", "session_scope", "set_watermark",
    "start_sync_run", "update_progress",
]
