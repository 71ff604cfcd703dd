"""What the gateway does to a SQLite store: commit durability, and WAL checkpoints off the commit path.

- `synchronous=FULL` (default; `PASSERELLE_GATEWAY_SQLITE_SYNCHRONOUS`): each commit syncs the WAL, so an
  acknowledged delivery survives a power loss, not only a process crash. Group commit pays one sync per
  batch of calls.
- Locks: a commit waits at most `store_lock_timeout_seconds` (`PRAGMA busy_timeout`) for a store another
  process holds locked, then fails: the calls get 503 with Retry-After instead of waiting for the lock.
- Checkpoints: SQLite copies the WAL back into the database file every ~1000 pages, inside whichever
  commit crosses the mark, which then takes tens of milliseconds (the calls waiting on it too). The
  gateway's connections turn that off and a background task runs a PASSIVE checkpoint (it never blocks a
  writer) on its own connection, off the event loop, once a second while deliveries come in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Engine

from passerelle.store.engine import get_engine

log = logging.getLogger("passerelle.gateway")


def _pragmas(synchronous: str, busy_ms: int):
    wanted = (synchronous, busy_ms)

    def on_checkout(dbapi_connection, record, _proxy) -> None:
        if record.info.get("gateway_pragmas") == wanted:
            return  # already set on this connection
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()
        record.info["gateway_pragmas"] = wanted

    return on_checkout


_LISTENERS: dict[Engine, object] = {}  # the gateway's checkout listener on each engine


def prepare_store(url: str, synchronous: str, lock_timeout: float = 3.0) -> Engine:
    """Create the tables if needed; on SQLite, set the gateway's pragmas on every connection it uses
    (durability, checkpoints, and how long a commit waits for a lock: `lock_timeout` seconds)."""
    engine = get_engine(url)
    if engine.dialect.name == "sqlite":
        previous = _LISTENERS.pop(engine, None)
        if previous is not None and event.contains(engine, "checkout", previous):
            event.remove(engine, "checkout", previous)
        _LISTENERS[engine] = listener = _pragmas(synchronous, max(1, round(lock_timeout * 1000)))
        event.listen(engine, "checkout", listener)
    return engine


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval` seconds when `changed()` says there were
    commits since the last one."""

    def __init__(self, engine: Engine, changed: Callable[[], int], interval: float = 1.0) -> None:
        self.engine, self.changed, self.interval = engine, changed, interval
        self._task: asyncio.Task | None = None
        self.checkpoints = 0

    def start(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._task = asyncio.create_task(self._run(), name="wal-checkpoint")

    def _checkpoint(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self.checkpoints += 1

    async def _run(self) -> None:
        seen = self.changed()
        while True:
            await asyncio.sleep(self.interval)
            now = self.changed()
            if now == seen:
                continue
            seen = now
            try:
                await asyncio.to_thread(self._checkpoint)
            except Exception as exc:  # the next commit still works; the WAL just grows until the next try
                log.warning("WAL checkpoint failed: %s: %s", type(exc).__name__, exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._checkpoint)
