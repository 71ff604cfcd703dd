"""Slack incoming-webhooks emulator, state: the webhooks Slack knows, the channels, the messages received, and
each webhook's rate-limit bucket (docs/connector-slack.md, "The emulator").

The state document (``PUT``/``GET /_sandbox/slack/state``)::

    {"webhooks": [{"team_id", "webhook_id", "token", "channel", "kind": "app"|"legacy", "username",
                   "icon_emoji", "disabled": bool, "prohibited": bool}, ...],
     "channels": [{"name": "#general", "archived": bool}, ...],
     "rate_limit": {"per_second": 1.0, "burst": 5} | null,
     "messages": [{"id", "team_id", "webhook_id", "channel", "text", "blocks", "username", "icon_emoji",
                   "icon_url", "payload", "received_at"}, ...]}
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
from typing import Any

DEFAULT_TEAM = "T00000001"
DEFAULT_WEBHOOK = "B00000001"
DEFAULT_TOKEN = "SandboxSlackWebhookToken"
DEFAULT_DOCUMENT: dict[str, Any] = {
    "webhooks": [{"team_id": DEFAULT_TEAM, "webhook_id": DEFAULT_WEBHOOK, "token": DEFAULT_TOKEN,
                  "channel": "#general", "kind": "app", "username": "Passerelle", "icon_emoji": ":robot_face:"}],
    "channels": [{"name": "#general"}, {"name": "#sales"}],
    "rate_limit": {"per_second": 1.0, "burst": 5},
}
_ID = re.compile(r"[A-Z0-9]+")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
BLOCK_TYPES = frozenset({"section", "header", "divider", "context", "actions", "image", "input", "rich_text",
                         "video", "file", "markdown"})
MAX_BLOCKS = 50


class SlackError(Exception):
    """An answer of the webhook endpoint other than 200 ``ok``: a status and Slack's plain-text code."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.headers = status, code, headers or {}


def _webhook(raw: Any, i: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"webhooks[{i}] must be an object")
    hook = {"kind": "app", "username": "Passerelle", "icon_emoji": None, "disabled": False, "prohibited": False,
            **raw}
    for key, rule in (("team_id", _ID), ("webhook_id", _ID), ("token", _TOKEN)):
        if not isinstance(hook.get(key), str) or not rule.fullmatch(hook[key]):
            raise ValueError(f"webhooks[{i}].{key} must match {rule.pattern}")
    if hook["kind"] not in ("app", "legacy"):
        raise ValueError(f"webhooks[{i}].kind must be 'app' or 'legacy'")
    if not isinstance(hook.get("channel"), str) or not hook["channel"]:
        raise ValueError(f"webhooks[{i}].channel must be a channel name such as #general")
    return hook


def _rate_limit(raw: Any) -> dict[str, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), int | float) and raw[k] > 0
                                            for k in ("per_second", "burst")):
        raise ValueError("rate_limit must be null or {'per_second': number > 0, 'burst': number > 0}")
    return {"per_second": float(raw["per_second"]), "burst": float(raw["burst"])}


