"""One sweep of the zaps: wake the delayed runs and auto-replays that are due (resume.wake_due), then drain every
catch hook that has calls waiting — those just woken, replays a person asked for, and calls whose nudge was
lost. What the ``zaps-resume`` deployment runs each minute, and ``passerelle zaps run`` runs here.

Each hook is drained under its own store lease (``catch-drain:<hook>``): a sweep and an event-triggered
``zaps`` run never drain one hook at once; the one that finds the lease taken leaves the hook to the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from passerelle.engine import DrainOptions, DrainReport, drain
from passerelle.store.engine import off_loop
from passerelle.zaps.resume import hooks_waiting, wake_due
from passerelle.zaps.runner import ZapHandler


@dataclass
class Sweep:
    """What one sweep did: runs woken per hook, and each hook's drain (its report and handler)."""

    woken: dict[str, int] = field(default_factory=dict)
    drains: dict[str, tuple[DrainReport, ZapHandler]] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """Runs per hook and zap, for a table."""
        found = []
        for hook, (report, handler) in sorted(self.drains.items()):
            for row in handler.summary_rows() or [{"zap": "(none ran)"}]:
                found.append({"hook": hook, "woken": self.woken.get(hook, 0), "busy": report.busy, **row})
        return found


async def sweep(worker: str, *, hooks: list[str] | None = None, options: DrainOptions | None = None,
                handler_factory: Callable[[], ZapHandler] = ZapHandler, store_url: str | None = None) -> Sweep:
    """Wake what is due, then drain `hooks` (default: every catch hook with calls waiting)."""
    result = Sweep(woken=await off_loop(store_url, wake_due, url=store_url))
    todo = hooks if hooks is not None else sorted(set(result.woken) | set(
        await off_loop(store_url, hooks_waiting, url=store_url)))
    for hook in todo:
        handler = handler_factory()
        report = DrainReport(link=hook, worker=worker)
        await drain(handler, hook, worker, options, store_url=store_url, report=report)
        result.drains[hook] = (report, handler)
    return result
