"""Slack connector: incoming webhooks (client, credentials Block) and the ``slack.send_message`` zap action
(docs/connector-slack.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.registry import register_app
from connectors.slack.client import SlackWebhookClient
from connectors.slack.webhook import DEFAULT_BASE_URL, WebhookPath, parse_webhook_url

if TYPE_CHECKING:
    from connectors.slack.credentials import SlackCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "SlackCredentials", "SlackWebhookClient", "WebhookPath", "parse_webhook_url"]

APP = register_app("slack", "Slack", "connectors.slack.credentials:SlackCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "SlackCredentials":
        from connectors.slack.credentials import SlackCredentials

        return SlackCredentials
    raise AttributeError(name)
