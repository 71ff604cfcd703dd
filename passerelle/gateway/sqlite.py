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
- Several gateway processes on one store file (`PASSERELLE_GATEWAY_PROCESSES`): their commits take turns on a
  file lock beside the store (`CommitLock`), which wakes the next writer as soon as the lock is free.
  SQLite's own busy handler sleeps 1, 2, 5, 10 … ms between tries when two writers collide, which made p99
  latencies of 185–245 ms under load (docs/webhooks.md); the lock keeps the handler for other writers (drains).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from passerelle.store.engine import get_engine

log = logging.getLogger("passerelle.gateway")
T = TypeVar("T")


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


class CommitLock:
    """An exclusive lock the gateway processes sharing one SQLite store take around each commit.

    A `flock` on `<store>.gateway-lock`: the kernel frees it when its holder dies (even by SIGKILL), so a
    crashed process never leaves the others locked out. It is tried without blocking, then again after pauses
    of 50 µs doubling up to 1 ms (a commit takes about a millisecond), for at most `timeout` seconds; then the
    commit fails as a locked store does (`sqlite3.OperationalError`), and its calls get 503 with Retry-After.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path, self.timeout = path, timeout
        self._fd: int | None = None
        self.waits = 0  # commits that found the lock taken, for the curious (tests, bench)

    @classmethod
    def for_store(cls, url: str, timeout: float) -> CommitLock | None:
        """The lock of a SQLite store file; None for another database (PostgreSQL takes concurrent writers)."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(f"{parsed.database}.gateway-lock", timeout)

    def _acquire(self) -> None:
        if self._fd is None:  # opened in the process that commits (never inherited across a fork)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline, pause = None, 0.00005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.timeout
                    self.waits += 1
                elif now >= deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: another gateway process held {self.path} for {self.timeout:g} s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def wrap(self, store: Callable[[list], T]) -> Callable[[list], T]:
        """`store` run under the lock."""
        def locked(deliveries: list) -> T:
            self._acquire()
            try:
                return store(deliveries)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return locked

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
