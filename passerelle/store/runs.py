"""Sync-run records and watermarks.

A running run proves it is alive: :class:`RunHeartbeat` (a daemon thread, so a busy event loop cannot stop
it) marks its row every ``PASSERELLE_RUN_HEARTBEAT_SECONDS`` (30 s) and renews its lease. A process killed
(``kill -9``, out of memory, machine restart) stops beating; after ``PASSERELLE_RUN_STALE_AFTER_SECONDS``
(120 s) :func:`reap_stale_runs` records its row as ``crashed``, saying when it was last seen, and its lease
has expired, so the next run of the link starts (:func:`live_sync_run`). Reaping happens when a run of the
same kind and link starts or is read, and every minute from the webhook drain's schedule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import select

from passerelle.settings import get_settings
from passerelle.store.effects import acquire_lease, release_lease, renew_lease
from passerelle.store.engine import session_scope
from passerelle.store.models import SyncRun, Watermark, utcnow

logger = logging.getLogger("passerelle.store.runs")
CRASHED = "crashed"


def start_sync_run(kind: str, link: str, *, dry_run: bool = False, flow_run_id: str | None = None,
                   url: str | None = None) -> int:
    """Record a new running run (rows of this kind and link whose process died are recorded as crashed)."""
    reap_stale_runs(kind, link, url=url)
    with session_scope(url) as s:
        run = SyncRun(kind=kind, link=link, dry_run=dry_run, flow_run_id=flow_run_id, heartbeat_at=utcnow())
        s.add(run)
        s.flush()
        return run.id


def beat(run_id: int, url: str | None = None) -> bool:
    """Mark a running run alive now. Returns False when the row is no longer running (finished or reaped)."""
    with session_scope(url) as s:
        done = s.execute(update(SyncRun).where(SyncRun.id == run_id, SyncRun.status == "running")
                         .values(heartbeat_at=utcnow()))
        return done.rowcount == 1


def reap_stale_runs(kind: str | None = None, link: str | None = None, *, stale_after: float | None = None,
                    url: str | None = None) -> list[int]:
    """Record as crashed the running runs (of `kind` and `link` when given) not seen alive for
    `stale_after` seconds (default: the setting). Returns their ids."""
    seconds = get_settings().run_stale_after_seconds if stale_after is None else stale_after
    now = utcnow()
    last_seen = func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at)
    with session_scope(url) as s:
        stmt = select(SyncRun).where(SyncRun.status == "running", last_seen < now - timedelta(seconds=seconds))
        if kind is not None:
            stmt = stmt.where(SyncRun.kind == kind)
        if link is not None:
            stmt = stmt.where(SyncRun.link == link)
        reaped = []
        for run in s.exec(stmt.with_for_update(skip_locked=True)).all():
            seen = run.heartbeat_at or run.started_at
            run.status, run.finished_at = CRASHED, now
            run.error = (f"crashed: no sign of life since {seen:%Y-%m-%d %H:%M:%S} UTC, while "
                         f"{run.stage or 'starting'}; the process running it died (killed, out of memory or "
                         f"machine restarted). Nothing after that point was done; run it again")
            run.stage = CRASHED
            reaped.append(run.id)
    for run_id in reaped:
        logger.warning("sync run %s recorded as crashed (no heartbeat for %.0f s)", run_id, seconds)
    return reaped


class RunHeartbeat:
    """Marks a run's row alive (and renews its lease, when it has one) from a daemon thread until stopped.

    Example:
        with RunHeartbeat(run_id, lease="amilia-initial-sync:default", holder=flow_run_id):
            ...  # the run's work; a process killed here is recorded as crashed 2 minutes later
    """

    def __init__(self, run_id: int, *, lease: str | None = None, holder: str = "", every: float | None = None,
                 url: str | None = None) -> None:
        settings = get_settings()
        self.run_id, self.lease, self.holder, self.url = run_id, lease, holder, url
        self.every = settings.run_heartbeat_seconds if every is None else every
        self.lease_seconds = settings.run_stale_after_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sync-run-{run_id}-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                beat(self.run_id, self.url)
                if self.lease:
                    renew_lease(self.lease, self.holder, self.lease_seconds, self.url)
            except Exception as exc:  # noqa: BLE001 - a store hiccup must not kill the run; the next beat retries
                logger.warning("sync run %s: could not mark it alive: %s: %s", self.run_id,
                               type(exc).__name__, exc)

    def __enter__(self) -> RunHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.lease:
            release_lease(self.lease, self.holder, self.url)


@contextmanager
def live_sync_run(kind: str, link: str, *, lease: str, holder: str, dry_run: bool = False,
                  flow_run_id: str | None = None, url: str | None = None) -> Iterator[int | None]:
    """Start a run of `kind` for `link` that only one process at a time may hold (the lease `lease`), kept
    alive by a :class:`RunHeartbeat`. Yields its row id, or None when a live run holds the lease (a run
    that died loses it after ``run_stale_after_seconds``). The caller finishes the row."""
    if not acquire_lease(lease, holder, get_settings().run_stale_after_seconds, url):
        yield None
        return
    run_id = start_sync_run(kind, link, dry_run=dry_run, flow_run_id=flow_run_id, url=url)
    with RunHeartbeat(run_id, lease=lease, holder=holder, url=url):
        yield run_id


def update_progress(run_id: int, stage: str, done: int = 0, total: int = 0, url: str | None = None) -> None:
    with session_scope(url) as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            return
        run.stage, run.progress_done, run.progress_total = stage, done, total


def finish_sync_run(run_id: int, *, status: str, summary: dict[str, Any] | None = None,
                    error: str | None = None, url: str | None = None) -> None:
    with session_scope(url) as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"sync run {run_id} is not in the store")
        run.status = status
        run.finished_at = utcnow()
        run.stage = status
        if summary is not None:
            run.summary = summary
        run.error = error


def get_sync_run(run_id: int, url: str | None = None) -> SyncRun | None:
    with session_scope(url) as s:
        return s.get(SyncRun, run_id)


def latest_sync_run(kind: str, link: str, url: str | None = None) -> SyncRun | None:
    reap_stale_runs(kind, link, url=url)
    with session_scope(url) as s:
        stmt = (select(SyncRun).where(SyncRun.kind == kind, SyncRun.link == link)
                .order_by(SyncRun.id.desc()).limit(1))
        return s.exec(stmt).first()


def get_watermark(source: str, link: str, url: str | None = None) -> datetime | None:
    with session_scope(url) as s:
        row = s.get(Watermark, (source, link))
        return row.value if row else None


def set_watermark(source: str, link: str, value: datetime, url: str | None = None) -> None:
    """Move the watermark to `value`; it never moves backwards."""
    with session_scope(url) as s:
        row = s.get(Watermark, (source, link))
        if row is None:
            s.add(Watermark(source=source, link=link, value=value))
        elif value > row.value:
            row.value, row.updated_at = value, utcnow()
