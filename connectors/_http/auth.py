"""Generic ``httpx.Auth`` classes. Secrets stay in ``SecretStr`` until the header is written."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr


class BearerTokenAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <token>`` on every request.

    Args:
        token: The API token, as a ``SecretStr`` (a plain ``str`` is wrapped).

    Example:
        client = httpx.AsyncClient(auth=BearerTokenAuth(SecretStr("t0k3n")))
    """

    def __init__(self, token: SecretStr | str) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={self._token!r})"  # SecretStr repr is masked
