"""Sync-run records and watermarks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from passerelle.store.engine import session_scope
from passerelle.store.models import SyncRun, Watermark, utcnow


def start_sync_run(kind: str, link: str, *, dry_run: bool = False, flow_run_id: str | None = None,
                   url: str | None = None) -> int:
    with session_scope(url) as s:
        run = SyncRun(kind=kind, link=link, dry_run=dry_run, flow_run_id=flow_run_id)
        s.add(run)
        s.flush()
        return run.id


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
