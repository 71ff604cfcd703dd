"""The polling trigger's dedupe: which items of a poll are new, remembered across polls and restarts (docs/zaps.md,
"Polling").

A polling trigger (`http.poll`: a GET that returns a list) sees the same items poll after poll; only the ones
never seen before may start the zap. An item is known by its dedupe key (`id` by default, or several fields,
e.g. `("id", "updated_at")` for an "updated" trigger, the fix Zapier users had to fake). What was seen is kept
in the store's effect ledger (passerelle/store/effects.py), one key per zap and item, `poll:<zap>:<digest>`:
it survives restarts, and recording is insert-if-absent, so two pollers racing each take an item at most once.

- `unseen()` reads only; `mark_seen()` records. At-least-once, the recommended order: emit the unseen items
  into the inbox (deduped on the event id `item_key()` gives), then `mark_seen()`; a crash in between
  re-emits them next poll and the inbox drops the copies.
- `new_items()` records and returns the new ones in one step (at-most-once, for callers with no inbox).
- Enabling a zap seeds (`seed=True`): what is there now is marked seen and nothing fires (Zapier's
  `isPopulatingDedupe`). A test run (`test=True`) writes no trigger state.

Example:
    fresh = new_items("zap-okast-renewal", page, dedupe_key="id")   # first poll: all; the next: only new ones
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete

from passerelle.store.effects import done_keys, effect_details, record_effects
from passerelle.store.engine import session_scope
from passerelle.store.models import Effect
from passerelle.zaps.registry import trigger

PREFIX = "poll:"

trigger("http", "poll", title="New item in a list (polling)", kind="polling", source="poll",
        sample={"id": 42, "name": "Léa Tremblay", "email": "lea@example.org", "created_at": "2026-11-27T09:00:00Z"},
        dedupe_key="id",
        description="Polls a URL with GET on a schedule; the answer is a JSON list (or a list under items_path). "
        "Each item never seen before, by its dedupe key (id by default), starts the zap once; enabling the zap "
        "marks what is already there as seen.")


class PollError(ValueError):
    """A poll answer that cannot be deduped (not a list, an item without its dedupe key)."""


def _fields(dedupe_key: str | Sequence[str]) -> tuple[str, ...]:
    fields = (dedupe_key,) if isinstance(dedupe_key, str) else tuple(dedupe_key)
    if not fields or not all(isinstance(f, str) and f for f in fields):
        raise PollError("dedupe_key: give a field name such as 'id', or a list such as ['id', 'updated_at']")
    return fields


def item_key(item: Any, dedupe_key: str | Sequence[str] = "id", *, index: int | None = None) -> str:
    """The item's dedupe value as text (`"42"`, or `["42", "2026-11-27T09:00:00Z"]` for several fields): the
    inbox event id of the item."""
    fields = _fields(dedupe_key)
    where = f"item {index}" if index is not None else "item"
    if not isinstance(item, dict):
        raise PollError(f"{where}: is {type(item).__name__}, not an object; the polled list must hold objects")
    missing = [f for f in fields if item.get(f) in (None, "")]
    if missing:
        raise PollError(f"{where}: has no {missing[0]!r}; set dedupe_key to a field every item has "
                        f"(this one has {', '.join(sorted(map(str, item))[:8]) or 'none'})")
    values = [item[f] for f in fields]
    return str(values[0]) if len(values) == 1 else json.dumps([str(v) for v in values], ensure_ascii=False)


def _ledger_key(zap_id: str, key: str) -> str:
    return f"{PREFIX}{zap_id}:{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}"


def _keyed(zap_id: str, items: Iterable[Any], dedupe_key: str | Sequence[str]) -> list[tuple[str, str, Any]]:
    """(ledger key, item key, item) per distinct item, in the order given (a repeat within a page is dropped)."""
    if not zap_id:
        raise PollError("zap_id: required (the seen items are kept per zap)")
    seen: set[str] = set()
    keyed = []
    for index, item in enumerate(items):
        key = item_key(item, dedupe_key, index=index)
        ledger = _ledger_key(zap_id, key)
        if ledger not in seen:
            seen.add(ledger)
            keyed.append((ledger, key, item))
    return keyed


def unseen(zap_id: str, items: Iterable[Any], dedupe_key: str | Sequence[str] = "id",
           url: str | None = None) -> list[Any]:
    """The items of this poll never marked seen for `zap_id`, in the order given. Writes nothing."""
    keyed = _keyed(zap_id, items, dedupe_key)
    done = done_keys([k for k, _, _ in keyed], url=url)
    return [item for ledger, _, item in keyed if ledger not in done]


def mark_seen(zap_id: str, items: Iterable[Any], dedupe_key: str | Sequence[str] = "id",
              url: str | None = None) -> int:
    """Record the items as seen for `zap_id`. Returns how many were not recorded before."""
    keyed = _keyed(zap_id, items, dedupe_key)
    return len(record_effects({ledger: key[:200] for ledger, key, _ in keyed}, url=url))


def new_items(zap_id: str, items: Iterable[Any], dedupe_key: str | Sequence[str] = "id", *, seed: bool = False,
              test: bool = False, url: str | None = None) -> list[Any]:
    """The items never seen before, recorded as seen in the same step (each returned once, even to two
    pollers racing). `seed`: record, return nothing. `test`: return what is new, record nothing."""
    items = list(items)
    if test:
        return unseen(zap_id, items, dedupe_key, url=url)
    keyed = _keyed(zap_id, items, dedupe_key)
    fresh = record_effects({ledger: key[:200] for ledger, key, _ in keyed}, url=url)
    return [] if seed else [item for ledger, _, item in keyed if ledger in fresh]


def seen_count(zap_id: str, url: str | None = None) -> int:
    return len(effect_details(f"{PREFIX}{zap_id}:", url=url))


def forget(zap_id: str, url: str | None = None) -> int:
    """Drop what `zap_id` has seen (before re-seeding it). Returns how many keys were dropped."""
    with session_scope(url) as s:
        return s.execute(delete(Effect).where(Effect.key.startswith(f"{PREFIX}{zap_id}:"))).rowcount


def extract_items(body: Any, items_path: str | None = None) -> list[Any]:
    """The list a poll answered: the body itself, or the list at `items_path` (dotted, e.g. `data.items`)."""
    value = body
    for part in filter(None, (items_path or "").split(".")):
        if not isinstance(value, dict) or part not in value:
            found = ", ".join(sorted(map(str, value))[:8]) if isinstance(value, dict) else type(value).__name__
            raise PollError(f"items_path: the answer has no {part!r} (it has {found or 'nothing'}); fix items_path")
        value = value[part]
    if not isinstance(value, list):
        hint = " set items_path to the field holding the list" if isinstance(value, dict) else ""
        raise PollError(f"items_path: the polled answer is {type(value).__name__}, not a list;{hint or ' fix the URL'}")
    return value
