"""OKAST's "Test trigger" (the seed: "Zapier va remonter vos dernières données"): the latest events OKAST really
sent on a connection, newest first, else the event's documented sample (Zapier's own fallback when an account
has no data yet).

Read from the inbox (the gateway stored every accepted event there, source ``okast``, link = the connection,
event type = the event's name); reads only, whatever the events' state (pending, done or dead).

Example:
    okast_latest("my-platform", "new_registration")            # up to 3 payloads, newest first
    okast_latest("my-platform", "new_gift", limit=1)           # [the sample] when no gift was ever received
"""

from __future__ import annotations

import copy
from typing import Any

from sqlmodel import select

from connectors._http.errors import block_name_problem
from connectors.okast.events import EVENTS, check_event
from passerelle.store.engine import session_scope
from passerelle.store.models import InboxEvent

SOURCE = "okast"
MAX_LIMIT = 100


def okast_latest(connection: str, event: str, limit: int = 3, url: str | None = None) -> list[dict[str, Any]]:
    """The payloads of the latest `event`s received on `connection` (at most `limit`, newest first), or
    ``[sample]`` when none was received.

    Args:
        connection: The OKAST connection (the link of ``/hooks/okast/{connection}``).
        event: One of the 13 event names (``new_registration``…).
        limit: How many, 1 to 100 (Zapier shows 3).
        url: Store URL; default the configured store.

    Raises:
        ValueError: a bad argument, the message naming it (an unknown event lists the 13).
    """
    event = check_event(event)
    if not isinstance(connection, str) or not connection:
        raise ValueError("connection: give the OKAST connection's name (the link of /hooks/okast/<connection>)")
    problem = block_name_problem(connection)
    if problem:
        raise ValueError(f"connection: {problem}")
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: a whole number from 1 to {MAX_LIMIT}; got {limit!r}")
    with session_scope(url) as s:
        rows = s.exec(select(InboxEvent.payload)
                      .where(InboxEvent.source == SOURCE, InboxEvent.link == connection,
                             InboxEvent.event_type == event)
                      .order_by(InboxEvent.id.desc()).limit(limit)).all()
    found = [dict(payload) for payload in rows if isinstance(payload, dict)]
    return found or [copy.deepcopy(EVENTS[event].sample)]
