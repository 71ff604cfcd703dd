"""Async client of Oxiva's API v2.0 (../shared/seeds/oxiva-zapier.txt; no public documentation: API-NOTES §6).

Every call is a GET under ``https://www.oxiva.cloud/appli/api/oxiva/v2.0/`` with the user's dossier and API token
in the query string, as the seed writes it (``?dossier={{bundle.authData.dossier}}&token={{bundle.authData.token}}``):
:class:`DossierTokenAuth` adds them to each request at the last moment, so they stay a ``SecretStr`` until then and
the kit's logs and errors, which show the path only, never carry them.

- ``GET version/`` — the seed's authentication test: "Si la demande réussit, l'authentification est validée".
- ``GET societe/?id=<id>`` — a client (société); ``&activites=Y`` adds its commercial activities (``activites``,
  each with its ``ccom_id``), ``&tickets=Y`` its tickets (``tickets``, each with its ``sticket_id``).

Example:
    async with OxivaClient(dossier="demo", token=SecretStr("…")) as oxiva:
        await oxiva.version()
        societe = await oxiva.societe("11", tickets=True)
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import ApiClient, ApiError, Endpoint, RetryPolicy, VendorClient
from connectors._http.decoding import response_json
from connectors.oxiva.models import oxiva_dossier

API_ROOT = "https://www.oxiva.cloud/appli/api/oxiva/v2.0"
VERSION = Endpoint("version", "/version/")
SOCIETE = Endpoint("societe", "/societe/")
YES = "Y"


class DossierTokenAuth(httpx.Auth):
    """Oxiva's auth: ``dossier`` and ``token`` query parameters on every request (the token a ``SecretStr``)."""

    def __init__(self, dossier: str, token: SecretStr | str) -> None:
        self.dossier = dossier
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({"dossier": self.dossier,
                                                     "token": self._token.get_secret_value()})
        yield request

    def __repr__(self) -> str:
        return f"DossierTokenAuth(dossier={self.dossier!r}, token={self._token!r})"


class OxivaClient(VendorClient):
    """Oxiva's API v2.0 for one dossier.

    Args:
        dossier: The dossier (the user's Oxiva file) the token opens.
        token: The dossier's API key ("Clé API / Token").
        base_url: Replaces ``https://www.oxiva.cloud/appli/api/oxiva/v2.0`` (a proxy, or the sandbox
            ``http://HOST:PORT/oxiva/appli/api/oxiva/v2.0``).
        max_concurrency, retry, rate_limit, timeout, transport: Passed to the kit's ``ApiClient``.
        auth_hint: Appended to authentication errors (the credentials Block fills it in).
    """

    def __init__(self, *, dossier: str, token: SecretStr | str, base_url: str | None = None, max_concurrency: int = 8,
                 retry: RetryPolicy | None = None, rate_limit: float | None = None,
                 timeout: float | httpx.Timeout = 30.0, transport: httpx.AsyncBaseTransport | None = None,
                 auth_hint: str | None = None) -> None:
        self.dossier = oxiva_dossier(dossier)
        self.api = ApiClient(
            base_url or API_ROOT, vendor="Oxiva", auth=DossierTokenAuth(self.dossier, token), credential="API token",
            auth_hint=auth_hint or "Check the dossier and API token in the 'oxiva-credentials' block, and that the "
                                   "API is activated for the dossier.",
            max_concurrency=max_concurrency, rate_limit=rate_limit, retry=retry, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"OxivaClient(dossier={self.dossier!r}, base_url={self.api.base_url!r})"

    async def _object(self, endpoint: Endpoint, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.api.request("GET", endpoint.path_for(), params=params)
        try:
            body = response_json(response) if response.content else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(vendor="Oxiva", status=response.status_code, method="GET", path=endpoint.path,
                           message="the answer is not a JSON object (is base_url Oxiva's API v2.0 root?)")
        return body

    async def version(self) -> dict[str, Any]:
        """``GET version/``: what the API answers when the dossier and token are accepted."""
        return await self._object(VERSION)

    async def societe(self, societe_id: str | int, *, activites: bool = False, tickets: bool = False) -> dict[str, Any]:
        """``GET societe/?id=<id>`` — the client; with its ``activites`` and/or ``tickets`` when asked (``=Y``)."""
        params = {"id": str(societe_id)}
        if activites:
            params["activites"] = YES
        if tickets:
            params["tickets"] = YES
        return await self._object(SOCIETE, params)
