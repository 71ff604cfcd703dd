"""Async client of the Zendesk Support (Ticketing) API v2: tickets, users, ticket forms and ticket fields.

Auth is HTTP Basic in Zendesk's API-token form, ``{email}/token:{api_token}`` (``BasicAuth.zendesk_api_token``).
Paths are the OAS's (``/api/v2/tickets``; Zendesk also answers them with a ``.json`` suffix).

Pagination, one paginator for both of Zendesk's styles (``ZendeskPaginator``):

- cursor: ``page[size]`` (≤ 100) sent, the answer's ``meta {has_more, after_cursor}`` + ``links {next}``
  followed (ticket fields, ticket forms);
- offset: ``page``/``per_page``, the answer's ``next_page`` URL followed until null (``users/search``, which
  has offset pagination only, and ``GET /api/v2/tickets?external_id=`` read without page parameters).

Effects that must not happen twice (docs/connectors.md): ``POST /api/v2/tickets`` creates a ticket. Without
an idempotency key it is never re-sent after an answer that may have been lost (read timeout, dropped
connection, 500/502/504): :class:`~connectors._http.errors.OutcomeUnknown` is raised and the caller looks the
ticket up by its ``external_id`` (:meth:`ZendeskClient.tickets_by_external_id`; on tickets the external id is
a free field, neither unique nor enforced, so the lookup comes *before* a create too); ``PUT
/api/v2/tickets/{id}`` (:meth:`ZendeskClient.update_ticket`) adds a comment each time it is sent, so it is
never re-sent either. With
``idempotency_key=`` it is sent in Zendesk's ``Idempotency-Key`` header (the Ticketing API dedupes ticket
creation on it for two hours, answering ``x-idempotency-lookup: hit`` with the first ticket), so the client
may re-send it. 429 answers are retried after their ``Retry-After`` by the kit's retry policy.

Example:
    async with ZendeskClient(domain="https://acme.zendesk.com", email="admin@acme.com",
                             api_token=SecretStr("...")) as zendesk:
        fields = await zendesk.ticket_fields()
        ticket = await zendesk.create_ticket({"subject": "Chat", "comment": {"body": "…"}, "status": "solved"})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import ApiClient, ApiError, BasicAuth, Endpoint, NotFoundError, RetryPolicy, VendorClient
from connectors._http.decoding import response_json
from connectors._http.pagination import PageRequest, Paginator, json_object, url_key
from connectors.zendesk.models import TICKET_STATUSES, check_email, zendesk_domain

Row = dict[str, Any]
MAX_PAGE_SIZE = 100
IDEMPOTENCY_HEADER = "Idempotency-Key"

ME = Endpoint("me", "/api/v2/users/me")
TICKETS = Endpoint("tickets", "/api/v2/tickets", lambda: ZendeskPaginator("tickets", page_size=None))
TICKET = Endpoint("ticket", "/api/v2/tickets/{ticket_id}")
USERS_SEARCH = Endpoint("users_search", "/api/v2/users/search",
                        lambda: ZendeskPaginator("users", page_size=MAX_PAGE_SIZE, style="offset"))
TICKET_FORMS = Endpoint("ticket_forms", "/api/v2/ticket_forms", lambda: ZendeskPaginator("ticket_forms"))
TICKET_FIELDS = Endpoint("ticket_fields", "/api/v2/ticket_fields", lambda: ZendeskPaginator("ticket_fields"))


class ZendeskPaginator(Paginator):
    """Zendesk's two pagination styles, read from each answer.

    An answer with ``meta`` is a cursor page: it ends when ``meta.has_more`` is false, else ``links.next`` is
    followed (or ``meta.after_cursor`` sent back as ``page[after]``). An answer without ``meta`` is an offset
    page (or an unpaginated list): its ``next_page`` URL is followed until it is null.

    Args:
        data_key: Key of the item list (``tickets``, ``users``, ``ticket_fields``...).
        page_size: Page size asked for on the first page (None: send none, take the endpoint's default).
        style: ``cursor`` sends ``page[size]``; ``offset`` sends ``per_page``.
    """

    def __init__(self, data_key: str, *, page_size: int | None = MAX_PAGE_SIZE, style: str = "cursor") -> None:
        super().__init__()
        if style not in ("cursor", "offset"):
            raise ValueError("style must be 'cursor' or 'offset'")
        self.data_key = data_key
        self.page_size = page_size
        self.size_param = "page[size]" if style == "cursor" else "per_page"
        self._params: dict[str, Any] = {}
        self._next: PageRequest | None = None

    def first_params(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.page_size:
            params.setdefault(self.size_param, self.page_size)
        params.pop("page[after]", None)
        self._params = params
        return dict(params)

    def parse(self, response: httpx.Response) -> list[dict[str, Any]]:
        body = json_object(response)
        items = body.get(self.data_key)
        if not isinstance(items, list):
            raise ApiError(method=response.request.method, path=response.request.url.path,
                           status=response.status_code,
                           message=f"paged answer has no {self.data_key!r} list (keys: {sorted(body)})")
        self._seen.add(url_key(response.request.url))
        self._next = None
        meta = body.get("meta")
        if isinstance(meta, Mapping):
            if meta.get("has_more"):
                self._next = self._cursor_next(body, meta)
        elif body.get("next_page"):
            self._next = self._follow(str(body["next_page"]))
        return items

    def _cursor_next(self, body: Mapping[str, Any], meta: Mapping[str, Any]) -> PageRequest | None:
        links = body.get("links")
        url = links.get("next") if isinstance(links, Mapping) else None
        if url:
            return self._follow(str(url))
        cursor = meta.get("after_cursor")
        if not cursor:
            return None
        self._remember(("page[after]", cursor))
        return PageRequest(params={**self._params, "page[after]": cursor})

    def _follow(self, url: str) -> PageRequest:
        self._remember(url_key(httpx.URL(url)))
        return PageRequest(url=url)

    def next_request(self) -> PageRequest | None:
        return self._next


class ZendeskApi(ApiClient):
    """The kit's client, reading Zendesk's error bodies: ``{"error": "RecordInvalid", "description",
    "details": {field: [{"description", "error"}]}}``, ``{"error": "Couldn't authenticate you"}``,
    ``{"error": {"title", "message"}}``, and the plain-text 429 body."""

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        error = super().error_for(response, attempts=attempts)
        message, errors = zendesk_message(response)
        if message:
            error.message = message
        if errors:
            error.errors = errors
        return error


def zendesk_message(response: httpx.Response) -> tuple[str | None, dict[str, list[str]]]:
    """The message and the field errors of a Zendesk error answer (``(None, {})`` if it has neither)."""
    try:
        body = response_json(response)
    except ValueError:
        return (response.text.strip()[:200] or None), {}
    if not isinstance(body, Mapping):
        return None, {}
    error, description = body.get("error"), body.get("description")
    if isinstance(error, Mapping):  # {"error": {"title": "Forbidden", "message": "You do not have access…"}}
        message = ": ".join(str(error[k]) for k in ("title", "message") if error.get(k)) or None
    elif description and error:
        message = f"{description} ({error})"
    else:
        message = description or error or None
    errors: dict[str, list[str]] = {}
    details = body.get("details")
    if isinstance(details, Mapping):
        for field, problems in details.items():
            items = problems if isinstance(problems, list) else [problems]
            errors[str(field)] = [str(p.get("description") or p.get("error")) if isinstance(p, Mapping) else str(p)
                                  for p in items]
    return (str(message) if message is not None else None), errors


def check_ticket(ticket: Mapping[str, Any]) -> None:
    """Refuse, before sending, a ticket Zendesk would refuse (422) or misread, naming the field and the fix."""
    if not isinstance(ticket, Mapping):
        raise ValueError("ticket must be a dict of Zendesk ticket fields (subject, comment, status...)")
    comment = ticket.get("comment")
    if not isinstance(comment, Mapping) or not (comment.get("body") or comment.get("html_body")):
        raise ValueError("ticket.comment needs a 'body' or an 'html_body': Zendesk creates a ticket from its "
                         "first comment")
    status = ticket.get("status")
    if status is not None and status not in TICKET_STATUSES:
        raise ValueError(f"ticket.status must be one of {', '.join(TICKET_STATUSES)}; got {status!r}")
    requester = ticket.get("requester")
    if requester is not None:
        if "requester_id" in ticket:
            raise ValueError("give ticket.requester_id or ticket.requester, not both")
        if not isinstance(requester, Mapping):
            raise ValueError("ticket.requester must be {'name': ..., 'email': ...}")
        check_email(requester.get("email", ""), "ticket.requester.email")
    for i, entry in enumerate(ticket.get("custom_fields") or []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), int) or "value" not in entry:
            raise ValueError(f"ticket.custom_fields[{i}] must be {{'id': <ticket field id>, 'value': ...}}; "
                             f"got {entry!r}")


class ZendeskClient(VendorClient):
    """Zendesk Support API for one account.

    Args:
        email: E-mail of the agent or admin the API token acts as.
        api_token: An API token of the account (Admin Center → Apps and integrations → Zendesk API).
        domain: ``https://<subdomain>.zendesk.com`` (validated), or
        base_url: an API root that replaces it (a proxy, or the sandbox ``http://HOST:PORT/zendesk``).
        max_concurrency, retry, rate_limit, timeout, transport: Passed to the kit's ``ApiClient``.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(
        self,
        *,
        email: str,
        api_token: SecretStr | str,
        domain: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str | None = None,
    ) -> None:
        if not base_url and not domain:
            raise ValueError("give the Zendesk domain (https://<subdomain>.zendesk.com) or a base_url")
        root = base_url or zendesk_domain(domain or "")
        self.email = check_email(email)
        self.api = ZendeskApi(
            root, vendor="Zendesk", auth=BasicAuth.zendesk_api_token(self.email, api_token),
            credential="e-mail and API token",
            auth_hint=auth_hint or "Check the e-mail and API token in the 'zendesk-credentials' block.",
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout,
            transport=transport, idempotency_header=IDEMPOTENCY_HEADER,
        )

    def __repr__(self) -> str:
        return f"ZendeskClient(base_url={self.api.base_url!r}, email={self.email!r})"

    async def _list(self, endpoint: Endpoint, params: Mapping[str, Any] | None = None) -> list[Row]:
        return await self.api.fetch_all_pages(endpoint.path_for(), params, endpoint.new_paginator())

    # -- users -----------------------------------------------------------------------------------
    async def me(self) -> Row:
        """The user the credentials act as (``GET /api/v2/users/me``): ``{"id", "name", "email", "role"...}``.

        Zendesk answers this path for anonymous callers too (with ``"id": null``); the credentials Block's
        ``test()`` treats that as refused credentials.
        """
        return (await self.api.get_json(ME.path_for()) or {}).get("user") or {}

    async def search_users(self, query: str) -> list[Row]:
        """Every user matching a Zendesk search ``query`` (``GET /api/v2/users/search``, offset pages)."""
        return await self._list(USERS_SEARCH, {"query": query})

    async def find_user_by_email(self, email: str) -> Row | None:
        """The user whose e-mail is ``email`` (case-insensitive), or None.

        Searches ``query=email:<email>`` and keeps only exact matches (a search also matches partial
        values); of several, the oldest (lowest id).

        Raises:
            ValueError: ``email`` is not an e-mail address (nothing is sent).
        """
        wanted = check_email(email).lower()
        users = await self.search_users(f"email:{wanted}")
        exact = [u for u in users if str(u.get("email") or "").lower() == wanted]
        return min(exact, key=lambda u: u.get("id") or 0) if exact else None

    # -- tickets ---------------------------------------------------------------------------------
    async def create_ticket(self, ticket: Mapping[str, Any], *, idempotency_key: str | None = None) -> Row:
        """Create one ticket (``POST /api/v2/tickets`` → 201 ``{"ticket": ...}``); returns the ticket.

        Args:
            ticket: Zendesk ticket fields: ``comment {body | html_body, public}`` (required), ``subject``,
                ``status``, ``requester_id`` or ``requester {name, email}`` (creates the end user if
                unknown), ``ticket_form_id``, ``custom_fields [{id, value}]``, ``external_id``, ``tags``...
            idempotency_key: Sent as ``Idempotency-Key`` (Zendesk keeps it two hours): the call may then be
                re-sent after a lost answer. Without it, it never is.

        Raises:
            ValueError: the ticket lacks what Zendesk requires (named, nothing sent).
            OutcomeUnknown: no key, and the answer was lost after sending: look the ticket up by
                ``external_id`` before creating it again.
            ValidationError: Zendesk refused it (422 ``RecordInvalid``; ``errors`` names the fields).
        """
        check_ticket(ticket)
        body = await self.api.post_json(TICKETS.path_for(), {"ticket": dict(ticket)},
                                        idempotency_key=idempotency_key)
        return (body or {}).get("ticket") or {}

    async def update_ticket(self, ticket_id: int, ticket: Mapping[str, Any]) -> Row:
        """Update one ticket (``PUT /api/v2/tickets/{ticket_id}`` → 200 ``{"ticket", "audit"}``); returns the
        ticket.

        Args:
            ticket_id: The ticket's id.
            ticket: The fields to change: ``status``, ``ticket_form_id``, ``custom_fields [{id, value}]``,
                ``tags`` (replaces the list), ``comment {body | html_body, public}`` (adds a comment;
                ``public: false`` is an internal note)...

        Not idempotent: an update with a ``comment`` adds one more comment each time it is sent, so it is
        never re-sent after an answer that may have been lost (:class:`OutcomeUnknown`): read the ticket
        (:meth:`get_ticket`, e.g. a tag the update sets) before sending it again.

        Raises:
            ValueError: bad ``ticket_id`` or a comment without a body (nothing sent).
            NotFoundError: no such ticket. ValidationError: Zendesk refused a value (422, fields named).
            OutcomeUnknown: the answer was lost after sending.
        """
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id < 1:
            raise ValueError(f"ticket_id must be a Zendesk ticket id (a positive integer), not {ticket_id!r}")
        if not isinstance(ticket, Mapping) or not ticket:
            raise ValueError("ticket must be a non-empty dict of the fields to change (status, comment...)")
        comment = ticket.get("comment")
        if comment is not None and (not isinstance(comment, Mapping)
                                    or not (comment.get("body") or comment.get("html_body"))):
            raise ValueError("ticket.comment needs a 'body' or an 'html_body' (or leave the comment out)")
        body = await self.api.put_json(TICKET.path_for(ticket_id=ticket_id), {"ticket": dict(ticket)},
                                       idempotent=False)
        return (body or {}).get("ticket") or {}

    async def tickets_by_external_id(self, external_id: str) -> list[Row]:
        """Every ticket whose ``external_id`` is ``external_id`` (``GET /api/v2/tickets?external_id=``).

        Zendesk does not keep external ids unique on tickets: the list may hold several.
        """
        if not str(external_id or "").strip():
            raise ValueError("external_id must not be empty (an empty one would list every ticket)")
        return await self._list(TICKETS, {"external_id": str(external_id)})

    async def get_ticket(self, ticket_id: int) -> Row | None:
        """One ticket by id (``GET /api/v2/tickets/{ticket_id}``), or None if there is none."""
        try:
            body = await self.api.get_json(TICKET.path_for(ticket_id=ticket_id))
        except NotFoundError:
            return None
        return (body or {}).get("ticket")

    # -- forms and fields ------------------------------------------------------------------------
    async def ticket_forms(self, *, active: bool | None = None) -> list[Row]:
        """Every ticket form (``GET /api/v2/ticket_forms``), all pages; ``active`` filters if given."""
        params = {} if active is None else {"active": str(active).lower()}
        return await self._list(TICKET_FORMS, params)

    async def ticket_fields(self) -> list[Row]:
        """Every ticket field, system and custom, with its ``title`` and ``type`` (``GET /api/v2/ticket_fields``,
        cursor pages of 100)."""
        return await self._list(TICKET_FIELDS)
