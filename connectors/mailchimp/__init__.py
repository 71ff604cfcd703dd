"""Mailchimp Marketing API v3 connector: client (list members, member tags), the credentials Block and the zap
actions (`mailchimp.upsert_member`, `mailchimp.add_member_tags` in zap.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.models import data_center, subscriber_hash
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.mailchimp.credentials import MailchimpCredentials

__all__ = ["APP", "MailchimpClient", "MailchimpCredentials", "data_center", "subscriber_hash"]

APP = register_app("mailchimp", "Mailchimp", "connectors.mailchimp.credentials:MailchimpCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "MailchimpCredentials":
        from connectors.mailchimp.credentials import MailchimpCredentials

        return MailchimpCredentials
    raise AttributeError(name)
