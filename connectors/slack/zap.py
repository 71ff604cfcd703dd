"""``slack.send_message``: post a message through a Slack incoming webhook (docs/connector-slack.md).

Not idempotent: Slack posts the message each time it is sent and takes no idempotency key, so after a lost
answer the run is left *unknown* for a person (DESIGN.md, "Effects that must not happen twice").

Example (a zap step):
    - {id: notify, type: action, action: slack.send_message, connection: sales-channel,
       inputs: {text: "New client: {{ trigger.json.name }}"}}
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from connectors._http import ApiError
from connectors.slack.credentials import SlackCredentials
from passerelle.zaps.registry import action

MAX_BLOCKS = 50  # Block Kit: up to 50 blocks in a message
_EMOJI = re.compile(r":[a-z0-9_+'\-]+:")


class SendMessageInput(BaseModel):
    """The inputs of ``slack.send_message``, after templates are rendered."""

    model_config = {"extra": "forbid"}

    text: str | None = Field(None, description="the message (Slack mrkdwn: *bold*, <https://x|link>); with blocks, "
                             "the text of notifications")
    blocks: list[dict[str, Any]] | None = Field(None, description=f"Block Kit blocks (at most {MAX_BLOCKS}), as a "
                                                "list or a JSON text")
    username: str | None = Field(None, description="author name; honoured by legacy webhooks only (an app's "
                                 "webhook posts as the app)")
    icon_emoji: str | None = Field(None, description="author icon as an emoji, e.g. :robot_face: (legacy webhooks "
                                   "only)")
    icon_url: str | None = Field(None, description="author icon as an image URL (legacy webhooks only)")
    unfurl_links: bool | None = Field(None, description="preview the links of the text")
    unfurl_media: bool | None = Field(None, description="preview media links")

    @field_validator("text", "username", "icon_emoji", "icon_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("blocks", mode="before")
    @classmethod
    def _blocks_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"a text that is not JSON ({exc.msg}); give a list of Block Kit objects") from None
        return value

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        if len(value) > MAX_BLOCKS:
            raise ValueError(f"{len(value)} blocks; Slack takes at most {MAX_BLOCKS} in one message")
        for i, block in enumerate(value):
            if not isinstance(block.get("type"), str) or not block["type"]:
                raise ValueError(f"block {i} has no type; each block is a Block Kit object such as "
                                 "{'type': 'section', 'text': {'type': 'mrkdwn', 'text': '…'}}")
        return value or None

    @field_validator("icon_emoji")
    @classmethod
    def _emoji(cls, value: str | None) -> str | None:
        if value is not None and not _EMOJI.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not an emoji code; write it between colons, e.g. :robot_face:")
        return value.strip() if value else None

    @field_validator("icon_url")
    @classmethod
    def _icon_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith(("https://", "http://")):
            raise ValueError("give an http(s) URL of an image")
        return value.strip() if value else None

    @model_validator(mode="after")
    def _content(self) -> SendMessageInput:
        if self.text is None and not self.blocks:
            raise ValueError("text: give a text, or blocks (with a text for notifications); both are empty")
        if self.icon_emoji and self.icon_url:
            raise ValueError("icon_url: give icon_emoji or icon_url, not both")
        return self

    def message(self) -> dict[str, Any]:
        """The JSON body Slack receives (fields left empty are not sent)."""
        return self.model_dump(exclude_none=True)


class SendMessageOutput(BaseModel):
    ok: bool = Field(description="Slack accepted the message (it answered ok)")
    webhook: str = Field(description="the webhook used, its token masked: /services/T…/B…/***")
    sent_at: str = Field(description="when Slack accepted it (ISO 8601, UTC)")


def slack_block(connection: Any, ref: str) -> SlackCredentials:
    """The connection as a Slack Block, or an error naming what the step lacks (raised before anything is sent)."""
    if isinstance(connection, SlackCredentials):
        return connection
    raise ApiError(vendor="Slack", message=f"{ref} needs a Slack connection (a 'Slack Incoming Webhook' block), "
                   f"got {type(connection).__name__}", hint="Set the step's connection: `passerelle connect slack "
                   "--name NAME`.")


@action("slack", "send_message", title="Send a Slack message", idempotent=False, connection="slack")
async def send_message(inputs: SendMessageInput, connection: Any = None) -> SendMessageOutput:
    """Post a message (text and/or Block Kit blocks) to the channel of a Slack incoming webhook.

    Not idempotent: each call posts one message.
    """
    block = slack_block(connection, "slack.send_message")
    async with block.client() as slack:
        await slack.post_message(inputs.message())  # a 2xx (Slack's "ok"), or it raised
        shown = slack.hook.shown_path
    return SendMessageOutput(ok=True, webhook=shown,
                             sent_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
