"""Suspend an app: hold the incoming events of its zaps, nothing lost, until it is resumed (the Oxiva seed's
"Suspendre l'utilisation de Zapier"; docs/connector-oxiva.md, "Suspend").

A zap belongs to the app of its trigger (`oxiva` for `oxiva.new_ticket`, `okast` for `okast.new_gift`). While
the app is suspended the gateway goes on storing its events in the inbox (the vendor sees 200 as before) and the
zap drain records each run as ``held`` instead of running it, as for a disabled zap; resuming puts those events
back in the inbox (pending), and the next drain runs them, in the order they came.

The switch lives in the store's effect ledger, one row per suspended app under the key ``suspend:<app>`` (inserted
to suspend, deleted to resume): no schema change, shared by every process on the store.

Example:
    set_suspended("oxiva", True)          # passerelle apps suspend oxiva
    "oxiva" in suspended_apps()           # True: the runner holds oxiva.* zaps
    set_suspended("oxiva", False)         # passerelle apps resume oxiva → held events back in the inbox
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, update
from sqlmodel import select

from passerelle.store.effects import effect_details, record_effect
from passerelle.store.engine import session_scope
from passerelle.store.models import DEAD, DONE, PENDING, Effect, InboxEvent, ZapRun

PREFIX = "suspend:"
HELD = "held"
_APP = re.compile(r"[a-z][a-z0-9_]*")
_CHUNK = 500


@dataclass(frozen=True)
class Switched:
    """What `set_suspended` did: whether the app's state changed, and how many held events went back."""

    app: str
    suspended: bool
    changed: bool
    released: int = 0


def _check(app: str) -> str:
    if not isinstance(app, str) or not _APP.fullmatch(app):
        raise ValueError(f"app: {str(app)[:40]!r} is not an app name (lower-case letters, digits and _, e.g. oxiva)")
    return app


def suspended_apps(url: str | None = None) -> set[str]:
    """The apps suspended now (one read of the ledger: call it once per batch)."""
    return {key[len(PREFIX):] for key in effect_details(PREFIX, url=url)}


def is_suspended(app: str, url: str | None = None) -> bool:
    return _check(app) in suspended_apps(url)


def holds(trigger_app: str, suspended: Iterable[str]) -> bool:
    """Whether a zap whose trigger is of `trigger_app` is held, given `suspended_apps()`."""
    return trigger_app in suspended


def set_suspended(app: str, on: bool, url: str | None = None, zap_ids: Iterable[str] | None = None) -> Switched:
    """Suspend (`on`) or resume an app. Resuming puts the events held for its zaps back in the inbox (pending).

    Args:
        app: The app (a trigger's app: ``oxiva``, ``okast``, ``catch``…).
        on: True to suspend, False to resume.
        url: Store URL; default the configured store.
        zap_ids: Resuming: the zaps whose held events go back (default: the zaps of the zaps folder whose trigger
            is of `app`, `passerelle.zaps.runner.load_folder`). A zap still disabled just holds them again.
    """
    app = _check(app)
    key = f"{PREFIX}{app}"
    if on:
        changed = record_effect(key, detail=f"zaps of {app} held until `passerelle apps resume {app}`", url=url)
        return Switched(app, True, changed)
    with session_scope(url) as s:
        changed = s.execute(delete(Effect).where(Effect.key == key)).rowcount == 1
    ids = list(zap_ids) if zap_ids is not None else _zaps_of(app)
    return Switched(app, False, changed, release_held(ids, url=url))


def _zaps_of(app: str) -> list[str]:
    from passerelle.zaps.runner import load_folder  # the runner imports this module

    zaps, _problems = load_folder()
    return [z.id for z in zaps if z.trigger.app == app]


def release_held(zap_ids: Iterable[str], url: str | None = None) -> int:
    """Put the inbox events of these zaps' ``held`` runs back to pending (the next drain runs them). Returns how
    many events went back; an event already pending or being drained is left as it is."""
    ids = sorted(set(zap_ids))
    if not ids:
        return 0
    with session_scope(url) as s:
        held = sorted(set(s.exec(select(ZapRun.inbox_id).where(ZapRun.zap_id.in_(ids), ZapRun.status == HELD)).all()))
        back = 0
        for start in range(0, len(held), _CHUNK):
            chunk = held[start:start + _CHUNK]
            back += s.execute(update(InboxEvent).where(InboxEvent.id.in_(chunk), InboxEvent.status.in_((DONE, DEAD)))
                              .values(status=PENDING, attempts=0, next_attempt_at=datetime.now(UTC), claimed_by=None,
                                      claimed_until=None, done_at=None)).rowcount
        return back
