"""What the Zendesk ticket of an iAdvize conversation holds: pure functions, no I/O (docs/iadvize-zendesk.md).

- :func:`external_id`: ``iadvize-conversation-<id>``, the ticket's natural key (looked up before any create).
- :func:`transcript`: the conversation as the ticket's first (public) comment.
- :func:`admin_url`, :func:`archive_note`, :func:`escalation_note`: the internal notes.
- :class:`FormFields`: the form a ticket uses and its "iAdvize Agent/Country/Campaign" fields (ticket forms'
  ``ticket_field_ids`` and ticket fields' exact ``title``), read once per batch.
- :func:`archive_ticket`, :func:`escalation_ticket`, :func:`escalation_update`: the request bodies.

Example:
    >>> external_id("4c8c7408-f73c-42cd-89e9-afbbee7d9024")
    'iadvize-conversation-4c8c7408-f73c-42cd-89e9-afbbee7d9024'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.iadvize.models import Conversation, Message, Operator

EXTERNAL_ID_PREFIX = "iadvize-conversation-"
# The conversation in the iAdvize administration (the seed's "lien vers cette conversation dans
# l'administration iAdvize"); the platform is the account's (ha or sd). See docs/iadvize-zendesk.md.
ADMIN_URL = "https://{platform}.iadvize.com/admin/site/{site}/conversations/{conversation_id}"
AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD = "iAdvize Agent", "iAdvize Country", "iAdvize Campaign"
FIELD_TITLES = (AGENT_FIELD, COUNTRY_FIELD, CAMPAIGN_FIELD)
TAG, ARCHIVE_TAG, ESCALATION_TAG = "iadvize", "iadvize_archive", "iadvize_escalation"
NOTE_TAG, ESCALATION_NOTE_TAG = "iadvize_note", "iadvize_escalation_note"  # set with the note they mark
DEFAULT_NOTE_LABEL = "Agent's note"


def external_id(conversation_id: str) -> str:
    """The ticket's ``external_id`` for a conversation."""
    return f"{EXTERNAL_ID_PREFIX}{conversation_id}"


def admin_url(platform: str, site: str, conversation_id: str) -> str:
    """The conversation's page in the iAdvize administration."""
    return ADMIN_URL.format(platform=platform, site=site, conversation_id=conversation_id)


def _when(message: Message) -> str:
    return message.created_at.strftime("%H:%M:%S")


def _line(message: Message, visitor: str) -> str | None:
    if message.author == "visitor":
        return f"[{_when(message)}] {visitor}: {message.text}"
    if message.author in ("operator", "bot"):
        who = message.user.full_name if message.user else "Agent"
        return f"[{_when(message)}] {who}: {message.text}"
    if message.pushed_to is not None:
        return f"[{_when(message)}] — the conversation goes to {message.pushed_to.full_name} —"
    return None  # other system messages (closing...) say nothing a reader needs


def transcript(conversation: Conversation) -> str:
    """The conversation as plain text: a header (channel, times, visitor, agent, campaign), then one line per
    message, ``[HH:MM:SS] Who: text`` (UTC), transfers shown as ``— the conversation goes to X —``."""
    visitor = conversation.visitor_name or conversation.visitor_email or "Visitor"
    start = conversation.created_at.strftime("%Y-%m-%d %H:%M")
    end = conversation.closed_at.strftime("%H:%M") if conversation.closed_at else "open"
    head = [f"iAdvize conversation {conversation.id} ({conversation.channel}), {start} → {end} UTC"]
    who = conversation.visitor_name or "(no name)"
    head.append(f"Visitor: {who}" + (f" <{conversation.visitor_email}>" if conversation.visitor_email else ""))
    if conversation.operator is not None:
        head.append(f"Agent: {conversation.operator.full_name}")
    if conversation.campaign:
        head.append(f"Campaign: {conversation.campaign}")
    lines = [line for m in conversation.messages if (line := _line(m, visitor))]
    return "\n".join(head) + "\n\n" + ("\n".join(lines) if lines else "(no message)")


def archive_note(url: str, conversation_id: str) -> str:
    """The archive's internal note: the link to the conversation in the iAdvize administration."""
    return f"Conversation in iAdvize: {url}\nConversation id: {conversation_id}"


def escalation_note(label: str, note: str, url: str, conversation_id: str, agent: str | None) -> str:
    """The escalation's internal note: the agent's note under the install's label, the conversation's URL and
    id (seed: "une note privée qui viendra s'ajouter à l'url et l'id de la conversation")."""
    lines = [f"{label or DEFAULT_NOTE_LABEL}:", note.strip() or "(empty)", "",
             f"Conversation in iAdvize: {url}", f"Conversation id: {conversation_id}"]
    if agent:
        lines.append(f"Escalated by: {agent}")
    return "\n".join(lines)


