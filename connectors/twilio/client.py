"""Async client of Twilio's REST API 2010-04-01: the account and Programmable Messaging (send, read, list).

Auth (API-NOTES §10): HTTP Basic ``AccountSid:AuthToken``. Bodies are ``application/x-www-form-urlencoded``
(not JSON), answers JSON; errors are ``{"code", "message", "more_info", "status"}`` (21211 invalid To, 21606 /
21659 a From that is not the account's, 20003 bad credentials…), read by :class:`TwilioApi`.

Effects (DESIGN.md, "Effects that must not happen twice"): ``POST …/Messages.json`` sends an SMS each time it is
sent and Twilio takes no idempotency key, so it is never re-sent after an answer that may have been lost (a
read timeout, a 500/502/504): :class:`~connectors._http.errors.OutcomeUnknown` is raised and someone checks
:meth:`TwilioClient.list_messages` before sending again. A 429 or a connection that never opened is retried.

Example:
    async with TwilioClient(account_sid="AC…", auth_token=SecretStr("…")) as twilio:
        message = await twilio.send_message("+15145550100", "Hello", from_="+15005550006")
        message["sid"], message["status"]        # "SM…", "queued"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    ApiError,
    BasicAuth,
    CursorPaginator,
    Endpoint,
    NotFoundError,
    RetryPolicy,
    VendorClient,
)
from connectors._http.decoding import response_json
from connectors.twilio.models import check_body, check_phone, check_sender, check_sid

Row = dict[str, Any]
DEFAULT_BASE_URL = "https://api.twilio.com"
MAX_PAGE_SIZE = 1000

ACCOUNT = Endpoint("account", "/2010-04-01/Accounts/{account_sid}.json")
MESSAGES = Endpoint("messages", "/2010-04-01/Accounts/{account_sid}/Messages.json",
                    lambda: CursorPaginator("messages", next_url="next_page_uri", page_size=MAX_PAGE_SIZE,
                                            page_size_param="PageSize"))
MESSAGE = Endpoint("message", "/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json")


def twilio_message(response: httpx.Response) -> str | None:
    """``"<message> (Twilio error <code>: <more_info>)"`` from a Twilio error answer, or its text."""
    try:
        body = response_json(response)
    except ValueError:
        return response.text.strip()[:200] or None
    if not isinstance(body, Mapping):
        return None
    message = str(body.get("message") or body.get("detail") or "").strip() or None
    code = body.get("code")
    if code is None:
        return message
    where = f"Twilio error {code}" + (f": {body['more_info']}" if body.get("more_info") else "")
    return f"{message.rstrip('.')} ({where})" if message else where


class TwilioApi(ApiClient):
    """The kit's client, reading Twilio's error bodies (message, code and its documentation link)."""

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        error = super().error_for(response, attempts=attempts)
        message = twilio_message(response)
        if message:
            error.message = message
        return error


class TwilioClient(VendorClient):
    """Twilio REST API for one account.

    Args:
        account_sid: The account's SID (``AC`` + 32 hex digits), the Basic user and part of every path.
        auth_token: Its Auth Token (Console → Account info).
        base_url: API root replacing ``https://api.twilio.com`` (the sandbox's ``http://HOST:PORT/twilio``).
        max_concurrency, auth_hint, retry, rate_limit, timeout, transport, sleep: :class:`ApiClient` options.
    """

    def __init__(self, *, account_sid: str, auth_token: SecretStr | str, base_url: str | None = None,
                 max_concurrency: int = 8, auth_hint: str | None = None, retry: RetryPolicy | None = None,
                 **options: Any) -> None:
        self.account_sid = check_sid(account_sid, "AC", "account_sid")
        token = auth_token if isinstance(auth_token, SecretStr) else SecretStr(auth_token)
        self.api = TwilioApi((base_url or DEFAULT_BASE_URL).rstrip("/"), vendor="Twilio",
                             auth=BasicAuth(self.account_sid, token), credential="Account SID and Auth Token",
                             auth_hint=auth_hint or "Check the Account SID and Auth Token (Console → Account info).",
                             max_concurrency=max_concurrency, retry=retry, **options)

    @property
    def base_url(self) -> str:
        return self.api.base_url

    async def fetch_account(self) -> Row:
        """The account (``GET /2010-04-01/Accounts/{AccountSid}.json``: ``friendly_name``, ``status``…)."""
        return await self.api.get_json(ACCOUNT.path_for(account_sid=self.account_sid)) or {}

    async def send_message(self, to: str, body: str, *, from_: str | None = None,
                           messaging_service_sid: str | None = None, status_callback: str | None = None) -> Row:
        """Send one SMS (``POST …/Messages.json``, form-encoded) → 201, the message (``sid`` SM…, ``status``
        queued, or accepted when a Messaging Service picks the sender).

        Args:
            to: The recipient, E.164 (``+15145550100``).
            body: The text, up to 1,600 characters (split in segments by Twilio).
            from_: A number (or alphanumeric sender ID) of the account. Exactly one of ``from_`` and
                ``messaging_service_sid``.
            messaging_service_sid: A Messaging Service (``MG…``) whose sender pool picks the number.
            status_callback: URL Twilio calls with each status change.

        Not idempotent: never re-sent after a lost answer (:class:`OutcomeUnknown`).

        Raises:
            ValueError: a bad number, SID or body, or not exactly one sender (nothing sent).
            ValidationError: Twilio refused it (its code says why: 21211 invalid To, 21606 / 21659 From).
            OutcomeUnknown: the answer was lost after sending.
        """
        sender, service = check_sender(from_, messaging_service_sid)
        form = {"To": check_phone(to, "to"), "Body": check_body(body)}
        if sender is not None:
            form["From"] = sender
        if service is not None:
            form["MessagingServiceSid"] = service
        if status_callback:
            if not status_callback.startswith(("https://", "http://")):
                raise ValueError(f"status_callback must be an http(s) URL; got {status_callback!r}")
            form["StatusCallback"] = status_callback
        response = await self.api.request("POST", MESSAGES.path_for(account_sid=self.account_sid), data=form)
        return response_json(response)

    async def get_message(self, sid: str) -> Row | None:
        """One message by SID (``GET …/Messages/{Sid}.json``), or None if the account has none."""
        path = MESSAGE.path_for(account_sid=self.account_sid, sid=check_sid(sid, "SM", "sid"))
        try:
            return await self.api.get_json(path)
        except NotFoundError:
            return None

    async def list_messages(self, *, to: str | None = None, from_: str | None = None, date_sent: str | None = None,
                            page_size: int = MAX_PAGE_SIZE) -> list[Row]:
        """Messages of the account, newest first, every page (``next_page_uri`` followed until null).

        Args:
            to, from_: Filters (E.164). date_sent: ``YYYY-MM-DD`` (the day the messages were sent, GMT).
        """
        params: Row = {"PageSize": max(1, min(page_size, MAX_PAGE_SIZE))}
        if to is not None:
            params["To"] = check_phone(to, "to")
        if from_ is not None:
            params["From"] = from_
        if date_sent is not None:
            params["DateSent"] = date_sent
        return await self.api.fetch_all_pages(MESSAGES.path_for(account_sid=self.account_sid), params,
                                              MESSAGES.new_paginator())
