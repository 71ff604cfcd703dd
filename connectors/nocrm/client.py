"""Async client of noCRM.io's simplified API: the lead actions of ../shared/seeds/nocrm-simplified-api.txt.

Every action is a **GET** (the vendor's design: "Toutes les demandes sont toujours effectuées dans le protocole
GET"), ``https://{account}.nocrm.io/api/simple/leads/{lead_id}/{action}?…``, with the account's API key in the
``X-API-KEY`` header (never in the query string, where logs would keep it). Each answers the lead as JSON,
except ``add_activity``, which answers the comment it created.

A GET that changes a lead is safe to send again only when sending it twice lands the same state. The kit
retries a GET freely, so the calls that are not (``assign/random``, ``assign/random_in_a_team``,
``next_step``, ``send_email_from_template``, ``add_activity``) are sent with ``idempotent=False``: never
re-sent after an answer that may have been lost (:class:`~connectors._http.OutcomeUnknown`). Why each one is
or is not: docs/connector-nocrm.md.

On 429 noCRM sends ``API-RETRY-AFTER`` rather than ``Retry-After``; the client copies it to ``Retry-After`` so
the kit's retry policy and :class:`~connectors._http.RateLimitedError` honour it.

Example:
    async with NocrmClient(account="acme", api_key=SecretStr("...")) as nocrm:
        lead = await nocrm.won(145676, amount=Decimal("155.34"))
        lead = await nocrm.add_tag(145676, ["ProductA", "ProductB"])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import ApiClient, ApiError, ApiKeyHeaderAuth, Endpoint, RetryPolicy, VendorClient
from connectors._http.decoding import response_json
from connectors.nocrm.errors import nocrm_error
from connectors.nocrm.models import nocrm_account, query_number, tag_list

Row = dict[str, Any]
API_KEY_HEADER = "X-API-KEY"
VENDOR_RETRY_AFTER = "API-RETRY-AFTER"

PING = Endpoint("ping", "/api/v2/ping")
LEAD = Endpoint("lead", "/api/v2/leads/{lead_id}")
_SIMPLE = "/api/simple/leads/{lead_id}"
STANDBY = Endpoint("standby", f"{_SIMPLE}/standby")
WON = Endpoint("won", f"{_SIMPLE}/won")
CANCELLED = Endpoint("cancelled", f"{_SIMPLE}/cancelled")
LOST = Endpoint("lost", f"{_SIMPLE}/lost")
TODO = Endpoint("todo", f"{_SIMPLE}/todo")
ASSIGN = Endpoint("assign", f"{_SIMPLE}/assign")
ASSIGN_RANDOM = Endpoint("assign_random", f"{_SIMPLE}/assign/random")
ASSIGN_RANDOM_IN_A_TEAM = Endpoint("assign_random_in_a_team", f"{_SIMPLE}/assign/random_in_a_team")
NEXT_STEP = Endpoint("next_step", f"{_SIMPLE}/next_step")
MOVE_TO_STEP = Endpoint("move_to_step", f"{_SIMPLE}/move_to_step")
ADD_TAG = Endpoint("add_tag", f"{_SIMPLE}/add_tag")
SEND_EMAIL_FROM_TEMPLATE = Endpoint("send_email_from_template", f"{_SIMPLE}/send_email_from_template")
ADD_ACTIVITY = Endpoint("add_activity", f"{_SIMPLE}/add_activity")


def nocrm_root(account: str) -> str:
    """``https://{account}.nocrm.io``: the root the paths above hang from."""
    return f"https://{nocrm_account(account)}.nocrm.io"


async def _vendor_retry_after(response: httpx.Response) -> None:
    """Copy noCRM's ``API-RETRY-AFTER`` to ``Retry-After`` on a 429, for the kit's retry policy."""
    if response.status_code == 429 and "Retry-After" not in response.headers:
        value = response.headers.get(VENDOR_RETRY_AFTER)
        if value:
            response.headers["Retry-After"] = value


