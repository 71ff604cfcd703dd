"""The ``Slack Incoming Webhook`` Prefect Block: the URL of one incoming webhook (one channel of one workspace)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http.credentials import ConnectionCredentials
from connectors.slack.client import SlackWebhookClient
from connectors.slack.webhook import WEBHOOK_FORM, parse_webhook_url


class SlackCredentials(ConnectionCredentials):
    """An incoming webhook of a Slack app: whoever holds its URL can post to its channel, so the whole URL is
    kept as a secret.

    Example:
        creds = SlackCredentials(webhook_url="https://hooks.slack.com/services/T…/B…/…")
        print(await creds.test())   # Slack knows the webhook /services/T…/B…/*** (checked without posting)
        async with creds.client() as slack:
            await slack.post_message({"text": "Hello"})
    """

    # A refused URL must not be echoed by pydantic's error message.
    model_config = ConfigDict(hide_input_in_errors=True)

    app: ClassVar[str] = "slack"
    _block_type_name = "Slack Incoming Webhook"
    _block_type_slug = "slack-incoming-webhook"
    _description = "The URL of a Slack incoming webhook (one channel of one workspace), to post messages."
    _documentation_url = "https://api.slack.com/messaging/webhooks"

    webhook_url: SecretStr = Field(..., description=f"Incoming-webhook URL, {WEBHOOK_FORM} (Slack app → Incoming "
                                   "Webhooks → Copy). It is a secret: stored encrypted by Prefect.")
    base_url: str | None = Field(None, description="Advanced: replaces https://hooks.slack.com, the webhook's path "
                                 "kept. Set only to use a proxy or the Passerelle sandbox (http://HOST:PORT/slack).")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        parse_webhook_url(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8765/slack; got {value!r}")
        return value or None

    def client(self, **options) -> SlackWebhookClient:
        """A new :class:`SlackWebhookClient` (use it with ``async with``).

        Args:
            **options: Extra client options (``retry``, ``timeout``, ``transport``).
        """
        return SlackWebhookClient(webhook_url=self.webhook_url, base_url=self.base_url, block=self.block_ref,
                                  **options)

    async def test(self) -> str:
        """Check the webhook without posting anything (an empty message, which Slack refuses with ``no_text``).

        Example:
            print(await creds.test())  # Slack knows the webhook /services/T0001/B0001/*** (checked without posting)
        """
        async with self.client() as slack:
            await slack.check()
            shown = slack.hook.shown_path
        return f"Slack knows the webhook {shown} (checked without posting)"
