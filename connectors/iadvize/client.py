"""Async client of the iAdvize GraphQL API (docs/connector-iadvize.md; API-NOTES.md, "3. iAdvize").

Auth is either a static GraphQL token (``token=``: the "iAdvize token for graphQL api" iAdvize's support hands
out, sent as ``Authorization: Bearer`` as is; a 401 is an :class:`AuthError` naming the token) or OAuth 2's
password grant: ``POST {base}/oauth2/token`` (form: ``username``, ``password``,
``grant_type=password``) answers ``{"access_token", "expires_in": 86400, ...}``; the token is sent as
``Authorization: Bearer``, kept until shortly before it expires, and fetched again once when the API answers
401 ``invalid_token`` (the kit's :class:`~connectors._http.auth.OAuth2TokenAuth`). A refused login (400
``invalid_grant``) is an :class:`AuthError`; iAdvize allows 10 logins per minute per user, and a 429 on the
login is retried after its ``Retry-After`` like any throttled call.

Every query is ``POST {base}/graphql`` (``?platform=sd`` for accounts on the SD platform). GraphQL reports
failures as ``{"errors": [...]}`` in a 200 answer: :func:`graphql_errors` turns them into an ``ApiError``
naming the operation and iAdvize's messages. Queries are reads, so they are sent as idempotent calls (retried
after a lost answer) although they are POSTs.

Example:
    async with IadvizeClient(username="me@example.org", password=SecretStr("...")) as iadvize:
        async for closed in iadvize.closed_conversations(start, end, project_ids=[4321]):
            conversation = await iadvize.conversation(closed.id)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    ApiError,
    AuthError,
    BearerTokenAuth,
    GraphQLCursorPaginator,
    IssuedToken,
    OAuth2TokenAuth,
    PaginationLoopError,
    RetryPolicy,
    ValidationError,
    VendorClient,
)
from connectors._http.decoding import response_json
from connectors.iadvize.models import Conversation, ConversationSummary
from connectors.iadvize.queries import CLOSED_CONVERSATIONS, CONVERSATION, PROJECTS, GraphQLQuery

DEFAULT_BASE_URL = "https://api.iadvize.com"
PLATFORMS = ("ha", "sd")
PAGE_SIZE = 100  # conversations per closedConversations page
MESSAGES_PAGE_SIZE = 100  # messages per page of one transcript
GRAPHQL = "/graphql"
TOKEN_PATH = "/oauth2/token"
AUTHENTICATED = "/_authenticated"
AUTH_CODES = {"UNAUTHENTICATED", "FORBIDDEN"}
INPUT_CODES = {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"}


class IadvizeAuth(OAuth2TokenAuth):
    """iAdvize's password grant; a 400 ``invalid_grant`` (wrong e-mail or password) is an :class:`AuthError`."""

    def __init__(self, base_url: str, username: str, password: SecretStr | str, *, hint: str | None = None
                 ) -> None:
        super().__init__(base_url.rstrip("/") + TOKEN_PATH,
                         {"grant_type": "password", "username": username,
                          "password": password if isinstance(password, SecretStr) else SecretStr(password)},
                         vendor="iAdvize", credential="username and password")
        self.hint = hint

    def read_token(self, response: httpx.Response) -> IssuedToken | None:
        if response.status_code in (400, 401):
            try:
                body = response_json(response)
            except ValueError:
                body = {}
            body = body if isinstance(body, Mapping) else {}
            if response.status_code == 401 or body.get("error") == "invalid_grant":
                raise AuthError(vendor=self.vendor, status=response.status_code, method="POST", path=TOKEN_PATH,
                                credential=self.credential, hint=self.hint,
                                message=str(body.get("error_description") or body.get("error") or "login refused"))
        return super().read_token(response)


def _operation(request: httpx.Request) -> str:
    try:
        return str(json.loads(request.content).get("operationName") or "(anonymous)")
    except (ValueError, AttributeError):
        return "(anonymous)"


