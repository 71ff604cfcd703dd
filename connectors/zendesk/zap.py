"""``zendesk.create_ticket``: create a Zendesk Support ticket from a zap (docs/zap-actions-vendors.md).

Idempotent only with an ``external_id``: the tickets holding it are looked up first (Zendesk keeps external ids
on tickets neither unique nor enforced, API-NOTES §4) and the oldest is returned instead of creating another;
the create itself then carries an ``Idempotency-Key`` derived from the external id, so the client may re-send
it after a lost answer and Zendesk answers the first ticket. Without an external id a lost answer leaves the run
*unknown* (the ticket may exist): it is never re-sent by itself.

Example (a zap step):
    - {id: ticket, type: action, action: zendesk.create_ticket, connection: support,
       inputs: {subject: "Password reset: {{ trigger.json.email }}", comment_body: "…",
                requester_email: "{{ trigger.json.email }}", external_id: "okast-{{ trigger.json.id }}"}}
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from connectors._http import ApiError
from connectors.zendesk.credentials import ZendeskCredentials
from connectors.zendesk.models import check_email
from passerelle.zaps.registry import action

MAX_TAGS = 100


class CreateTicketInput(BaseModel):
    """The inputs of ``zendesk.create_ticket``, after templates are rendered."""

    model_config = {"extra": "forbid"}

    subject: str | None = Field(None, description="the ticket's subject (Zendesk uses the start of the comment "
                                "when it is empty)")
    comment_body: str = Field(..., description="the first comment: the ticket's description")
    comment_html: bool = Field(False, description="comment_body is HTML (sent as html_body)")
    comment_public: bool = Field(True, description="false: the first comment is an internal note, which agents "
                                 "only see")
    requester_email: str | None = Field(None, description="the requester; Zendesk creates the end user if unknown "
                                        "(without it, the ticket's requester is the connection's agent)")
    requester_name: str | None = Field(None, description="the requester's name, for a new end user")
    priority: Literal["urgent", "high", "normal", "low"] | None = None
    type: Literal["problem", "incident", "question", "task"] | None = None
    tags: list[str] = Field(default_factory=list, description="tags (no spaces: Zendesk splits on them)")
    external_id: str | None = Field(None, description="your id for this ticket (e.g. the event's); given, the "
                                    "action is idempotent: an existing ticket with it is returned, not duplicated")
    custom_fields: dict[int, Any] = Field(default_factory=dict, description="ticket field id → value")

    @field_validator("subject", "requester_email", "requester_name", "external_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # an id rendered from a template as a number
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("priority", "type", mode="before")
    @classmethod
    def _blank_choice(cls, value: Any) -> Any:
        return None if value == "" else value.lower() if isinstance(value, str) else value

    @field_validator("comment_body")
    @classmethod
    def _body(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the first comment is empty; Zendesk creates a ticket from its first comment")
        return value

    @field_validator("requester_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return check_email(value, "requester_email").lower() if value is not None else None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # "vip, okast" from a template
            return [t for t in value.replace(",", " ").split() if t]
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not t.strip() or any(c.isspace() for c in t.strip())]
        if bad:
            raise ValueError(f"tag {bad[0]!r} holds a space; Zendesk would split it into several tags: use _ or -")
        if len(value) > MAX_TAGS:
            raise ValueError(f"{len(value)} tags; give at most {MAX_TAGS}")
        return list(dict.fromkeys(t.strip() for t in value))

    @field_validator("custom_fields")
    @classmethod
    def _fields(cls, value: dict[int, Any]) -> dict[int, Any]:
        bad = [k for k in value if k < 1]
        if bad:
            raise ValueError(f"{bad[0]} is not a ticket field id (a positive number from Admin Center → Objects "
                             "and rules → Tickets → Fields)")
        return value

    @model_validator(mode="after")
    def _requester(self) -> CreateTicketInput:
        if self.requester_name and not self.requester_email:
            raise ValueError("requester_email: give the requester's e-mail with their name (Zendesk finds or "
                             "creates the end user by e-mail)")
        return self

    def ticket(self) -> dict[str, Any]:
        """The ``ticket`` object of ``POST /api/v2/tickets``."""
        comment: dict[str, Any] = {"html_body" if self.comment_html else "body": self.comment_body,
                                   "public": self.comment_public}
        ticket: dict[str, Any] = {"comment": comment}
        for key in ("subject", "priority", "type", "external_id"):
            if getattr(self, key) is not None:
                ticket[key] = getattr(self, key)
        if self.requester_email:
            ticket["requester"] = {"email": self.requester_email, "name": self.requester_name or
                                   self.requester_email.split("@")[0]}
        if self.tags:
            ticket["tags"] = self.tags
        if self.custom_fields:
            ticket["custom_fields"] = [{"id": k, "value": v} for k, v in self.custom_fields.items()]
        return ticket


class CreateTicketOutput(BaseModel):
    id: int = Field(description="the ticket's id")
    status: str | None = None
    subject: str | None = None
    requester_id: int | None = None
    external_id: str | None = None
    created: bool = Field(description="false: a ticket with this external_id existed and was returned")


def with_external_id(inputs: CreateTicketInput) -> bool:
    """Idempotent when the ticket has an external id (looked up before creating)."""
    return bool(inputs.external_id)


def idempotency_key(external_id: str) -> str:
    """The ``Idempotency-Key`` of the create for one external id (Zendesk keeps keys two hours)."""
    return "passerelle-ticket-" + hashlib.sha256(external_id.encode()).hexdigest()[:40]


def zendesk_block(connection: Any, ref: str) -> ZendeskCredentials:
    """The connection as a Zendesk Block, or an error naming what the step lacks (raised before anything is sent)."""
    if isinstance(connection, ZendeskCredentials):
        return connection
    raise ApiError(vendor="Zendesk", message=f"{ref} needs a Zendesk connection (a 'Zendesk Credentials' block), "
                   f"got {type(connection).__name__}", hint="Set the step's connection: `passerelle connect "
                   "zendesk --name NAME`.")


def _output(ticket: dict[str, Any], created: bool) -> CreateTicketOutput:
    return CreateTicketOutput(id=ticket["id"], status=ticket.get("status"), subject=ticket.get("subject"),
                              requester_id=ticket.get("requester_id"), external_id=ticket.get("external_id"),
                              created=created)


@action("zendesk", "create_ticket", title="Create a Zendesk ticket", idempotent=False, connection="zendesk",
        idempotent_when=with_external_id)
async def create_ticket(inputs: CreateTicketInput, connection: Any = None) -> CreateTicketOutput:
    """Create a ticket: subject, first comment (public or internal note), requester, priority, type, tags,
    custom fields and an external id.

    Idempotent only with an external_id: a ticket that already has it is returned (created false) instead of a
    second one.
    """
    block = zendesk_block(connection, "zendesk.create_ticket")
    async with block.client() as zendesk:
        key = None
        if inputs.external_id:
            existing = await zendesk.tickets_by_external_id(inputs.external_id)
            if existing:
                return _output(min(existing, key=lambda t: t["id"]), created=False)
            key = idempotency_key(inputs.external_id)
        ticket = await zendesk.create_ticket(inputs.ticket(), idempotency_key=key)
    return _output(ticket, created=True)
