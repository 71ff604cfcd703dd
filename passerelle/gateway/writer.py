"""Group commit: one writer task stores the deliveries of many concurrent calls in one transaction.

A call hands its deliveries to `GroupCommitWriter.submit` and awaits the result. The writer takes every
waiting call (up to `max_deliveries`, never splitting a call), waits `linger` seconds for more when the
batch is not full, commits the batch in one transaction on its own thread, then resolves each call's
future. So a call is answered only after its rows are committed, and N concurrent calls cost one commit
(one fsync) instead of N.

When a batch fails because one call's data is refused by the database, each of its calls is retried alone,
so only the faulty call fails; when the database itself is unavailable (locked past the lock timeout, down),
the whole batch fails at once, and so do the calls that queued behind it meanwhile (503: the vendors
retry): none waits longer than about one lock timeout, and they were not attempted, so nothing of them is
stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from passerelle.store.inbox import Delivery, store_deliveries

log = logging.getLogger("passerelle.gateway")


# The database itself is unavailable (locked, down, disk full): retrying each call alone would only
# multiply the wait. Anything else (a value the database refuses) is blamed on one call of the batch.
# The SQLite path commits on the DB-API connection, so its "database is locked" is sqlite3's own error.
_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, SATimeoutError, OSError,
                sqlite3.OperationalError, sqlite3.InterfaceError)


class StoreUnavailable(Exception):
    """The deliveries could not be committed; nothing of this call was acknowledged."""


def store_unique(deliveries: list[Delivery], url: str | None = None) -> list[bool]:
    """`store_deliveries` for a batch mixing calls: per delivery, whether it was new.

    The first of several identical (source, link, event id) in the batch is the new one. Deliveries of
    different links that share an event id (the same body posted to two links) go into separate inserts,
    because `store_deliveries` reports newness by event id.
    """
    result = [False] * len(deliveries)
    first: dict[tuple[str, str, str], int] = {}
    for i, d in enumerate(deliveries):
        first.setdefault((d.source, d.link, d.event_id), i)
    remaining = sorted(first.values())
    while remaining:
        batch, later, ids = [], [], set()
        for i in remaining:
            (later if deliveries[i].event_id in ids else batch).append(i)
            ids.add(deliveries[i].event_id)
        for i, new in zip(batch, store_deliveries([deliveries[i] for i in batch], url=url), strict=True):
            result[i] = new
        remaining = later
    return result


@dataclass
class _Job:
    deliveries: list[Delivery]
    future: asyncio.Future = field(repr=False)


class GroupCommitWriter:
    """See the module docstring. `store(deliveries) -> [new?]` runs on one dedicated thread."""

    def __init__(self, store: Callable[[list[Delivery]], list[bool]], linger: float = 0.001,
                 max_deliveries: int = 500) -> None:
        self._store = store
        self.linger = linger
        self.max_deliveries = max_deliveries
        self._pending: deque[_Job] = deque()
        self._pending_count = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self.commits = 0  # batches committed, for the curious (tests, bench)

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def stop(self) -> None:
        """Commit what is waiting, then stop."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, deliveries: list[Delivery]) -> list[bool]:
        """Store `deliveries` durably (one transaction with other calls'); per delivery, whether it was new."""
        if self._task is None or self._task.done():
            raise StoreUnavailable("the inbox writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(deliveries, future))
        self._pending_count += len(deliveries)
        self._wakeup.set()
        return await future

    def _take(self) -> list[_Job]:
        limit = self.max_deliveries
        batch, count = [], 0
        while self._pending and (not batch or count + len(self._pending[0].deliveries) <= limit):
            job = self._pending.popleft()
            batch.append(job)
            count += len(job.deliveries)
        self._pending_count -= count
        return batch

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if not self._pending:
                    if self._closing:
                        return
                    continue
                if self.linger and self._pending_count < self.max_deliveries and not self._closing:
                    await asyncio.sleep(self.linger)
                batch = self._take()
                await self._commit(batch)
                if self._pending or self._closing:
                    self._wakeup.set()
        finally:  # never leave a call waiting on a writer that is gone
            while self._pending:
                _resolve(self._pending.popleft().future, exc=StoreUnavailable("the inbox writer stopped"))

    async def _commit(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        deliveries = [d for job in batch for d in job.deliveries]
        try:
            flags = await loop.run_in_executor(self._executor, self._store, deliveries)
        except Exception as exc:
            if len(batch) > 1 and not isinstance(exc, _UNAVAILABLE):  # one call's data: commit each alone
                for job in batch:
                    await self._commit([job])
                return
            log.warning("inbox commit failed (%d deliveries): %s: %s", len(deliveries), type(exc).__name__,
                        str(exc).splitlines()[0][:300] if str(exc) else "")
            if isinstance(exc, _UNAVAILABLE):  # those queued meanwhile would wait as long again: 503 now
                batch = batch + list(self._pending)
                self._pending.clear()
                self._pending_count = 0
            for job in batch:
                _resolve(job.future, exc=StoreUnavailable(type(exc).__name__))
            return
        self.commits += 1
        start = 0
        for job in batch:
            n = len(job.deliveries)
            _resolve(job.future, result=flags[start:start + n])
            start += n


def _resolve(future: asyncio.Future, result=None, exc: BaseException | None = None) -> None:
    if future.done():  # the caller went away (cancelled); its rows are committed all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