class NocrmApi(ApiClient):
    """The kit's client, reading noCRM's ``{error, message, type}`` answers and its ``API-RETRY-AFTER``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hooks = self._http.event_hooks
        hooks["response"] = [_vendor_retry_after, *hooks["response"]]
        self._http.event_hooks = hooks

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        return nocrm_error(response, super().error_for(response, attempts=attempts))


class NocrmClient(VendorClient):
    """noCRM.io's simplified API (and ``GET /api/v2/ping``) for one account.

    Args:
        api_key: An API key of the account (noCRM: Admin → API → API keys; it acts as an admin).
        account: The subdomain (``acme`` for https://acme.nocrm.io), or
        base_url: a root that replaces ``https://{account}.nocrm.io`` (a proxy, or the sandbox
            ``http://HOST:PORT/nocrm``).
        max_concurrency, retry, rate_limit, timeout, transport: Passed to the kit's ``ApiClient``.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(
        self,
        *,
        api_key: SecretStr | str,
        account: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str | None = None,
    ) -> None:
        if not base_url and not account:
            raise ValueError("give the noCRM account (its subdomain, e.g. 'acme') or a base_url")
        self.account = nocrm_account(account) if account else None
        self.api = NocrmApi(
            base_url or nocrm_root(account or ""), vendor="noCRM", auth=ApiKeyHeaderAuth(API_KEY_HEADER, api_key),
            credential="API key",
            auth_hint=auth_hint or "Check the API key in the 'nocrm-credentials' block.",
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"NocrmClient(base_url={self.api.base_url!r})"

    async def _call(self, endpoint: Endpoint, lead_id: int, params: Mapping[str, Any] | None = None, *,
                    idempotent: bool) -> Row:
        response = await self.api.request("GET", endpoint.path_for(lead_id=lead_id),
                                          params={k: v for k, v in (params or {}).items() if v is not None},
                                          idempotent=idempotent)
        try:
            body = response_json(response) if response.content else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(vendor="noCRM", status=response.status_code, method="GET",
                           path=self.api.display_path(response.request.url),
                           message="the answer is not a JSON object (is base_url the noCRM API root?)")
        return body

    # -- account -----------------------------------------------------------------------------------
    async def ping(self) -> Row:
        """``GET /api/v2/ping``: ``{"status": 200, "message": "Your API key is correct."}`` when the key works."""
        return await self.api.get_json(PING.path_for()) or {}

    async def lead(self, lead_id: int) -> Row:
        """One lead (``GET /api/v2/leads/{lead_id}``, the REST API v2), to look a result up."""
        return await self.api.get_json(LEAD.path_for(lead_id=lead_id)) or {}

    # -- status (each lands the same state when sent again) ----------------------------------------
    async def standby(self, lead_id: int, days: int, activity_id: int | None = None) -> Row:
        """Status 'En attente' (standby), next reminder in ``days`` days, for the activity ``activity_id``."""
        return await self._call(STANDBY, lead_id, {"days": days, "activity_id": activity_id}, idempotent=True)

    async def won(self, lead_id: int, amount: Decimal | None = None) -> Row:
        """Status 'Gagné' (won), with the lead's ``amount`` if given."""
        params = {"amount": query_number(amount) if amount is not None else None}
        return await self._call(WON, lead_id, params, idempotent=True)

    async def cancelled(self, lead_id: int) -> Row:
        """Status 'Annulé' (cancelled)."""
        return await self._call(CANCELLED, lead_id, idempotent=True)

    async def lost(self, lead_id: int) -> Row:
        """Status 'Perdu' (lost)."""
        return await self._call(LOST, lead_id, idempotent=True)

    async def todo(self, lead_id: int) -> Row:
        """Status 'À faire' (todo)."""
        return await self._call(TODO, lead_id, idempotent=True)

    # -- owner ---------------------------------------------------------------------------------------
    async def assign(self, lead_id: int, user_id: str) -> Row:
        """Assign the lead to one user: ``user_id`` is the user's id or e-mail address."""
        return await self._call(ASSIGN, lead_id, {"user_id": user_id}, idempotent=True)

    async def assign_random(self, lead_id: int, *, no_admin: bool = False) -> Row:
        """Assign the lead to a user drawn at random (``no_admin``: never an admin). Not re-sent: a second
        call may draw someone else."""
        params = {"no_admin": "true"} if no_admin else None
        return await self._call(ASSIGN_RANDOM, lead_id, params, idempotent=False)

    async def assign_random_in_a_team(self, lead_id: int, team_id: int) -> Row:
        """Assign the lead to a member of team ``team_id`` drawn at random. Not re-sent."""
        return await self._call(ASSIGN_RANDOM_IN_A_TEAM, lead_id, {"team_id": team_id}, idempotent=False)

    # -- pipeline ------------------------------------------------------------------------------------
    async def next_step(self, lead_id: int) -> Row:
        """Move the lead to the next step of its pipeline. Not re-sent: a second call moves it again."""
        return await self._call(NEXT_STEP, lead_id, idempotent=False)

    async def move_to_step(self, lead_id: int, step_id: int) -> Row:
        """Move the lead to the step ``step_id``."""
        return await self._call(MOVE_TO_STEP, lead_id, {"step_id": step_id}, idempotent=True)

    async def add_tag(self, lead_id: int, tags: str | Sequence[str]) -> Row:
        """Add tags (a list, or ``"tag1,tag2"``); sent as one ``tag=tag1,tag2``. A tag already there stays one."""
        return await self._call(ADD_TAG, lead_id, {"tag": ",".join(tag_list(tags))}, idempotent=True)

    # -- messages and activities (each call adds one more) ----------------------------------------------
    async def send_email_from_template(self, lead_id: int, email_template_id: int, from_user_id: str) -> Row:
        """Send the template to the lead's contact e-mail, from ``from_user_id`` (an id or e-mail). Never re-sent.

        Raises:
            TemplateNotShared, TemplateVariablesLeft, LeadWithoutEmail, MailboxNotSynced: the seed's four
                refusals (nothing was sent). OutcomeUnknown: the answer was lost after sending.
        """
        params = {"email_template_id": email_template_id, "from_user_id": from_user_id}
        return await self._call(SEND_EMAIL_FROM_TEMPLATE, lead_id, params, idempotent=False)

    async def add_activity(self, lead_id: int, activity_id: int, user_id: str, content: str | None = None) -> Row:
        """Log an activity (``activity_id``: its type, e.g. a call) by ``user_id``; answers the comment created.
        Never re-sent: a second call logs a second activity."""
        params = {"activity_id": activity_id, "user_id": user_id, "content": content or None}
        return await self._call(ADD_ACTIVITY, lead_id, params, idempotent=False)
