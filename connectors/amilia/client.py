"""Async client of the Amilia API v3 organisation routes (``{base}/{lang}/org/{organization}/...``).

Methods return plain dicts with Amilia's own field names (see ``docs/contracts.md``); the pydantic models
in :mod:`connectors.amilia.models` document and validate single objects. Listings ask for ``perPage``
items (default 1000), learn ``Paging.TotalCount`` from page 1 and fetch the other pages concurrently.

Example:
    async with AmiliaClient(username="me", password=SecretStr("pw"), organization="my-club") as amilia:
        persons = await amilia.list_persons()
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from connectors._http import (
    ApiClient,
    Endpoint,
    ItemsPagingPaginator,
    NotFoundError,
    RetryPolicy,
    VendorClient,
    quote_segment,
)
from connectors.amilia.auth import AmiliaJWTAuth

DEFAULT_BASE_URL = "https://app.amilia.com/api/V3"
MAX_PER_PAGE = 1000


def _pages(per_page: int = MAX_PER_PAGE) -> ItemsPagingPaginator:
    return ItemsPagingPaginator(per_page=per_page)


def _flag(value: bool) -> str:
    return "true" if value else "false"


# Endpoints as data. Paths are relative to the organisation prefix.
PERSONS = Endpoint("persons", "/persons", _pages)
PERSON = Endpoint("person", "/persons/{id}")
PERSON_REGISTRATIONS = Endpoint("person_registrations", "/persons/{id}/registrations", _pages)
ACCOUNTS = Endpoint("accounts", "/accounts", _pages)
ACCOUNT = Endpoint("account", "/accounts/{id}")
ACCOUNT_REGISTRATIONS = Endpoint("account_registrations", "/accounts/{id}/registrations", _pages)
REGISTRATIONS = Endpoint("registrations", "/registrations", _pages)
PROGRAMS = Endpoint("programs", "/programs", _pages)
PROGRAM_ACTIVITIES = Endpoint("program_activities", "/programs/{id}/activities", _pages)
ACTIVITY = Endpoint("activity", "/activities/{id}")
MEMBERSHIPS = Endpoint("memberships", "/memberships", _pages)
MEMBERSHIP_PERSONS = Endpoint("membership_persons", "/memberships/{id}/persons", _pages)
MEMBERSHIP_ACCOUNTS = Endpoint("membership_accounts", "/memberships/{id}/accounts", _pages)

Row = dict[str, Any]


class AmiliaClient(VendorClient):
    """Amilia API v3 for one organisation.

    Args:
        username: Amilia login (an admin of the organisation).
        password: Its password.
        organization: Numeric organisation id or its store slug ("rewrite URL").
        language: ``en`` or ``fr`` (language of names in answers).
        base_url: API root; a sandbox URL in tests and demos.
        max_concurrency: Requests in flight at once.
        per_page: Page size of listings (the emulator's maximum is 1000).
        retry, rate_limit, timeout, transport: Passed to :class:`~connectors._http.client.ApiClient`.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(
        self,
        *,
        username: str,
        password: SecretStr | str,
        organization: str | int,
        language: Literal["en", "fr"] = "en",
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 8,
        per_page: int = MAX_PER_PAGE,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_hint: str | None = None,
        block: str = "amilia-credentials",
    ) -> None:
        if language not in ("en", "fr"):
            raise ValueError(f"language must be 'en' or 'fr', not {language!r}")
        self.organization = str(organization)
        self.block = block
        self.language = language
        self.per_page = per_page
        self.auth = AmiliaJWTAuth(base_url, username, password)
        self.api = ApiClient(
            base_url, vendor="Amilia", auth=self.auth, credential="username and password",
            auth_hint=auth_hint or f"Check the username and password in the '{block}' block.",
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout,
            transport=transport,
        )
        self._prefix = f"/{language}/org/{quote_segment(self.organization)}"

    def __repr__(self) -> str:
        return f"AmiliaClient(organization={self.organization!r}, base_url={self.api.base_url!r})"

    # -- plumbing --------------------------------------------------------------------------------
    def _path(self, endpoint: Endpoint, **values: Any) -> str:
        return self._prefix + endpoint.path_for(**values)

    async def _list(
        self, endpoint: Endpoint, params: dict[str, Any] | None = None,
        project: Callable[[Row], Any] | None = None, **values: Any,
    ) -> list[Any]:
        query = {"perPage": self.per_page, **(params or {})}
        return await self.api.fetch_all_pages(self._path(endpoint, **values), query, endpoint.new_paginator(),
                                              project)

    async def _get(self, endpoint: Endpoint, **values: Any) -> Row:
        return await self.api.get_json(self._path(endpoint, **values))

    # -- calls -----------------------------------------------------------------------------------
    async def ping(self) -> None:
        """Check the credentials and the organisation with one cheap authenticated call.

        Raises:
            AuthError: wrong username/password. NotFoundError: unknown organisation.

        Example:
            await amilia.ping()
        """
        try:
            await self.api.get_json(self._path(PROGRAMS), {"page": 1, "perPage": 1})
        except NotFoundError as exc:
            exc.hint = (f"Check the organization ({self.organization!r}) in the '{self.block}' block: "
                        "use the numeric id or the store slug.")
            raise

    async def list_persons(self) -> list[Row]:
        """All persons of the organisation.

        Returns:
            Person dicts (``Id``, ``AccountId``, ``FirstName``, ``Email``, ``IsChild``, ``IsArchived``...).

        Example:
            persons = await amilia.list_persons()
        """
        return await self._list(PERSONS)

    async def get_person(self, person_id: int) -> Row:
        """One person. Raises NotFoundError if unknown.

        Example:
            person = await amilia.get_person(501)
        """
        return await self._get(PERSON, id=person_id)

    async def list_accounts(self, show_archived: bool = True) -> list[Row]:
        """All accounts (archived ones too unless ``show_archived=False``).

        Example:
            accounts = await amilia.list_accounts(show_archived=False)
        """
        return await self._list(ACCOUNTS, {"showArchived": _flag(show_archived)})

    async def get_account(self, account_id: int) -> Row:
        """One account with its ``Owners`` and ``Members``. Raises NotFoundError if unknown.

        Example:
            account = await amilia.get_account(77)
        """
        return await self._get(ACCOUNT, id=account_id)

    async def list_registrations(self, from_date: date, to_date: date, show_ended: bool = True,
                                 project: Callable[[Row], Any] | None = None) -> list[Any]:
        """Registrations created between two dates, both inclusive, ordered by id.

        Args:
            from_date: First creation day.
            to_date: Last creation day.
            show_ended: Include registrations to activities that are over.
            project: Applied to each registration as its page arrives (keep only what you need).

        Example:
            regs = await amilia.list_registrations(date(2024, 1, 1), date(2025, 12, 31))
        """
        params = {"from": from_date.isoformat(), "to": to_date.isoformat(), "showEnded": _flag(show_ended)}
        return await self._list(REGISTRATIONS, params, project)

    async def list_person_registrations(self, person_id: int, show_ended: bool = True) -> list[Row]:
        """Registrations of one person (same items as :meth:`list_registrations`).

        Example:
            regs = await amilia.list_person_registrations(501)
        """
        return await self._list(PERSON_REGISTRATIONS, {"showEnded": _flag(show_ended)}, id=person_id)

    async def list_account_registrations(self, account_id: int, show_ended: bool = True) -> list[Row]:
        """Registrations of one account's members.

        Example:
            regs = await amilia.list_account_registrations(77)
        """
        return await self._list(ACCOUNT_REGISTRATIONS, {"showEnded": _flag(show_ended)}, id=account_id)

    async def list_programs(self) -> list[Row]:
        """All programs (``Id``, ``Name``, ``IsArchived``).

        Example:
            programs = await amilia.list_programs()
        """
        return await self._list(PROGRAMS)

    async def list_program_activities(self, program_id: int) -> list[Row]:
        """Activities of one program, with the flattened program/category/subcategory names.

        Example:
            activities = await amilia.list_program_activities(1)
        """
        return await self._list(PROGRAM_ACTIVITIES, id=program_id)

    async def get_activity(self, activity_id: int) -> Row:
        """One activity. Raises NotFoundError if unknown.

        Example:
            activity = await amilia.get_activity(4)
        """
        return await self._get(ACTIVITY, id=activity_id)

    async def list_memberships(self, show_active_only: bool = True, show_hidden: bool = False) -> list[Row]:
        """Membership types of the organisation.

        Args:
            show_active_only: Only memberships on sale (``showActiveonly``).
            show_hidden: Include hidden memberships (``showHidden``).

        Example:
            memberships = await amilia.list_memberships()
        """
        params = {"showHidden": _flag(show_hidden), "showActiveonly": _flag(show_active_only)}
        return await self._list(MEMBERSHIPS, params)

    async def list_membership_persons(self, membership_id: int, status: str = "Active") -> list[Row]:
        """Persons holding a membership.

        Args:
            membership_id: The membership's id.
            status: ``Active``, ``Inactive``, ``Expired`` or ``All``.

        Example:
            holders = await amilia.list_membership_persons(12, status="All")
        """
        return await self._list(MEMBERSHIP_PERSONS, {"status": status}, id=membership_id)

    async def list_membership_accounts(self, membership_id: int) -> list[Row]:
        """Accounts holding a (family) membership.

        Example:
            accounts = await amilia.list_membership_accounts(12)
        """
        return await self._list(MEMBERSHIP_ACCOUNTS, id=membership_id)
