"""Amilia JWT authentication as an ``httpx.Auth`` flow.

The first request triggers ``GET {base}/authenticate`` with Basic auth (username/password); the returned
``Token`` is then sent as ``Authorization: Bearer``. Concurrent first requests wait on a lock, so the
token is fetched once. On a 401 the flow re-authenticates once and replays the request; a second 401
is handed back to the client, which raises :class:`~connectors._http.errors.AuthError`.

When ``/authenticate`` itself fails, its response is returned as the call's response: the client then
classifies it (401 -> AuthError naming ``/authenticate``; 429/5xx -> retried, re-authenticating).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Generator

import httpx
from pydantic import SecretStr

from connectors._http.errors import AuthError


class AmiliaJWTAuth(httpx.Auth):
    """Amilia API v3 JWT auth.

    Args:
        base_url: The API root (``https://app.amilia.com/api/V3``).
        username: Amilia login.
        password: Amilia password (``SecretStr``).

    Example:
        auth = AmiliaJWTAuth("https://app.amilia.com/api/V3", "me@example.org", SecretStr("..."))
        async with httpx.AsyncClient(auth=auth) as http: ...
    """

    def __init__(self, base_url: str, username: str, password: SecretStr | str) -> None:
        self._url = base_url.rstrip("/") + "/authenticate"
        self._username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)
        self._token: SecretStr | None = None
        self._lock: asyncio.Lock | None = None
        self.authentications = 0  # how many times /authenticate answered a token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r}, username={self._username!r}, password=**********)"

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def _authenticate_request(self) -> httpx.Request:
        raw = f"{self._username}:{self._password.get_secret_value()}".encode()
        return httpx.Request("GET", self._url, headers={
            "Authorization": "Basic " + base64.b64encode(raw).decode("ascii"),
            "Accept": "application/json",
        })

    def _read_token(self, response: httpx.Response) -> SecretStr | None:
        """The token of a 2xx answer; None for an error answer (the client classifies it)."""
        if not response.is_success:
            return None
        try:
            token = response.json().get("Token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthError(vendor="Amilia", status=response.status_code, method="GET", path="/authenticate",
                            credential="username and password", message="the answer holds no Token",
                            hint="Check base_url: it must be the API root (…/api/V3).")
        return SecretStr(token)

    def _sign(self, request: httpx.Request, token: SecretStr) -> None:
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        used = self._token
        if used is None:
            async with self._lock:
                if self._token is None:
                    response = yield self._authenticate_request()
                    await response.aread()
                    token = self._read_token(response)
                    if token is None:
                        return  # the client classifies the /authenticate response
                    self._token = token
                    self.authentications += 1
            used = self._token
        assert used is not None
        self._sign(request, used)
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        # The token was refused (expired or revoked): re-authenticate once, unless another request
        # already did it meanwhile.
        async with self._lock:
            if self._token is used or self._token is None:
                self._token = None
                auth_response = yield self._authenticate_request()
                await auth_response.aread()
                token = self._read_token(auth_response)
                if token is None:
                    return
                self._token = token
                self.authentications += 1
            fresh = self._token
        self._sign(request, fresh)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("AmiliaJWTAuth is async-only; use it with httpx.AsyncClient")