def graphql_errors(response: httpx.Response) -> None:
    """``validate_response`` hook: a 2xx answer holding GraphQL ``errors`` raises, naming the operation.

    ``extensions.code`` UNAUTHENTICATED/FORBIDDEN → :class:`AuthError`; a query iAdvize found invalid
    (validation, bad variable) → :class:`ValidationError`; anything else → :class:`ApiError`. An answer with
    both ``data`` and ``errors`` (a partial result) is refused too: a transcript must not be archived
    incomplete.
    """
    try:
        body = response_json(response)
    except ValueError:
        return
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not errors:
        return
    said, codes = [], set()
    for error in errors if isinstance(errors, list) else [errors]:
        if not isinstance(error, Mapping):
            said.append(str(error))
            continue
        where = ".".join(str(p) for p in error.get("path") or [])
        said.append(f"{where}: {error.get('message')}" if where else str(error.get("message")))
        codes.add(str((error.get("extensions") or {}).get("code") or ""))
    message = f"GraphQL query {_operation(response.request)} failed: " + "; ".join(said)
    cls = AuthError if codes & AUTH_CODES else ValidationError if codes & INPUT_CODES else ApiError
    raise cls(status=response.status_code, message=message)


def _aware(value: datetime, name: str) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (e.g. datetime(2026, 3, 1, tzinfo=UTC)); "
                         f"got {value.isoformat()} without a time zone")
    return value.isoformat()


def _project_ids(values: Iterable[int] | None) -> list[int] | None:
    if values is None:
        return None
    ids = list(values)
    bad = [v for v in ids if isinstance(v, bool) or not isinstance(v, int)]
    if bad or not ids:
        raise ValueError(f"project_ids must be a non-empty list of iAdvize project (site) ids, e.g. [4321]; "
                         f"got {ids!r}")
    return ids


def _auth(username: str | None, password: SecretStr | str | None, token: SecretStr | str | None, base_url: str,
          hint: str | None) -> tuple[httpx.Auth, str, str]:
    """(auth, credential, hint) of a password login or a static GraphQL token; exactly one must be given."""
    if token is not None:
        if username or password is not None:
            raise ValueError("give either token (a GraphQL API token) or username and password, not both")
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        if not secret.get_secret_value().strip():
            raise ValueError("token is empty: give the GraphQL API token iAdvize's support (help@iadvize.com) issued")
        hint = hint or "Check the iAdvize GraphQL token (help@iadvize.com issues them)."
        return BearerTokenAuth(secret), "GraphQL token", hint
    if not username or password is None:
        raise ValueError("give the username and password of an iAdvize user, or token (a GraphQL API token)")
    hint = hint or "Check the username and password in the 'iadvize-credentials' block, and its platform (ha or sd)."
    return IadvizeAuth(base_url, username, password, hint=hint), "username and password", hint


