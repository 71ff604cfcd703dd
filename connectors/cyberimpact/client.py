"""Async client of the Cyberimpact REST API (bearer token; see ``docs/contracts.md``).

Member keys (e-mails or ids) are URL-encoded in paths. Listings read ``limit`` = 10 000 members per page,
learn ``totalCount`` from page 1 and fetch the remaining pages concurrently. Bulk writes go through
batches: :meth:`CyberimpactClient.add_members` chunks, submits concurrently, polls and aggregates.

Effects that must not happen twice (docs/connectors.md): Cyberimpact takes no idempotency key. Writes that
converge whatever the number of times they are sent are marked ``idempotent=True`` and retried after a lost
answer: batches (``addMembers`` upserts by e-mail; ``unsubscribe`` and ``deleteMembers`` by id or e-mail),
adding a member to groups (a set union), a PATCH that does not change the e-mail; PUT and DELETE are
idempotent by method. Creating a custom field or a group is not: after a lost answer it raises
:class:`~connectors._http.errors.OutcomeUnknown` (the title/name is unique, so the caller looks it up).

Example:
    async with CyberimpactClient(api_token=SecretStr("...")) as cyber:
        members = await cyber.list_members()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    ApiError,
    BearerTokenAuth,
    Endpoint,
    NotFoundError,
    PageLimitPaginator,
    RetryPolicy,
    VendorClient,
    gather_or_cancel,
)
from connectors.cyberimpact.batches import BatchOutcome, add_members_bodies, merge_results

DEFAULT_BASE_URL = "https://api.cyberimpact.com"
MAX_LIMIT = 10_000
MAX_BATCH = 10_000
Row = dict[str, Any]

# Endpoints as data.
PING = Endpoint("ping", "/ping")
ACCOUNT = Endpoint("account", "/account")
MEMBERS = Endpoint("members", "/members", lambda: PageLimitPaginator("members"))
MEMBER = Endpoint("member", "/members/{key}")
UNSUBSCRIBED = Endpoint("unsubscribed", "/members/unsubscribed", lambda: PageLimitPaginator("members"))
CONSENT = Endpoint("consent", "/members/{key}/consent")
MEMBER_GROUPS = Endpoint("member_groups", "/members/{key}/groups")
MEMBER_GROUP = Endpoint("member_group", "/members/{key}/groups/{group_id}")
CUSTOM_FIELDS = Endpoint("custom_fields", "/customfields", lambda: PageLimitPaginator("customFields"))
GROUPS = Endpoint("groups", "/groups", lambda: PageLimitPaginator("groups"))
GROUP_MEMBERS = Endpoint("group_members", "/groups/{group_id}/members", lambda: PageLimitPaginator("members"))
BATCHES = Endpoint("batches", "/batches")
BATCH = Endpoint("batch", "/batches/{batch_id}")


class CyberimpactClient(VendorClient):
    """Cyberimpact REST API for one account.

    Args:
        api_token: The account's API token.
        base_url: API root; a sandbox URL in tests and demos.
        max_concurrency: Requests in flight at once.
        limit: Page size of listings (max 10 000).
        retry, rate_limit, timeout, transport: Passed to :class:`~connectors._http.client.ApiClient`.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(
        self,
        *,
        api_token: SecretStr | str,
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 8,
        limit: int = MAX_LIMIT,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str | None = None,
    ) -> None:
        self.limit = limit
        self.api = ApiClient(
            base_url, vendor="Cyberimpact", auth=BearerTokenAuth(api_token), credential="API token",
            auth_hint=auth_hint or "Check the token in the 'cyberimpact-credentials' block.",
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"CyberimpactClient(base_url={self.api.base_url!r})"

    async def _list(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None = None, **values: Any
    ) -> list[Row]:
        query = {"limit": self.limit, **(params or {})}
        return await self.api.fetch_all_pages(endpoint.path_for(**values), query, endpoint.new_paginator())

    # -- account ---------------------------------------------------------------------------------
    async def ping(self) -> Row:
        """Check the token with ``GET /ping``.

        Returns:
            ``{"ping": "pong"}``.

        Example:
            await cyber.ping()
        """
        return await self.api.get_json(PING.path_for())

    async def get_account(self) -> Row:
        """The account: ``{"id", "name", "plan", "customFieldsLimit"}``.

        Example:
            limit = (await cyber.get_account())["customFieldsLimit"]
        """
        return await self.api.get_json(ACCOUNT.path_for())

    # -- members ---------------------------------------------------------------------------------
    async def list_members(self, status: str = "all") -> list[Row]:
        """Every member with a status.

        Args:
            status: ``active``, ``unsubscribed`` or ``all``.

        Returns:
            Member dicts (``email``, ``customFields``, ``groups``, consent fields...).

        Example:
            active = await cyber.list_members("active")
        """
        return await self._list(MEMBERS, {"status": status})

    async def get_member(self, key: str | int) -> Row | None:
        """One member by e-mail or id, or None if unknown.

        Example:
            member = await cyber.get_member("lea@example.org")
        """
        try:
            return await self.api.get_json(MEMBER.path_for(key=key))
        except NotFoundError:
            return None

    async def list_unsubscribed(self) -> list[Row]:
        """Every unsubscribed member.

        Example:
            gone = {m["email"] for m in await cyber.list_unsubscribed()}
        """
        return await self._list(UNSUBSCRIBED)

    async def patch_member(self, key: str | int, fields: Mapping[str, Any]) -> Row:
        """Edit some fields of a member (others are kept).

        Args:
            key: E-mail or id.
            fields: Fields to change, e.g. ``{"firstname": "Léa", "customFields": {"3": "True"}}``.

        Returns:
            The updated member.

        Example:
            await cyber.patch_member("lea@example.org", {"note": "VIP"})
        """
        # Applying the same fields twice leaves the member as once, unless the e-mail (the key) changes: then
        # a replay would address the old e-mail.
        return await self.api.patch_json(MEMBER.path_for(key=key), dict(fields), idempotent="email" not in fields)

    async def get_consent(self, key: str | int) -> Row:
        """A member's consent: ``{"consentType", "relationType", "consentDate", "consentExpiration",
        "consentProof"}``.

        Example:
            consent = await cyber.get_consent("lea@example.org")
        """
        return await self.api.get_json(CONSENT.path_for(key=key))

    async def put_consent(self, key: str | int, relation_type: str, consent_date: date | str | None,
                          consent_proof: str | None) -> Row:
        """Set a member's consent. An express consent cannot be replaced by an implied one (422).

        Args:
            key: E-mail or id.
            relation_type: ``active-clients``, ``express-consent``... (see the contract).
            consent_date: Day of the consent (date or ``YYYY-MM-DD``), or None.
            consent_proof: Free text proof, or None.

        Returns:
            The member's consent after the change.

        Example:
            await cyber.put_consent("lea@example.org", "active-clients", date(2025, 9, 1), "Amilia")
        """
        day = consent_date.isoformat() if isinstance(consent_date, date) else consent_date
        body = {"relationType": relation_type, "consentDate": day, "consentProof": consent_proof}
        return await self.api.put_json(CONSENT.path_for(key=key), body)

    # -- custom fields ---------------------------------------------------------------------------
    async def list_custom_fields(self) -> list[Row]:
        """Custom fields: ``[{"id", "name", "type"}]``.

        Example:
            by_name = {f["name"]: f["id"] for f in await cyber.list_custom_fields()}
        """
        return await self._list(CUSTOM_FIELDS)

    async def create_custom_field(self, name: str, type: str) -> Row:
        """Create a custom field (422 when the account's limit is reached or the name is taken). Not re-sent
        after a lost answer: raises OutcomeUnknown, and the caller looks the name up.

        Args:
            name: Field name.
            type: ``text``, ``date``, ``integer`` or ``decimal``.

        Example:
            field = await cyber.create_custom_field("Amilia.IsArchived", "text")
        """
        return await self.api.post_json(CUSTOM_FIELDS.path_for(), {"name": name, "type": type})

    # -- groups ----------------------------------------------------------------------------------
    async def list_groups(self) -> list[Row]:
        """All groups (static and dynamic).

        Example:
            groups = {g["title"]: g["id"] for g in await cyber.list_groups()}
        """
        return await self._list(GROUPS)

    async def create_static_group(self, title: str) -> Row:
        """Create a private static group (422 when the title exists). Not re-sent after a lost answer:
        raises OutcomeUnknown, and the caller looks the title up.

        Example:
            group = await cyber.create_static_group("Amilia \\ Arts \\ Danse")
        """
        return await self.api.post_json(GROUPS.path_for(), {"title": title, "isPublic": False})

    async def create_dynamic_group(self, title: str, criteria: Mapping[str, Any]) -> Row:
        """Create a private dynamic group whose members are computed from ``criteria``.

        Args:
            title: Group title.
            criteria: ``{"match": "all"|"any", "rules": [{"field", "operator", "value", ...}]}``.

        Example:
            await cyber.create_dynamic_group("Arts", {"match": "all", "rules": [
                {"field": "groupTitle", "operator": "contains", "value": "Arts \\ "}]})
        """
        body = {"title": title, "isPublic": False, "isDynamic": True, "criteria": dict(criteria)}
        return await self.api.post_json(GROUPS.path_for(), body)

    async def list_group_members(self, group_id: int, status: str = "all") -> list[Row]:
        """Members of a group (computed on read for dynamic groups).

        Example:
            members = await cyber.list_group_members(12)
        """
        return await self._list(GROUP_MEMBERS, {"status": status}, group_id=group_id)

    async def add_member_groups(self, key: str | int, group_ids: Sequence[int]) -> Any:
        """Add a member to static groups (kept in its other groups).

        Returns:
            The vendor's answer (the member's groups).

        Example:
            await cyber.add_member_groups("lea@example.org", [3, 4])
        """
        body = {"groups": ",".join(str(g) for g in group_ids)}
        return await self.api.post_json(MEMBER_GROUPS.path_for(key=key), body, idempotent=True)  # set union

    async def remove_member_group(self, key: str | int, group_id: int) -> Any:
        """Remove a member from one static group.

        Example:
            await cyber.remove_member_group("lea@example.org", 3)
        """
        return await self.api.delete(MEMBER_GROUP.path_for(key=key, group_id=group_id))

    # -- batches ---------------------------------------------------------------------------------
    async def submit_batch(self, body: Mapping[str, Any]) -> int:
        """Submit a batch (``addMembers``, ``unsubscribe`` or ``deleteMembers``).

        Returns:
            The batch id, to pass to :meth:`wait_batch`.

        Example:
            batch_id = await cyber.submit_batch({"batchType": "unsubscribe", "ids": ["a@example.org"]})
        """
        # Every batch type converges (upsert by e-mail, unsubscribe, delete): a replay writes nothing new.
        answer = await self.api.post_json(BATCHES.path_for(), dict(body), idempotent=True)
        return int(answer["id"])

    async def wait_batch(self, batch_id: int, poll_interval: float = 0.05, timeout: float = 600) -> Row:
        """Poll a batch until it is completed. The interval grows by half each poll, up to 5 s.

        Args:
            batch_id: From :meth:`submit_batch`.
            poll_interval: First delay between polls, in seconds.
            timeout: Give up (``TimeoutError``) after this many seconds.

        Returns:
            The completed batch, with ``result`` = ``{"successes", "failures", "errors": [...]}``.

        Example:
            result = (await cyber.wait_batch(batch_id))["result"]
        """
        deadline = time.monotonic() + timeout
        path = BATCH.path_for(batch_id=batch_id)
        delay = poll_interval
        while True:
            batch = await self.api.get_json(path, {"showErrorDetails": "true"})
            status = batch.get("status")
            if status == "completed":
                return batch
            if status in ("failed", "error", "cancelled", "canceled"):
                raise ApiError(vendor="Cyberimpact", method="GET", path=path,
                               message=f"batch {batch_id} ended with status {status!r}")
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"Cyberimpact batch {batch_id} not completed after {timeout:g} s "
                                   f"(status {status!r})")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    async def add_members(
        self,
        members: Sequence[Mapping[str, Any]],
        groups: Sequence[int] = (),
        relation_type: str = "active-clients",
        default_consent_date: date | str | None = None,
        default_consent_proof: str | None = None,
        chunk_size: int = 1000,
    ) -> BatchOutcome:
        """Create or update members with ``addMembers`` batches, submitted concurrently.

        Args:
            members: Member dicts (``email`` required; ``customFields``, ``consentDate``... optional).
            groups: Static group ids every member is added to.
            relation_type: Consent relation applied with a consent date.
            default_consent_date: Consent date of members that give none (None: keep existing consent).
            default_consent_proof: Consent proof of members that give none.
            chunk_size: Members per batch (max 10 000).

        Returns:
            A :class:`BatchOutcome`; error indexes refer to positions in ``members``.

        Example:
            outcome = await cyber.add_members([{"email": "lea@example.org"}], groups=[3])
            assert outcome.failures == 0, outcome.errors
        """
        if not 1 <= chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be between 1 and {MAX_BATCH}")
        bodies = add_members_bodies(members, groups, relation_type, default_consent_date,
                                    default_consent_proof, chunk_size)
        if not bodies:
            return BatchOutcome()
        ids = await gather_or_cancel(self.submit_batch(body) for _, body in bodies)
        batches = await gather_or_cancel(self.wait_batch(i) for i in ids)
        return merge_results(members, [(offset, b) for (offset, _), b in zip(bodies, batches, strict=True)])
