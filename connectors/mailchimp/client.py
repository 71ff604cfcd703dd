"""Async client of the Mailchimp Marketing API v3: list members (upsert by subscriber hash) and member tags.

Host and auth (API-NOTES §8): ``https://<dc>.api.mailchimp.com/3.0`` where ``<dc>`` is the API key's suffix
(``…-us21``), HTTP Basic with any user name and the key as the password. Errors are
``application/problem+json`` ``{type, title, status, detail, instance}``, with an ``errors`` list
(``[{"field", "message"}]``) when a field was refused; :class:`MailchimpApi` reads them.

Effects (DESIGN.md, "Effects that must not happen twice"): ``PUT /lists/{id}/members/{hash}`` is an upsert by
key, so it is retried freely; ``POST …/tags`` sets tags active or inactive, the same final state however many
times it is sent, so it is marked idempotent too.

Example:
    async with MailchimpClient(api_key=SecretStr("…-us21")) as mailchimp:
        member = await mailchimp.upsert_member("8e3b1f0c2a", "lea@example.org",
                                               merge_fields={"FNAME": "Léa"})
        await mailchimp.update_member_tags("8e3b1f0c2a", "lea@example.org", active=["okast"])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    ApiError,
    BasicAuth,
    Endpoint,
    NotFoundError,
    OffsetPaginator,
    RetryPolicy,
    VendorClient,
)
from connectors._http.decoding import response_json
from connectors.mailchimp.models import (
    STATUSES,
    check_email,
    check_list_id,
    check_tag_name,
    data_center,
    default_base_url,
    subscriber_hash,
)

Row = dict[str, Any]
MAX_COUNT = 1000  # Mailchimp's largest page (count)

PING = Endpoint("ping", "/ping")
LIST = Endpoint("list", "/lists/{list_id}")
MEMBER = Endpoint("member", "/lists/{list_id}/members/{subscriber_hash}")
MEMBER_TAGS = Endpoint("member_tags", "/lists/{list_id}/members/{subscriber_hash}/tags",
                       lambda: OffsetPaginator("tags", MAX_COUNT, limit_param="count", total_key="total_items"))


def problem(response: httpx.Response) -> tuple[str | None, dict[str, str]]:
    """The message and field errors of a Mailchimp problem document (``(None, {})`` if it is not one).

    ``{"title": "Invalid Resource", "detail": "The resource submitted could not be validated…",
    "errors": [{"field": "email_address", "message": "…"}]}`` → ``("Invalid Resource: The resource…",
    {"email_address": "…"})``; an empty ``field`` (a missing required field) is reported as ``body``.
    """
    try:
        body = response_json(response)
    except ValueError:
        return (response.text.strip()[:200] or None), {}
    if not isinstance(body, Mapping):
        return None, {}
    title, detail = body.get("title"), body.get("detail")
    message = ": ".join(str(part) for part in (title, detail) if part) or None
    errors: dict[str, str] = {}
    for entry in body.get("errors") or []:
        if isinstance(entry, Mapping):
            field = str(entry.get("field") or "body")
            errors[field] = "; ".join(filter(None, (errors.get(field), str(entry.get("message") or ""))))
    return message, errors


class MailchimpApi(ApiClient):
    """The kit's client, reading Mailchimp's problem documents (``title: detail`` and the ``errors`` list)."""

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        error = super().error_for(response, attempts=attempts)
        message, errors = problem(response)
        if message:
            error.message = message
        if errors:
            error.errors = errors
        return error


class MailchimpClient(VendorClient):
    """Mailchimp Marketing API v3 for one account.

    Args:
        api_key: The API key (``…-us21``); its data center picks the host unless ``base_url`` is given.
        base_url: API root replacing ``https://<dc>.api.mailchimp.com/3.0`` (a proxy, the sandbox's
            ``http://HOST:PORT/mailchimp``). The key's data center is checked either way.
        max_concurrency: Calls in flight at once; Mailchimp allows 10 simultaneous connections per user
            (more are answered 429), so keep it below 10.
        auth_hint, retry, rate_limit, timeout, transport, sleep: :class:`ApiClient` options.

    Raises:
        ValueError: the key has no data center suffix (the message never shows the key).
    """

    def __init__(self, *, api_key: SecretStr | str, base_url: str | None = None, max_concurrency: int = 4,
                 auth_hint: str | None = None, retry: RetryPolicy | None = None, **options: Any) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.data_center = data_center(key)
        if max_concurrency > 10:
            raise ValueError("max_concurrency: Mailchimp allows 10 simultaneous connections per user; use 10 "
                             "or fewer")
        self.api = MailchimpApi(
            (base_url or default_base_url(self.data_center)).rstrip("/"), vendor="Mailchimp",
            auth=BasicAuth("passerelle", key), credential="API key",
            auth_hint=auth_hint or "Check the API key (Profile → Extras → API keys).",
            max_concurrency=max_concurrency, retry=retry, **options)

    @property
    def base_url(self) -> str:
        return self.api.base_url

    # -- account ---------------------------------------------------------------------------------
    async def ping(self) -> Row:
        """``GET /ping`` → ``{"health_status": "Everything's Chimpy!"}``: the cheapest call the key must pass."""
        return await self.api.get_json(PING.path_for()) or {}

    async def get_list(self, list_id: str) -> Row | None:
        """One audience (``GET /lists/{list_id}``, ``id``, ``name``, ``stats``…), or None if there is none."""
        try:
            return await self.api.get_json(LIST.path_for(list_id=check_list_id(list_id)),
                                           {"fields": "id,name,stats.member_count"})
        except NotFoundError:
            return None

    # -- members ---------------------------------------------------------------------------------
    async def upsert_member(
        self, list_id: str, email: str, *, status_if_new: str = "subscribed", status: str | None = None,
        merge_fields: Mapping[str, Any] | None = None, language: str | None = None, vip: bool | None = None,
        skip_merge_validation: bool = False,
    ) -> Row:
        """Add or update one member (``PUT /lists/{list_id}/members/{subscriber_hash}``); returns the member.

        Args:
            list_id: The audience id.
            email: The member's e-mail address (its hash, MD5 of the lower-cased address, is the key).
            status_if_new: Status given to a new member: subscribed, pending (double opt-in e-mail),
                unsubscribed, cleaned or transactional. Existing members keep theirs.
            status: Changes an existing member's status too (same values). Mailchimp refuses to subscribe
                again an address that unsubscribed or bounced ("Member In Compliance State"): use pending.
            merge_fields: ``{"FNAME": "Léa", "LNAME": "Roy"}``; tags the audience does not have are ignored
                by Mailchimp.
            skip_merge_validation: Accept the member even if a required merge field is missing.

        Raises:
            ValueError: a bad e-mail, list id or status (nothing sent).
            NotFoundError: no such audience. ValidationError: Mailchimp refused a field or the status
                change (the message says which).
        """
        address = check_email(email)
        for name, value in (("status_if_new", status_if_new), ("status", status)):
            if value is not None and value not in STATUSES:
                raise ValueError(f"{name} must be one of {', '.join(STATUSES)}; got {value!r}")
        body: Row = {"email_address": address, "status_if_new": status_if_new}
        if status is not None:
            body["status"] = status
        if merge_fields:
            body["merge_fields"] = dict(merge_fields)
        if language is not None:
            body["language"] = language
        if vip is not None:
            body["vip"] = bool(vip)
        params = {"skip_merge_validation": "true"} if skip_merge_validation else None
        path = MEMBER.path_for(list_id=check_list_id(list_id), subscriber_hash=subscriber_hash(address))
        return await self.api.put_json(path, body, params) or {}

    async def get_member(self, list_id: str, email: str) -> Row | None:
        """One member (``GET /lists/{list_id}/members/{subscriber_hash}``), or None if the list has none."""
        path = MEMBER.path_for(list_id=check_list_id(list_id), subscriber_hash=subscriber_hash(email))
        try:
            return await self.api.get_json(path)
        except NotFoundError:
            return None

    # -- tags ------------------------------------------------------------------------------------
    async def update_member_tags(self, list_id: str, email: str, *, active: Iterable[str] = (),
                                 inactive: Iterable[str] = (), is_syncing: bool = False) -> None:
        """Set tags active (added; an unknown tag is created) or inactive (removed) on one member
        (``POST /lists/{list_id}/members/{subscriber_hash}/tags`` → 204).

        Sent as an idempotent call: the final tags are the same however many times it is sent.

        Args:
            is_syncing: True keeps automations based on these tags from firing.

        Raises:
            ValueError: no tag, an empty or too long name, or a tag both active and inactive (nothing sent).
            NotFoundError: the audience has no such member (upsert it first).
        """
        on = [check_tag_name(name, "active") for name in active]
        off = [check_tag_name(name, "inactive") for name in inactive]
        if not on and not off:
            raise ValueError("give at least one tag to set active or inactive")
        both = sorted({n.lower() for n in on} & {n.lower() for n in off})
        if both:
            raise ValueError(f"tags both active and inactive: {', '.join(both)}; keep each tag on one side")
        body: Row = {"tags": [{"name": n, "status": "active"} for n in on]
                     + [{"name": n, "status": "inactive"} for n in off]}
        if is_syncing:
            body["is_syncing"] = True
        path = MEMBER_TAGS.path_for(list_id=check_list_id(list_id), subscriber_hash=subscriber_hash(email))
        await self.api.post_json(path, body, idempotent=True)

    async def member_tags(self, list_id: str, email: str) -> list[Row]:
        """Every tag of one member (``GET …/tags``, pages of ``count``/``offset`` with ``total_items``):
        ``[{"id", "name", "date_added"}]``."""
        path = MEMBER_TAGS.path_for(list_id=check_list_id(list_id), subscriber_hash=subscriber_hash(email))
        return await self.api.fetch_all_pages(path, None, MEMBER_TAGS.new_paginator())
