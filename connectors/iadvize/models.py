"""What the iAdvize connector returns: closed-conversation summaries and whole conversations with their
transcript, read from the GraphQL answers of :mod:`connectors.iadvize.queries`.

Where each value comes from (docs/connector-iadvize.md, "The conversation"):

- ``visitor_email``: the conversation's ``visitor { email }`` (the contact data the visitor or an agent
  gave); None when the visitor left none.
- ``operator`` (the agent who handled the conversation): the ``toUser`` of the last
  ``ConversationPushedSystemAttachment`` pushing it to a human (a transfer hands the conversation over); with
  no such push, the author of the last message written by a human; None for a conversation only a bot
  answered.
- ``campaign``: the engagement campaign's name, else the targeting rule's name, else None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AuthorKind = Literal["visitor", "operator", "bot", "system"]
USER_KINDS = {"Professional": "professional", "Expert": "expert", "Bot": "bot"}
MESSAGE_AUTHORS: dict[str, AuthorKind] = {"VisitorMessage": "visitor", "SystemMessage": "system"}
PUSHED = "ConversationPushedSystemAttachment"


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time of an answer (``2026-03-02T14:05:00Z``) as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(f"iAdvize answered {what} = {value!r}, not an ISO 8601 time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"iAdvize answered {what} = {value!r} without a time zone")
    return moment


def _optional_time(value: Any, what: str) -> datetime | None:
    return None if value is None else parse_time(value, what)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@dataclass(frozen=True)
class Operator:
    """An iAdvize user: an agent (``professional``), an ibbü expert (``expert``) or a ``bot``."""

    id: int
    first_name: str | None
    last_name: str | None
    kind: str

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> Operator:
        return cls(id=int(node["id"]), first_name=_text(node.get("firstName")),
                   last_name=_text(node.get("lastName")),
                   kind=USER_KINDS.get(str(node.get("__typename")), "professional"))

    @property
    def is_bot(self) -> bool:
        return self.kind == "bot"

    @property
    def full_name(self) -> str:
        """"First Last" (what the Zendesk "iAdvize Agent" field shows), or ``#<id>`` when iAdvize has no name."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or f"#{self.id}"


@dataclass(frozen=True)
class Message:
    """One message of a transcript.

    Attributes:
        author: ``visitor``, ``operator`` (an agent or expert), ``bot`` or ``system``.
        user: The agent or bot who wrote it (operator and bot messages).
        pushed_to: For the system message of a push (start of a contact, or a transfer): who received the
            conversation.
    """

    id: str
    created_at: datetime
    author: AuthorKind
    text: str
    user: Operator | None = None
    pushed_to: Operator | None = None

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> Message:
        typename = str(node.get("__typename"))
        user = Operator.from_node(node["author"]) if node.get("author") else None
        author: AuthorKind = MESSAGE_AUTHORS.get(typename) or ("bot" if user and user.is_bot else "operator")
        pushed = next((a["toUser"] for a in node.get("attachments") or []
                       if a and a.get("__typename") == PUSHED and a.get("toUser")), None)
        return cls(id=str(node["id"]), created_at=parse_time(node.get("createdAt"), "message createdAt"),
                   author=author, text=node.get("text") or "", user=user,
                   pushed_to=Operator.from_node(pushed) if pushed else None)


@dataclass(frozen=True)
class Transfer:
    """A ``ConversationPushedSystemAttachment``: the conversation was pushed to ``to_user`` at ``at``."""

    at: datetime
    to_user: Operator


@dataclass(frozen=True)
class ConversationSummary:
    """One node of ``closedConversations``: enough to decide what to fetch."""

    id: str
    created_at: datetime
    closed_at: datetime | None
    channel: str
    project_id: int | None
    visitor_id: str | None

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> ConversationSummary:
        project, visitor = node.get("project") or {}, node.get("visitor") or {}
        return cls(id=str(node["id"]), created_at=parse_time(node.get("createdAt"), "createdAt"),
                   closed_at=_optional_time(node.get("closedAt"), "closedAt"), channel=str(node.get("channel")),
                   project_id=int(project["id"]) if project.get("id") is not None else None,
                   visitor_id=str(visitor["id"]) if visitor.get("id") else None)


@dataclass(frozen=True)
class Conversation:
    """A conversation with its transcript (``conversation(id:)``)."""

    id: str
    created_at: datetime
    closed_at: datetime | None
    channel: str
    project_id: int | None
    project_name: str | None
    project_country: str | None
    visitor_id: str | None
    visitor_email: str | None
    visitor_name: str | None
    engagement_campaign: str | None
    targeting_rule: str | None
    messages: tuple[Message, ...]

    @classmethod
    def from_node(cls, node: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> Conversation:
        project, visitor = node.get("project") or {}, node.get("visitor") or {}
        name = " ".join(p for p in (_text(visitor.get("firstName")), _text(visitor.get("lastName"))) if p)
        return cls(
            id=str(node["id"]), created_at=parse_time(node.get("createdAt"), "createdAt"),
            closed_at=_optional_time(node.get("closedAt"), "closedAt"), channel=str(node.get("channel")),
            project_id=int(project["id"]) if project.get("id") is not None else None,
            project_name=_text(project.get("name")), project_country=_text(project.get("country")),
            visitor_id=str(visitor["id"]) if visitor.get("id") else None,
            visitor_email=_text(visitor.get("email")), visitor_name=name or None,
            engagement_campaign=_text((node.get("engagementCampaign") or {}).get("name")),
            targeting_rule=_text((node.get("targetingRule") or {}).get("name")),
            messages=tuple(Message.from_node(m) for m in messages),
        )

    @property
    def transfers(self) -> tuple[Transfer, ...]:
        """Every push of the conversation to a user, in order (the first one starts the first contact)."""
        return tuple(Transfer(m.created_at, m.pushed_to) for m in self.messages if m.pushed_to is not None)

    @property
    def operator(self) -> Operator | None:
        """The agent who handled the conversation (module docstring); None if no human took part."""
        humans = [t.to_user for t in self.transfers if not t.to_user.is_bot]
        if humans:
            return humans[-1]
        writers = [m.user for m in self.messages if m.author == "operator" and m.user is not None]
        return writers[-1] if writers else None

    @property
    def campaign(self) -> str | None:
        """The engagement campaign at the origin of the conversation (else its targeting rule), if known."""
        return self.engagement_campaign or self.targeting_rule
