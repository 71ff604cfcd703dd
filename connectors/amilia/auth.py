"""Amilia JWT authentication: a :class:`~connectors._http.auth.TokenExchangeAuth`.

The first request triggers ``GET {base}/authenticate`` with Basic auth (username/password); the returned
``Token`` (valid a year, no expiry given) is then sent as ``Authorization: Bearer``. Concurrent first
requests wait on a lock, so the token is fetched once. On a 401 the flow re-authenticates once and replays
the request; a second 401 is handed back to the client, which raises
:class:`~connectors._http.errors.AuthError`.

When ``/authenticate`` itself fails, its response is returned as the call's response: the client then
classifies it (401 -> AuthError naming ``/authenticate``; 429/5xx -> retried, re-authenticating).
"""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from connectors._http.auth import IssuedToken, TokenExchangeAuth, basic_header


class AmiliaJWTAuth(TokenExchangeAuth):
    """Amilia API v3 JWT auth.

    Args:
        base_url: The API root (``https://app.amilia.com/api/V3``).
        username: Amilia login.
        password: Amilia password (``SecretStr``).

    Example:
        auth = AmiliaJWTAuth("https://app.amilia.com/api/V3", "me@example.org", SecretStr("..."))
        async with httpx.AsyncClient(auth=auth) as http: ...
    """

    vendor = "Amilia"
    credential = "username and password"

    def __init__(self, base_url: str, username: str, password: SecretStr | str) -> None:
        super().__init__()
        self._url = base_url.rstrip("/") + "/authenticate"
        self._username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r}, username={self._username!r}, password=**********)"

    @property
    def authentications(self) -> int:
        """How many times /authenticate answered a token."""
        return self.exchanges

    def exchange_request(self) -> httpx.Request:
        return httpx.Request("GET", self._url, headers={
            "Authorization": basic_header(self._username, self._password),
            "Accept": "application/json",
        })

    def read_token(self, response: httpx.Response) -> IssuedToken | None:
        """The token of a 2xx answer; None for an error answer (the client classifies it)."""
        if not response.is_success:
            return None
        try:
            token = response.json().get("Token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            error = self.no_token(response, "the answer holds no Token",
                                  "Check base_url: it must be the API root (…/api/V3).")
            error.path = "/authenticate"
            raise error
        return IssuedToken(SecretStr(token))