class IadvizeClient(VendorClient):
    """The iAdvize GraphQL API for one user's login, or for a static GraphQL token.

    Args:
        username: E-mail of the iAdvize user the API token is made for (with ``password``).
        password: Its password.
        token: Instead of a login: a GraphQL API token, sent as ``Authorization: Bearer`` (never exchanged).
        platform: ``ha`` or ``sd`` (the platform the account lives on; SD sends ``?platform=sd``).
        base_url: API root (``https://api.iadvize.com``; a sandbox URL in tests and demos).
        page_size: Conversations per ``closedConversations`` page.
        max_concurrency, retry, rate_limit, timeout, transport: Passed to :class:`ApiClient`.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: SecretStr | str | None = None,
        token: SecretStr | str | None = None,
        platform: Literal["ha", "sd"] = "ha",
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = PAGE_SIZE,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str | None = None,
    ) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be 'ha' or 'sd' (the iAdvize platform of the account), not {platform!r}")
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}, not {page_size}")
        self.platform = platform
        self.page_size = page_size
        self.auth, credential, hint = _auth(username, password, token, base_url, auth_hint)
        self.api = ApiClient(
            base_url, vendor="iAdvize", auth=self.auth, credential=credential, auth_hint=hint,
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout,
            transport=transport, validate_response=graphql_errors,
        )
        self._params = {"platform": "sd"} if platform == "sd" else None

    def __repr__(self) -> str:
        return f"IadvizeClient(platform={self.platform!r}, base_url={self.api.base_url!r})"

    # -- plumbing --------------------------------------------------------------------------------
    async def query(self, query: GraphQLQuery, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one GraphQL operation and return its ``data`` (errors raise, see :func:`graphql_errors`)."""
        response = await self.api.request("POST", GRAPHQL, params=self._params, json=query.body(variables),
                                          idempotent=True)
        data = response_json(response).get("data")
        if not isinstance(data, dict):
            raise ApiError(vendor="iAdvize", status=response.status_code, method="POST", path=GRAPHQL,
                           message=f"GraphQL query {query.name} answered no data")
        return data

    # -- calls -----------------------------------------------------------------------------------
    async def authenticated(self) -> bool:
        """Log in if needed and check the token (``GET /_authenticated`` → ``{"authenticated": true}``).

        Raises:
            AuthError: iAdvize refused the username and password.
        """
        body = await self.api.get_json(AUTHENTICATED)
        return isinstance(body, Mapping) and body.get("authenticated") is True

    async def projects(self) -> list[dict[str, Any]]:
        """The projects (sites) the credentials see, every page: ``[{"id": 4321, "name": ..., "country": ...}]``.

        Example:
            sites = {p["id"]: p for p in await iadvize.projects()}
        """
        paginator = GraphQLCursorPaginator("projects", page_size=PAGE_SIZE)
        out: list[dict[str, Any]] = []
        async for page in self.api.paginate(GRAPHQL, self._params, paginator, method="POST",
                                            json=PROJECTS.body({})):
            out.extend(node for node in page if isinstance(node, Mapping))
        return out

    async def closed_conversations(self, start: datetime, end: datetime, project_ids: Iterable[int] | None = None
                                   ) -> AsyncIterator[ConversationSummary]:
        """Every conversation closed in ``[start, end)``, oldest first, page after page.

        Args:
            start, end: Timezone-aware bounds of ``closedAt`` (iAdvize requires the interval).
            project_ids: Only these projects (sites); all the user can see when None.

        Example:
            async for closed in iadvize.closed_conversations(since, now, [4321]):
                print(closed.id, closed.closed_at)
        """
        variables: dict[str, Any] = {"from": _aware(start, "start"), "to": _aware(end, "end")}
        if start >= end:
            raise ValueError(f"start ({variables['from']}) must be before end ({variables['to']})")
        ids = _project_ids(project_ids)
        if ids is not None:
            variables["projectIds"] = ids
        paginator = GraphQLCursorPaginator("closedConversations", page_size=self.page_size)
        async for page in self.api.paginate(GRAPHQL, self._params, paginator, method="POST",
                                            json=CLOSED_CONVERSATIONS.body(variables)):
            for node in page:
                yield ConversationSummary.from_node(node)

    async def conversation(self, conversation_id: str) -> Conversation | None:
        """One conversation with its whole transcript (every page of its messages), or None if iAdvize has
        no conversation of that id.

        Example:
            conversation = await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024")
            print(conversation.operator.full_name, conversation.visitor_email, len(conversation.messages))
        """
        try:
            uid = str(uuid.UUID(str(conversation_id)))
        except ValueError:
            raise ValueError(f"conversation_id must be an iAdvize conversation id (a UUID), not "
                             f"{conversation_id!r}") from None
        variables: dict[str, Any] = {"id": uid, "messagesFirst": MESSAGES_PAGE_SIZE}
        node: dict[str, Any] | None = None
        messages: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            data = await self.query(CONVERSATION, variables)
            current = data.get("conversation")
            if current is None:
                return None
            node = node or current
            page = current.get("messages") or {}
            messages.extend(edge["node"] for edge in page.get("edges") or [] if edge and edge.get("node"))
            info = page.get("pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage") or not cursor:
                return Conversation.from_node(node, messages)
            if cursor in seen:
                raise PaginationLoopError(vendor="iAdvize", method="POST", path=GRAPHQL, token=cursor)
            seen.add(cursor)
            variables = {**variables, "messagesAfter": cursor}