def subject(conversation: Conversation | None, *, escalation_text: str | None = None) -> str:
    """``iAdvize conversation with <visitor> on <day>``; an escalation's starts with its note's first line."""
    who = "a visitor"
    day = ""
    if conversation is not None:
        who = conversation.visitor_name or conversation.visitor_email or who
        day = f" on {conversation.created_at:%Y-%m-%d}"
    text = f"iAdvize conversation with {who}{day}"
    if escalation_text is not None:
        first = (escalation_text.strip().splitlines() or [""])[0][:80]
        text = f"Escalation: {first}" if first else f"Escalation: {text}"
    return text


@dataclass
class FormFields:
    """The account's ticket forms and the ids of the fields titled exactly "iAdvize Agent", "iAdvize Country"
    and "iAdvize Campaign"; which of them a form shows. Built from one ``ticket_forms`` and one
    ``ticket_fields`` listing (once per batch)."""

    form_fields: dict[int, set[int]] = field(default_factory=dict)
    default_form: int | None = None
    by_title: dict[str, int] = field(default_factory=dict)
    forms_known: bool = True  # False: the account lists no forms (plans without forms): every field counts

    @classmethod
    def read(cls, forms: Iterable[Mapping[str, Any]] | None, fields: Iterable[Mapping[str, Any]]) -> FormFields:
        by_title: dict[str, int] = {}
        for f in fields:
            title = f.get("title")
            if title in FIELD_TITLES and f.get("active", True) and title not in by_title:
                by_title[str(title)] = int(f["id"])
        if forms is None:
            return cls(by_title=by_title, forms_known=False)
        forms = list(forms)
        return cls(form_fields={int(f["id"]): {int(i) for i in f.get("ticket_field_ids") or []} for f in forms},
                   default_form=next((int(f["id"]) for f in forms if f.get("default")), None),
                   by_title=by_title)

    def fields_of(self, form_id: int | None) -> dict[str, int]:
        """The iAdvize fields the form shows (the default form when ``form_id`` is None), title → id."""
        if not self.forms_known:
            return dict(self.by_title)
        shown = self.form_fields.get(form_id if form_id is not None else self.default_form or -1, set())
        return {title: fid for title, fid in self.by_title.items() if fid in shown}

    def values(self, form_id: int | None, agent: str | None, country: str | None, campaign: str | None
               ) -> list[dict[str, Any]]:
        """``custom_fields`` for the form: each iAdvize field it shows and that has a value; the others are not
        sent."""
        wanted = {AGENT_FIELD: agent, COUNTRY_FIELD: country, CAMPAIGN_FIELD: campaign}
        return [{"id": fid, "value": wanted[title]} for title, fid in sorted(self.fields_of(form_id).items(),
                                                                              key=lambda kv: kv[1])
                if wanted[title]]


def merge_fields(auto: list[dict[str, Any]], given: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The automatic values, then the escalation form's values (the agent's win on the same field id)."""
    merged = {int(f["id"]): f["value"] for f in auto}
    merged.update({int(f["id"]): f.get("value") for f in given or []})
    return [{"id": fid, "value": value} for fid, value in merged.items()]


def agent_name(agent: Operator | Mapping[str, Any] | None) -> str | None:
    """"First Last" of the conversation's operator or of an escalation's ``agent`` object."""
    if agent is None:
        return None
    if isinstance(agent, Operator):
        return agent.full_name
    name = " ".join(str(agent[k]).strip() for k in ("firstName", "lastName") if agent.get(k))
    return name or (f"#{agent['id']}" if agent.get("id") is not None else None)


def ticket_body(*, conversation: Conversation, status: str, tags: list[str], form_id: int | None,
                custom_fields: list[dict[str, Any]], requester_id: int | None,
                escalation_text: str | None = None) -> dict[str, Any]:
    """A create body: the transcript as the first, public comment, the status, ``external_id``, tags, the form
    when set, the custom fields when any, and ``requester_id`` when a user was found (else none: Zendesk makes
    the API user the requester)."""
    body: dict[str, Any] = {
        "subject": subject(conversation, escalation_text=escalation_text),
        "comment": {"body": transcript(conversation), "public": True},
        "status": status, "external_id": external_id(conversation.id), "tags": tags,
    }
    if form_id is not None:
        body["ticket_form_id"] = form_id
    if custom_fields:
        body["custom_fields"] = custom_fields
    if requester_id is not None:
        body["requester_id"] = requester_id
    return body