class SlackState:
    """The webhooks, channels and messages of the emulated Slack (every method takes ``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    # -- control protocol ---------------------------------------------------------------------------------
    def reset(self) -> None:
        self.load(DEFAULT_DOCUMENT)

    def load(self, document: dict[str, Any]) -> None:
        webhooks = [_webhook(h, i) for i, h in enumerate(document.get("webhooks", []))]
        ids = [h["webhook_id"] for h in webhooks]
        if len(set(ids)) != len(ids):
            raise ValueError("webhooks: two webhooks have the same webhook_id")
        channels = {}
        for i, c in enumerate(document.get("channels", [])):
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise ValueError(f"channels[{i}] must be {{'name': '#channel', 'archived': false}}")
            channels[c["name"]] = {"name": c["name"], "archived": bool(c.get("archived", False))}
        messages = document.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages must be a list of objects")
        rate = _rate_limit(document.get("rate_limit"))
        with self.lock:
            self.webhooks = {h["webhook_id"]: h for h in webhooks}
            self.channels = channels
            self.messages = [dict(m) for m in messages]
            self.rate = rate
            self.buckets: dict[str, tuple[float, float]] = {}  # webhook id → (tokens, at)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"webhooks": [dict(h) for h in self.webhooks.values()],
                    "channels": [dict(c) for c in self.channels.values()],
                    "rate_limit": dict(self.rate) if self.rate else None,
                    "messages": [dict(m) for m in self.messages]}

    # -- the webhook --------------------------------------------------------------------------------------
    def receive(self, team_id: str, webhook_id: str, token: str, payload: Any) -> dict[str, Any]:
        """Apply one ``POST /services/{team}/{webhook}/{token}``: the message recorded, or a :class:`SlackError`."""
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None or hook["disabled"]:
                raise SlackError(404, "no_service")
            if hook["team_id"] != team_id or hook["token"] != token:
                raise SlackError(403, "invalid_token")
            self._take(webhook_id)
            if hook["prohibited"]:
                raise SlackError(403, "action_prohibited")
            message = self._message(hook, payload)
            self.messages.append(message)
            return message

    def _take(self, webhook_id: str) -> None:
        """One message from the webhook's bucket (``burst`` messages, refilled at ``per_second``), or a 429."""
        if not self.rate:
            return
        now = time.monotonic()
        rate, burst = self.rate["per_second"], self.rate["burst"]
        tokens, at = self.buckets.get(webhook_id, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            wait = max(1, math.ceil((1 - tokens) / rate))
            self.buckets[webhook_id] = (tokens, now)
            raise SlackError(429, "rate_limited", {"Retry-After": str(wait)})
        self.buckets[webhook_id] = (tokens - 1, now)

    def _message(self, hook: dict[str, Any], payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise SlackError(400, "invalid_payload")
        text, blocks = payload.get("text"), payload.get("blocks")
        if text is not None and not isinstance(text, str):
            raise SlackError(400, "invalid_payload")
        if blocks is not None:
            check_blocks(blocks)
        if not (text or "").strip() and not blocks and not payload.get("attachments"):
            raise SlackError(400, "no_text")
        legacy = hook["kind"] == "legacy"  # an app's webhook cannot change its channel, name or icon
        channel = payload.get("channel") if legacy and payload.get("channel") else hook["channel"]
        known = self.channels.get(channel)
        if known is None:
            raise SlackError(404, "channel_not_found")
        if known["archived"]:
            raise SlackError(410, "channel_is_archived")
        icon_emoji, icon_url = hook["icon_emoji"], None
        if legacy and (payload.get("icon_emoji") or payload.get("icon_url")):
            icon_emoji, icon_url = payload.get("icon_emoji"), payload.get("icon_url")
        return {"id": len(self.messages) + 1, "team_id": hook["team_id"], "webhook_id": hook["webhook_id"],
                "channel": channel, "text": text, "blocks": blocks,
                "username": payload.get("username") if legacy and payload.get("username") else hook["username"],
                "icon_emoji": icon_emoji, "icon_url": icon_url, "payload": payload,
                "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")}


def check_blocks(blocks: Any) -> None:
    """Slack's ``invalid_blocks`` for what Block Kit refuses (the common rules, not the whole schema)."""
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackError(400, "invalid_blocks")
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            raise SlackError(400, "invalid_blocks")
        text = block.get("text")
        if kind == "section" and not (isinstance(text, dict) or block.get("fields")):
            raise SlackError(400, "invalid_blocks")
        if kind == "header" and not (isinstance(text, dict) and text.get("type") == "plain_text"):
            raise SlackError(400, "invalid_blocks")
        if isinstance(text, dict) and (text.get("type") not in ("plain_text", "mrkdwn")
                                       or not isinstance(text.get("text"), str) or not text["text"]):
            raise SlackError(400, "invalid_blocks")
