"""A Slack incoming-webhook URL: its form, and the rule that its secret part never leaves a ``SecretStr``.

An incoming webhook is ``https://hooks.slack.com/services/T…/B…/<token>`` (API-NOTES §11): the workspace id,
the webhook's id and a token. The whole URL is the credential: anyone holding it can post to the channel. So
the connector shows it as ``/services/T…/B…/***`` (the ids are not secret: Slack shows them in its admin pages),
and :class:`WebhookTransport` swaps the token in only when the request is written to the wire, below httpx's
own request logging.

Example:
    >>> hook = parse_webhook_url("https://hooks.slack.com/services/T0001/B0001/abcDEF123")
    >>> hook.shown_path
    '/services/T0001/B0001/***'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

DEFAULT_BASE_URL = "https://hooks.slack.com"
WEBHOOK_FORM = "https://hooks.slack.com/services/T…/B…/…"
MASK = "***"
_WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/([A-Z0-9]+)/([A-Z0-9]+)/([A-Za-z0-9]+)/?")


@dataclass(frozen=True)
class WebhookPath:
    """The parts of an incoming-webhook URL; the token stays a ``SecretStr``."""

    team_id: str
    webhook_id: str
    token: SecretStr

    @property
    def shown_path(self) -> str:
        """The path as requests, logs and errors show it: ``/services/T…/B…/***``."""
        return f"/services/{self.team_id}/{self.webhook_id}/{MASK}"

    def __repr__(self) -> str:
        return f"WebhookPath({self.shown_path!r})"


def parse_webhook_url(value: SecretStr | str) -> WebhookPath:
    """The parts of a Slack incoming-webhook URL, or a ``ValueError`` saying the form expected.

    The message never repeats the value (it is a secret), only what is wrong with it.
    """
    text = (value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")).strip()
    match = _WEBHOOK.fullmatch(text)
    if match:
        return WebhookPath(match.group(1), match.group(2), SecretStr(match.group(3)))
    raise ValueError(f"must be a Slack incoming-webhook URL of the form {WEBHOOK_FORM} (Slack app settings → "
                     f"Incoming Webhooks → Copy); {_problem(text)} (the value is not shown: it is a secret)")


def _problem(text: str) -> str:
    if not text:
        return "it is empty"
    if text.startswith("http://"):
        return "it starts with http://, Slack's webhooks are https://"
    if text.startswith(("https://hooks.slack.com/workflows/", "https://hooks.slack.com/triggers/")):
        return "this is a Workflow Builder webhook, which takes the workflow's own variables, not a message"
    if not text.startswith("https://hooks.slack.com/services/"):
        return "it does not start with https://hooks.slack.com/services/"
    return "its path is not /services/<workspace id>/<webhook id>/<token>"


class WebhookTransport(httpx.AsyncBaseTransport):
    """Sends requests addressed to ``…/services/T…/B…/***`` to the webhook's real path.

    httpx logs and errors see the masked request (the client's); only the request handed to ``inner`` (the
    wire) carries the token, and the response keeps pointing at the masked one.
    """

    def __init__(self, hook: WebhookPath, inner: httpx.AsyncBaseTransport) -> None:
        self.hook = hook
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(self.hook.shown_path):
            real = path[: -len(MASK)] + self.hook.token.get_secret_value()
            request = httpx.Request(request.method, request.url.copy_with(path=real), headers=request.headers,
                                    stream=request.stream, extensions=request.extensions)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"WebhookTransport({self.hook.shown_path!r})"
