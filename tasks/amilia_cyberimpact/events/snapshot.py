"""Whether an activity is cancelled for all its participants, from a snapshot of the organisation's
registrations (tasks/amilia_cyberimpact/events/fetch.py re-exports it)."""

from __future__ import annotations

import time
from datetime import date

from connectors.amilia.client import AmiliaClient


class RegistrationsSnapshot:
    """The organisation's registrations of the sync window, read to judge "activity cancelled for all
    participants".

    Seed: "Si une activité est complètement annulée pour tous les participants, nous conserverons le groupe
    de l'activité avec sa liste de contacts intacte". The listing is the heaviest read of a batch (every
    registration of the window), so a drain reuses it while it can judge: at most `max_age` seconds old, and
    showing every cancellation being judged as cancelled already — a snapshot taken after the cancellations
    it judges, as a read at processing time would be. Otherwise it is read again.
    """

    def __init__(self, amilia: AmiliaClient, since: date, until: date, max_age: float = 60.0) -> None:
        self.amilia, self.since, self.until, self.max_age = amilia, since, until, max_age
        self.read_at = float("-inf")
        self.cancelled: set[int] = set()
        self.live_by_activity: dict[int, int] = {}
        self.reads = 0

    async def fully_cancelled(self, cancellations: dict[int, set[int]]) -> set[int]:
        """Of the activities given (activity id → ids of the registrations just cancelled), those whose
        registrations in the window are all cancelled."""
        if not cancellations:
            return set()
        await self.refresh(set().union(*cancellations.values()))
        return {a for a in cancellations if not self.live_by_activity.get(a)}

    async def refresh(self, cancelled: set[int]) -> None:
        """Read the registrations again, unless the snapshot can judge these cancellations (see the class).
        A drain calls it with the batch's cancellations while it reads the rest of Amilia, so that the
        heaviest read of a batch is not waited for after planning."""
        if not cancelled or (cancelled <= self.cancelled and time.monotonic() - self.read_at <= self.max_age):
            return
        rows = await self.amilia.list_registrations(self.since, self.until, show_ended=True, project=_fact)
        self.reads += 1
        self.read_at = time.monotonic()
        self.cancelled = {rid for rid, cancelled_, _ in rows if cancelled_}
        self.live_by_activity = {}
        for _, cancelled_, act in rows:
            if act is not None and not cancelled_:
                self.live_by_activity[act] = self.live_by_activity.get(act, 0) + 1


def _fact(r: dict) -> tuple[int, bool, int | None]:
    """What the snapshot keeps of a registration (applied to each page as it arrives)."""
    act = (r.get("Activity") or {}).get("Id")
    return int(r["Id"]), bool(r.get("IsCancelled")), int(act) if act is not None else None
