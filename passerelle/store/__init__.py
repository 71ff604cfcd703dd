"""The store: sync runs, watermarks and the effect ledger (sqlmodel; SQLite or PostgreSQL)."""

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

from passerelle.store import (
    effects,  # noqa: E402,F401  (registers the lease table; the effect ledger)
    inbox,  # noqa: E402,F401  (registers the inbox table)
    links,  # noqa: E402,F401  (registers the hook_link table)
)
