"""E-mail over SMTP: addresses, the message, the aiosmtplib sender, the credentials Block and the
``smtp.send_email`` zap action (docs/connector-smtp.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.registry import register_app
from connectors.smtp.addresses import Mailbox, mailbox, mailboxes
from connectors.smtp.client import Delivery, SmtpClient
from connectors.smtp.message import build_message

if TYPE_CHECKING:
    from connectors.smtp.credentials import SmtpCredentials

__all__ = ["APP", "Delivery", "Mailbox", "SmtpClient", "SmtpCredentials", "build_message", "mailbox", "mailboxes"]

APP = register_app("smtp", "E-mail (SMTP)", "connectors.smtp.credentials:SmtpCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "SmtpCredentials":
        from connectors.smtp.credentials import SmtpCredentials

        return SmtpCredentials
    raise AttributeError(name)
