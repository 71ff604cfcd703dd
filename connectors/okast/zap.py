"""OKAST's 13 triggers, ``okast.<event>`` (kind webhook): each event OKAST posts to
``POST /hooks/okast/{connection}`` is stored in the inbox under source ``okast``, link = the connection, event type
= the event's name, and starts the zaps whose trigger is that event on that connection (``trigger.connection``).
Their payload is the event as OKAST sent it (connectors/okast/events.py; docs/contracts.md, "OKAST").

"Test trigger" is :func:`okast_latest`: the latest real events of a connection, else the documented sample.

Example (a zap's trigger):
    trigger: {app: okast, event: new_registration, connection: my-platform}
"""

from __future__ import annotations

from connectors.okast.events import EVENTS
from connectors.okast.latest import okast_latest
from passerelle.zaps.registry import trigger

SOURCE = "okast"

__all__ = ["SOURCE", "okast_latest"]

for _event in EVENTS.values():
    trigger("okast", _event.name, title=_event.title, kind="webhook", source=SOURCE, event_type=_event.name,
            connection="okast", sample=_event.sample, dedupe_key="event_id",
            description=f"Fires on {_event.fired_when}. OKAST posts it to /hooks/okast/<connection> with the "
            f"platform's API key; deduplicated on event_id, applied in order per user.")
