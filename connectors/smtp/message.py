"""The e-mail itself: a stdlib ``EmailMessage`` with the headers a mail client expects and a Message-ID we make
(so the caller knows it before sending, and a person can find the mail by it afterwards).

Bcc recipients are never written in the headers: they are only in the SMTP envelope.

Example:
    msg = build_message(sender=mailbox("Passerelle <noreply@acme.org>"), to=[mailbox("lea@example.org")],
                        subject="Bienvenue", text="Bonjour Léa")
    msg["Message-ID"]   # '<3f2a…@acme.org>'
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from connectors.smtp.addresses import Mailbox


def new_message_id(sender: Mailbox) -> str:
    """A unique Message-ID on the sender's domain: ``<32 hex digits@domain>``."""
    return f"<{uuid.uuid4().hex}@{sender.address.rpartition('@')[2]}>"


def build_message(*, sender: Mailbox, to: Sequence[Mailbox], subject: str, text: str | None = None,
                  html: str | None = None, cc: Sequence[Mailbox] = (), reply_to: Sequence[Mailbox] = (),
                  message_id: str | None = None) -> EmailMessage:
    """The message: text, HTML, or both as ``multipart/alternative`` (text first, as RFC 2046 orders them).

    Raises:
        ValueError: neither a text nor an HTML body.
    """
    if not text and not html:
        raise ValueError("give a text or an HTML body (or both)")
    msg = EmailMessage()
    msg["From"] = sender.header()
    msg["To"] = [m.header() for m in to]
    if cc:
        msg["Cc"] = [m.header() for m in cc]
    if reply_to:
        msg["Reply-To"] = [m.header() for m in reply_to]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id or new_message_id(sender)
    if text and html:
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
    elif html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text or "")
    return msg
