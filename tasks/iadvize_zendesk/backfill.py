"""Closed conversations that have no ticket yet: the backfill (``since``) and the scheduled safety net.

Both list the site's conversations closed in a window (GraphQL ``closedConversations``, ``projectIds`` = the
site), keep those without a recorded ticket, and put one ``v2.conversation.closed`` event per conversation in the
site's inbox (event id ``backfill:<conversation id>``, so listing again adds nothing twice). The drain then
archives them like webhook events: same rules, ledger, Zendesk ``external_id`` lookup, retries with backoff on
429s, per-conversation order with escalations. A run that stops (crash, time budget) leaves the rest in the
inbox; the next run takes them, and listing again finds nothing new to add.

The safety net's window starts at the site's watermark (``iadvize-closed``/<site>: the newest ``closedAt``
seen, minus :data:`OVERLAP`), or :data:`FIRST_LOOK_BACK` ago the first time, and ends :data:`SETTLE` ago, so a
conversation whose webhook (or escalation) is on its way is left to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.iadvize.client import IadvizeClient
from connectors.iadvize.models import ConversationSummary
from passerelle.store.conversation_tickets import tickets_for
from passerelle.store.inbox import Delivery, store_deliveries
from passerelle.store.runs import get_watermark, set_watermark
from tasks.iadvize_zendesk.events import CLOSED
from tasks.iadvize_zendesk.site import SOURCE

WATERMARK = "iadvize-closed"
SETTLE = timedelta(minutes=10)
OVERLAP = timedelta(minutes=5)
FIRST_LOOK_BACK = timedelta(days=1)


@dataclass
class Unarchived:
    """What a window holds: closed conversations, how many already have a ticket, the others."""

    start: datetime
    end: datetime
    closed: int = 0
    with_ticket: int = 0
    missing: list[ConversationSummary] = field(default_factory=list)
    newest: datetime | None = None


def aware(value: datetime) -> datetime:
    """A naive time is taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def find_unarchived(iadvize: IadvizeClient, site: str, start: datetime, end: datetime,
                          store_url: str | None = None) -> Unarchived:
    """The site's conversations closed in ``[start, end)`` and which of them have no recorded ticket."""
    found = Unarchived(aware(start), aware(end))
    if found.start >= found.end:
        return found
    batch: list[ConversationSummary] = []

    def settle() -> None:
        recorded = tickets_for(site, [c.id for c in batch], url=store_url)
        found.with_ticket += len(recorded)
        found.missing.extend(c for c in batch if c.id not in recorded)
        batch.clear()

    async for closed in iadvize.closed_conversations(found.start, found.end, project_ids=[int(site)]):
        found.closed += 1
        batch.append(closed)
        if closed.closed_at and (found.newest is None or closed.closed_at > found.newest):
            found.newest = closed.closed_at
        if len(batch) >= 500:
            settle()
    settle()
    return found


def enqueue(site: str, conversations: list[ConversationSummary], store_url: str | None = None) -> int:
    """Put one closed event per conversation in the site's inbox; returns how many were new."""
    deliveries = [Delivery(source=SOURCE, link=site, event_id=f"backfill:{c.id}", event_type=CLOSED,
                           entity_key=f"conversation:{c.id}",
                           payload={"eventType": CLOSED, "conversationId": c.id, "projectId": c.project_id,
                                    "channel": c.channel, "origin": "backfill",
                                    "closedAt": c.closed_at.isoformat() if c.closed_at else None})
                  for c in conversations]
    new = 0
    for start in range(0, len(deliveries), 500):
        new += sum(store_deliveries(deliveries[start:start + 500], url=store_url))
    return new


def safety_net_window(site: str, now: datetime | None = None, store_url: str | None = None
                      ) -> tuple[datetime, datetime]:
    """The safety net's window: from the watermark (or a day back), to :data:`SETTLE` ago."""
    now = now or datetime.now(UTC)
    mark = get_watermark(WATERMARK, site, url=store_url)
    return (aware(mark) if mark else now - FIRST_LOOK_BACK), now - SETTLE


def advance(site: str, found: Unarchived, store_url: str | None = None) -> None:
    """Move the watermark to the newest ``closedAt`` seen minus :data:`OVERLAP` (never backwards), once the
    window's events are stored."""
    if found.newest is not None:
        set_watermark(WATERMARK, site, found.newest - OVERLAP, url=store_url)
