"""Async client of one Slack incoming webhook (API-NOTES §11, docs/connector-slack.md).

``POST https://hooks.slack.com/services/T…/B…/…`` with a JSON message (``text``, ``blocks``…) answers
``200`` and the plain text ``ok``. Errors are plain-text codes with a status: ``invalid_payload``, ``no_text``
(400), ``invalid_token``, ``action_prohibited`` (403), ``no_service``, ``channel_not_found`` (404),
``channel_is_archived`` (410); over about one message a second, ``429`` with ``Retry-After``.

Effects that must not happen twice: a message is posted each time the call is sent, and Slack takes no
idempotency key. The kit's rule applies (docs/connectors.md): retried only after failures that surely did
not reach Slack (no connection, 429); after a lost answer or a 5xx, :class:`OutcomeUnknown`, never re-sent.

Example:
    async with SlackWebhookClient(webhook_url=SecretStr("https://hooks.slack.com/services/T…/B…/…")) as slack:
        await slack.post_message({"text": "New order #1234"})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import ApiClient, ApiError, AuthError, NotFoundError, RetryPolicy, ValidationError, VendorClient
from connectors._http.client import tls_context
from connectors.slack.webhook import DEFAULT_BASE_URL, WebhookPath, WebhookTransport, parse_webhook_url

# Slack answers ~1 message per second per webhook; a short wait for its Retry-After is worth it, a long one is
# the runner's business (the zap's event is tried again later).
WEBHOOK_RETRY = RetryPolicy(max_attempts=4, max_total_wait=15.0, initial_wait=1.0, max_wait=5.0)

_WEBHOOK_GONE = "The webhook was removed or disabled: create a new one (Slack app → Incoming Webhooks) and save " \
    "its URL in the '{block}' block."
# Text codes of incoming webhooks → (error class, what to do). Other codes keep the class of their status.
WEBHOOK_ERRORS: dict[str, tuple[type[ApiError], str]] = {
    "invalid_payload": (ValidationError, "The message is not valid JSON of a Slack message; check text and blocks."),
    "no_text": (ValidationError, "Give a text (or blocks with a text as their notification fallback)."),
    "missing_text_or_fallback_or_attachments": (ValidationError, "Give a text, or blocks with a text."),
    "invalid_blocks": (ValidationError, "Check the blocks with Slack's Block Kit Builder."),
    "invalid_blocks_format": (ValidationError, "blocks must be a list of Block Kit objects, each with a type."),
    "too_many_attachments": (ValidationError, "Send fewer attachments (Slack takes 100 at most)."),
    "user_not_found": (ValidationError, "The user named in the message does not exist in this workspace."),
    "invalid_token": (AuthError, "The webhook URL's token is wrong: copy the URL again into the '{block}' block."),
    "no_service": (AuthError, _WEBHOOK_GONE),
    "no_service_id": (AuthError, _WEBHOOK_GONE),
    "no_team": (AuthError, "The workspace of this webhook is missing or deleted."),
    "team_disabled": (AuthError, "The workspace of this webhook is disabled."),
    "action_prohibited": (AuthError, "An admin of the workspace restricted posting with this webhook."),
    "posting_to_general_channel_denied": (AuthError, "An admin restricted posting to #general: use a webhook for "
                                          "another channel."),
    "channel_not_found": (NotFoundError, "The webhook's channel was deleted: create a webhook for an existing "
                          "channel."),
    "channel_is_archived": (NotFoundError, "The webhook's channel is archived: unarchive it or create a webhook "
                            "for another channel."),
}


class SlackWebhookApi(ApiClient):
    """The kit's client for one webhook: paths shown masked, Slack's text error codes classified."""

    def __init__(self, base_url: str, hook: WebhookPath, *, block: str, **options: Any) -> None:
        self.hook = hook
        self.block = block
        super().__init__(base_url, **options)

    def display_path(self, url: httpx.URL | str) -> str:
        # Requests are built on the masked path already; this also masks an absolute URL given by mistake.
        path = super().display_path(url)
        token = self.hook.token.get_secret_value()
        return path.replace(token, "***") if token else path

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        error = super().error_for(response, attempts=attempts)
        code = (error.message or "").strip()
        known = WEBHOOK_ERRORS.get(code)
        if known is None:
            return error
        cls, hint = known
        hint = hint.format(block=self.block)
        kwargs = dict(vendor=error.vendor, status=error.status, method=error.method, path=error.path,
                      message=code, attempts=attempts, hint=hint)
        if cls is AuthError:
            return AuthError(credential=self.credential, **kwargs)
        return cls(**kwargs)


class SlackWebhookClient(VendorClient):
    """One Slack incoming webhook.

    Args:
        webhook_url: ``https://hooks.slack.com/services/T…/B…/…`` (validated; a ``SecretStr``).
        base_url: Replaces ``https://hooks.slack.com`` (a proxy, or the sandbox ``http://HOST:PORT/slack``); the
            webhook's ``/services/…`` path is kept.
        block: The credentials Block's reference, named in hints.
        retry, timeout, transport: As for the kit's ``ApiClient`` (``transport``: the wire, e.g. a mock).
    """

    def __init__(self, *, webhook_url: SecretStr | str, base_url: str | None = None, block: str = "slack-credentials",
                 retry: RetryPolicy | None = None, timeout: float | httpx.Timeout = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.hook = parse_webhook_url(webhook_url)
        wire = transport or httpx.AsyncHTTPTransport(verify=tls_context(), trust_env=False)
        self.api = SlackWebhookApi(
            (base_url or DEFAULT_BASE_URL).rstrip("/"), self.hook, block=block, vendor="Slack",
            credential="webhook URL", auth_hint=f"Check the webhook URL in the '{block}' block.",
            max_concurrency=1, retry=retry or WEBHOOK_RETRY, timeout=timeout,
            transport=WebhookTransport(self.hook, wire), headers={"Accept": "text/plain, */*"})

    def __repr__(self) -> str:
        return f"SlackWebhookClient(base_url={self.api.base_url!r}, webhook={self.hook.shown_path!r})"

    async def post_message(self, message: Mapping[str, Any]) -> str:
        """Post one message; returns Slack's answer (``ok``).

        Args:
            message: The JSON body: ``text``, ``blocks``, and for legacy webhooks ``username``, ``icon_emoji``,
                ``icon_url``…

        Raises:
            ValidationError: Slack refused the message (``invalid_payload``, ``no_text``…).
            AuthError: the webhook is wrong, removed or restricted (``invalid_token``, ``no_service``…).
            NotFoundError: its channel was deleted or archived.
            RateLimitedError: still throttled after the retry budget.
            OutcomeUnknown: sent, and the answer was lost or was a 5xx: not re-sent.
        """
        response = await self.api.request("POST", self.hook.shown_path, json=dict(message))
        return response.text.strip()

    async def check(self) -> str:
        """Check the webhook without posting: an empty text is refused (``400 no_text``) by a live webhook,
        while a wrong or removed one answers ``invalid_token``/``no_service``. Returns the code Slack gave.

        Raises:
            AuthError, NotFoundError: the webhook does not work.
            ApiError: any other answer, including a ``200`` (something was posted: not a Slack webhook).
        """
        try:
            response = await self.api.request("POST", self.hook.shown_path, json={"text": ""})
        except ValidationError as exc:
            if exc.message in ("no_text", "missing_text_or_fallback_or_attachments"):
                return exc.message
            raise
        raise ApiError(vendor="Slack", status=response.status_code, method="POST", path=self.hook.shown_path,
                       message=f"an empty message was accepted ({response.text.strip()[:40]!r})",
                       hint="The URL does not behave as a Slack incoming webhook; check the base_url.")
