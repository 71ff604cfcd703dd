"""Effect-ledger keys of inbox events: one helper instead of ``f"inbox-{id}:…"`` written by hand.

An event's outcome is recorded under ``inbox-<inbox row id>:<step>``; ``applied`` and ``skipped`` are the two
final steps every handler records (a re-run after a crash finds them and does not apply the event again);
a handler may record finer steps of its own (``inbox-42:remove:7:lea@example.org``).

Example:
    >>> event_key(42, APPLIED)
    'inbox-42:applied'
"""

from __future__ import annotations

from collections.abc import Iterable

APPLIED = "applied"
SKIPPED = "skipped"
FINAL_STEPS = (APPLIED, SKIPPED)


def event_key(row_id: int, step: str) -> str:
    """The ledger key of one step of one inbox event."""
    return f"inbox-{row_id}:{step}"


def final_keys(row_ids: Iterable[int]) -> list[str]:
    """The keys that say an event is settled (applied or skipped), for every row id."""
    return [event_key(row_id, step) for row_id in row_ids for step in FINAL_STEPS]


def is_settled(row_id: int, recorded: set[str]) -> bool:
    """Whether the ledger (the `recorded` keys) says the event was applied or skipped."""
    return any(event_key(row_id, step) in recorded for step in FINAL_STEPS)
