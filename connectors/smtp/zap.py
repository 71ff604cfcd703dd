"""``smtp.send_email``: send one e-mail through an SMTP server (docs/connector-smtp.md).

Not idempotent: an e-mail cannot be recalled and SMTP takes no idempotency key, so once the message has been
sent, a lost answer leaves the run *unknown* for a person (the error names the Message-ID we gave the e-mail, to
look for in the recipients' mailboxes or the server's logs).

Example (a zap step):
    - {id: welcome, type: action, action: smtp.send_email, connection: office,
       inputs: {to: "{{ trigger.json.email }}", subject: Bienvenue, text: "Bonjour {{ trigger.json.first_name }}"}}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from connectors._http import ApiError, OutcomeUnknown
from connectors.smtp.addresses import MAX_RECIPIENTS, mailbox, mailboxes
from connectors.smtp.credentials import SmtpCredentials
from connectors.smtp.message import build_message, new_message_id
from passerelle.zaps.registry import action

MAX_SUBJECT = 998  # RFC 5322's line limit


class SendEmailInput(BaseModel):
    """The inputs of ``smtp.send_email``, after templates are rendered. Addresses are ``name@example.org`` or
    ``Name <name@example.org>``; a list, or one text with several separated by commas."""

    model_config = {"extra": "forbid", "populate_by_name": True}

    to: list[str] = Field(..., description="recipients (one or many)")
    cc: list[str] = Field(default_factory=list, description="copy recipients")
    bcc: list[str] = Field(default_factory=list, description="hidden recipients (in no header)")
    subject: str = Field(..., description="the subject line")
    text: str | None = Field(None, description="plain-text body")
    html: str | None = Field(None, description="HTML body (with text: both, the reader's client chooses)")
    reply_to: list[str] = Field(default_factory=list, description="where replies go")
    from_: str | None = Field(None, alias="from", description="sender, instead of the connection's default sender")

    @field_validator("to", "cc", "bcc", "reply_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> list[str]:
        if value is not None and not isinstance(value, str | list | tuple):
            raise ValueError("give an address, a list of addresses, or a text of addresses separated by commas")
        return [str(m) for m in mailboxes(value)]

    @field_validator("from_", mode="before")
    @classmethod
    def _sender(cls, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return str(mailbox(value))

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("a subject is one line: remove its line breaks")
        if len(value) > MAX_SUBJECT:
            raise ValueError(f"{len(value)} characters; a subject line takes at most {MAX_SUBJECT}")
        return value.strip()

    @field_validator("text", "html")
    @classmethod
    def _blank_body(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None

    @model_validator(mode="after")
    def _message(self) -> SendEmailInput:
        if not self.to:
            raise ValueError("to: give at least one recipient")
        if self.text is None and self.html is None:
            raise ValueError("text: give a text or an html body (or both); both are empty")
        if len(self.recipients()) > MAX_RECIPIENTS:
            raise ValueError(f"to: {len(self.recipients())} recipients in to, cc and bcc; send at most "
                             f"{MAX_RECIPIENTS} per e-mail")
        return self

    def recipients(self) -> list[str]:
        """The envelope: every address of to, cc and bcc, once each (compared without case)."""
        seen: dict[str, str] = {}
        for text in [*self.to, *self.cc, *self.bcc]:
            address = mailbox(text).address
            seen.setdefault(address.lower(), address)
        return list(seen.values())


class SendEmailOutput(BaseModel):
    message_id: str = Field(description="the Message-ID header we gave the e-mail, <…@sender domain>")
    sender: str = Field(description="the From address")
    accepted: list[str] = Field(description="recipients the server took")
    refused: dict[str, str] = Field(default_factory=dict, description="recipients the server refused → its reply")
    sent_at: str = Field(description="when the server accepted it (ISO 8601, UTC)")


def smtp_block(connection: Any, ref: str) -> SmtpCredentials:
    """The connection as an SMTP Block, or an error naming what the step lacks (raised before anything is sent)."""
    if isinstance(connection, SmtpCredentials):
        return connection
    raise ApiError(vendor="SMTP", message=f"{ref} needs an SMTP connection (an 'SMTP Server' block), got "
                   f"{type(connection).__name__}", hint="Set the step's connection: `passerelle connect smtp --name "
                   "NAME`.")


@action("smtp", "send_email", title="Send an e-mail", idempotent=False, connection="smtp")
async def send_email(inputs: SendEmailInput, connection: Any = None) -> SendEmailOutput:
    """Send one e-mail (text and/or HTML) to one or many recipients, with copies, hidden copies and a reply-to.

    Not idempotent: each call sends one e-mail. Recipients the server refuses are listed in `refused` (the others
    got it); when it refuses them all, the step fails and nothing was sent.
    """
    block = smtp_block(connection, "smtp.send_email")
    sender = mailbox(inputs.from_) if inputs.from_ else block.sender
    message = build_message(sender=sender, to=mailboxes(inputs.to), cc=mailboxes(inputs.cc),
                            reply_to=mailboxes(inputs.reply_to), subject=inputs.subject, text=inputs.text,
                            html=inputs.html, message_id=new_message_id(sender))
    async with block.client() as smtp:
        try:
            delivery = await smtp.send(message, sender=sender.address, recipients=inputs.recipients())
        except OutcomeUnknown as exc:  # say which mail to look for
            exc.message = f"{exc.message}; look for Message-ID {message['Message-ID']}"
            raise
    return SendEmailOutput(message_id=message["Message-ID"], sender=str(sender), accepted=delivery.accepted,
                           refused=delivery.refused, sent_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
