"""A drain's progress in the Prefect UI: events settled out of settled + still waiting, every few seconds.

Example:
    async with following(progress, report, "amilia", done="events settled", left="waiting in the inbox"):
        await drain(handler, link, worker, options, report=report)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from passerelle.engine.batch import DrainReport
from passerelle.progress import RunProgress
from passerelle.store import inbox

EVERY_SECONDS = 2.0


def waiting(source: str, link: str) -> int:
    """Events of the link not settled yet: pending, or claimed by a drain."""
    counts = inbox.stats(source, link)
    return counts.get(inbox.PENDING, 0) + counts.get(inbox.PROCESSING, 0)


async def _follow(progress: RunProgress, report: DrainReport, source: str, done: str, left: str,
                  every: float) -> None:
    while True:
        await asyncio.sleep(every)
        still = await asyncio.to_thread(waiting, source, report.link)
        await progress.update(f"batch {report.batches}", report.settled, report.settled + still,
                              f"{report.settled} {done}, {still} {left}")


@contextlib.asynccontextmanager
async def following(progress: RunProgress, report: DrainReport, source: str, *, done: str, left: str,
                    every: float = EVERY_SECONDS) -> AsyncIterator[None]:
    """Keep `progress` in step with the drain filling `report` while the block runs."""
    follower = asyncio.ensure_future(_follow(progress, report, source, done, left, every))
    try:
        yield
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
