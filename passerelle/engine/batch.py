"""What a pipeline plugs into the drain engine: a :class:`BatchHandler`, and the :class:`BatchOutcome` of each
batch it writes; and the one report type of a drain run, :class:`DrainReport`.

A handler knows its vendors; the engine (passerelle/engine/drain.py) knows the inbox, the lease, claiming,
pipelining, settling, dead letters and the report. Amilia → Cyberimpact is one handler
(tasks/amilia_cyberimpact/events/handler.py); the iAdvize archival and the zap engine are the next ones.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from passerelle.store.inbox import InboxEvent

Planned = TypeVar("Planned")
TOUCHED_LIMIT = 50  # events listed one by one in a run's report (and its artifact); the counts cover them all


def error_text(exc: BaseException) -> str:
    """An event's error as the inbox keeps it: the class and the text, at most 1 000 characters. Connector
    errors name only the vendor, the method and the path, never a secret."""
    return f"{type(exc).__name__}: {exc}"[:1000]


@dataclass
class BatchOutcome:
    """What became of a batch: which inbox rows are done, failed (retried later) or bad (dead at once), and why.

    `counts` holds the handler's own tallies (e.g. ``contacts_written``), summed over the run's batches;
    `effects` the ledger details recorded for the events settled here (``inbox-<id>:applied`` → JSON).
    """

    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    bad: dict[int, str] = field(default_factory=dict)
    applied: int = 0
    already_applied: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    timings: Counter[str] = field(default_factory=Counter)  # seconds per stage
    effects: dict[str, str] = field(default_factory=dict)

    @classmethod
    def all_failed(cls, rows: list[InboxEvent], exc: BaseException) -> BatchOutcome:
        """A failure outside per-event isolation fails every row of the batch (each is retried later)."""
        return cls(failed={r.id: f"batch failed: {error_text(exc)}"[:1000] for r in rows})


class BatchHandler(Protocol[Planned]):
    """One pipeline's way of applying inbox events; everything else is the engine's.

    - `source`: the inbox source it drains (the gateway's source name, e.g. ``amilia``).
    - `open(link)`: opens the link's connections and reads what every batch shares (ids, caches), once per
      drain run, after the engine holds the link's lease; closed when the drain ends.
    - `plan(rows)`: the read side of a batch (may run while the previous batch is being written).
    - `write(planned)`: the write side; records per-event outcomes in the effect ledger
      (passerelle/engine/ledger.py) and returns the :class:`BatchOutcome`.
    - `calls()`: vendor calls made so far, by vendor, for the report.
    - `describe(detail)`: one applied event's change in words, from its ledger detail.
    - `notes(report)`: the handler's own sentences about the run (after the engine's counts sentence).
    - `skip_meaning`: what a skipped event means, e.g. "nothing to do in Cyberimpact".

    `plan` and `write` raise ``connectors._http.AuthError`` when a vendor refuses the credentials: the engine
    gives the batch back untouched and stops the drain with that error.
    """

    source: str
    skip_meaning: str

    def open(self, link: str) -> AbstractAsyncContextManager[Any]: ...

    async def plan(self, rows: list[InboxEvent]) -> Planned: ...

    async def write(self, planned: Planned) -> BatchOutcome: ...

    def calls(self) -> dict[str, int]: ...

    def describe(self, detail: dict[str, Any]) -> str: ...

    def notes(self, report: DrainReport) -> list[str]: ...


@dataclass
class DrainReport:
    """One drain run, for its flow's artifact, the demo's table and the logs."""

    link: str
    worker: str
    source: str = ""
    busy: bool = False
    batches: int = 0
    claimed: int = 0
    applied: int = 0
    already_applied: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)   # the handler's own tallies
    calls: dict[str, int] = field(default_factory=dict)     # vendor calls, by vendor
    seconds: float = 0.0
    stage_seconds: Counter[str] = field(default_factory=Counter)
    stopped: str | None = None
    touched: list[dict[str, Any]] = field(default_factory=list)  # the first TOUCHED_LIMIT events settled
    skip_meaning: str = "nothing to do"  # what a skipped event means, in the handler's words
    extra_notes: list[str] = field(default_factory=list)  # the handler's sentences, set when the drain ends

    @property
    def settled(self) -> int:
        """Events this run is finished with: applied, skipped, already applied, failed (retry later) or dead."""
        return self.applied + sum(self.skipped.values()) + self.already_applied + self.failed + self.dead

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data; the handler's counts and the calls are also top-level keys
        (``contacts_written``, ``amilia_calls``…)."""
        out = asdict(self)
        out.pop("extra_notes")
        out.pop("skip_meaning")
        out["skipped"] = dict(sorted(self.skipped.items()))
        out["counts"] = dict(sorted(self.counts.items()))
        out["stage_seconds"] = {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())}
        out.update(out["counts"])
        out.update({f"{vendor}_calls": n for vendor, n in self.calls.items()})
        out["notes"] = self.notes()
        return out

    def notes(self) -> list[str]:
        """Why the counts differ, in sentences (the artifact's description, the demo's table)."""
        if self.busy:
            return [f"Another drain of link {self.link!r} was running; it takes the waiting events, so this run "
                    f"did nothing."]
        skipped = sum(self.skipped.values())
        parts = [f"{self.applied} applied", f"{skipped} skipped ({self.skip_meaning})"]
        parts += [text for n, text in (
            (self.already_applied, f"{self.already_applied} already applied by a run that stopped before "
                                   f"recording them"),
            (self.failed, f"{self.failed} failed and will be retried"),
            (self.dead, f"{self.dead} set aside after repeated failures (`passerelle inbox replay` retries them)"),
            (self.released, f"{self.released} given back untouched for the next run")) if n]
        notes = [f"{self.claimed} webhook events taken from the inbox: " + ", ".join(parts) + "."]
        notes += self.extra_notes
        if skipped:
            notes.append("Skipped: " + "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
                         + ".")
        if self.stopped:
            notes.append(f"Stopped early: {self.stopped}")
        return notes

    def rows(self) -> list[dict[str, Any]]:
        """The counts as rows of a Prefect table artifact."""
        items = {k: getattr(self, k) for k in ("batches", "claimed", "applied", "already_applied", "failed",
                                               "dead", "released")}
        items.update(self.counts)
        items.update({f"{vendor}_calls": n for vendor, n in self.calls.items()})
        rows = [{"item": k.replace("_", " "), "count": v} for k, v in items.items()]
        rows += [{"item": f"skipped: {reason}", "count": n} for reason, n in sorted(self.skipped.items())]
        return rows
