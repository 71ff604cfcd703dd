"""One sweep of the zaps: fire the schedules and polls that are due (starters.py), wake the delayed runs and
auto-replays that are due (resume.wake_due), then drain every link of a zap source (catch hooks, apps' webhooks,
schedules, polls) that has events waiting — those just started or woken, replays a person asked for, and events
whose nudge was lost. What the ``zaps-resume`` deployment runs each minute, and
``passerelle zaps run`` runs here.

Each link is drained under its own store lease (``<source>-drain:<link>``): a sweep and an event-triggered
``zaps`` run never drain one hook at once; the one that finds the lease taken leaves the hook to the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from passerelle.engine import DrainOptions, DrainReport, drain
from passerelle.store.engine import off_loop
from passerelle.zaps.registry import triggers
from passerelle.zaps.resume import links_waiting, wake_due
from passerelle.zaps.runner import SOURCE, ZapHandler, load_folder
from passerelle.zaps.runs import zap_flags
from passerelle.zaps.starters import Started, start_due
from passerelle.zaps.suspend import holds, suspended_apps

STARTED = {("schedule", "cron"), ("schedule", "interval"), ("http", "poll")}


def label(source: str, link: str) -> str:
    """How a drained link is named in reports: the hook for a catch hook, ``source/link`` for an app's webhook."""
    return link if source == SOURCE else f"{source}/{link}"


@dataclass
class Sweep:
    """What one sweep did: runs woken per link, and each link's drain (its report and handler)."""

    woken: dict[str, int] = field(default_factory=dict)
    drains: dict[str, tuple[DrainReport, ZapHandler]] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)  # schedule slots and new polled items put in the inbox
    problems: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """Runs per link and zap, for a table."""
        found = []
        for hook, (report, handler) in sorted(self.drains.items()):
            for row in handler.summary_rows() or [{"zap": "(none ran)"}]:
                found.append({"hook": hook, "woken": self.woken.get(hook, 0), "busy": report.busy, **row})
        return found


def zap_sources() -> list[str]:
    """The inbox sources zaps are started by: catch hooks, and each registered trigger's webhook source."""
    return sorted({SOURCE} | {t.source for t in triggers() if t.source})


async def _start(store_url: str | None) -> Started:
    """Fire the schedules and polls that are due (starters.py) for the enabled zaps of the folder."""
    zaps, _ = await off_loop(store_url, load_folder)
    timed = [z for z in zaps if (z.trigger.app, z.trigger.event) in STARTED]
    if not timed:
        return Started()
    flags = await off_loop(store_url, zap_flags, url=store_url)
    suspended = await off_loop(store_url, suspended_apps, url=store_url)
    enabled = {z.id: flags.get(z.id, z.enabled) and not holds(z.trigger.app, suspended) for z in timed}
    return await start_due(timed, enabled, url=store_url)


async def sweep(worker: str, *, hooks: list[str] | None = None, options: DrainOptions | None = None,
                handler_factory: Callable[..., ZapHandler] = ZapHandler, store_url: str | None = None) -> Sweep:
    """Wake what is due, then drain `hooks` (catch hooks, or ``source/link``; default: every link of a zap source
    with events waiting)."""
    started = await _start(store_url)
    woken = await off_loop(store_url, wake_due, url=store_url)
    result = Sweep(woken={label(*key): n for key, n in woken.items()}, problems=started.problems,
                   started={label(*key): n for key, n in started.events.items()})
    if hooks is not None:
        todo = [tuple(h.split("/", 1)) if "/" in h else (SOURCE, h) for h in hooks]
    else:
        waiting = await off_loop(store_url, links_waiting, zap_sources(), url=store_url)
        todo = sorted(set(woken) | set(waiting) | set(started.events))
    for source, link in todo:
        handler = handler_factory(source=source)
        report = DrainReport(link=link, worker=worker)
        await drain(handler, link, worker, options, store_url=store_url, report=report)
        result.drains[label(source, link)] = (report, handler)
    return result
