"""Auth strategies as ``httpx.Auth`` classes. Secrets stay in ``SecretStr`` until the header is written, and no
``repr`` shows them.

- :class:`BearerTokenAuth`: ``Authorization: Bearer <token>`` (Cyberimpact, Slack, OAuth tokens).
- :class:`BasicAuth`: HTTP Basic (Twilio ``AccountSid:AuthToken``, Mailchimp ``any:api_key``), with Zendesk's
  ``{email}/token:{api_token}`` form as :meth:`BasicAuth.zendesk_api_token`.
- :class:`ApiKeyHeaderAuth`: a key in a header of the vendor's choosing (noCRM ``X-API-KEY``).
- :class:`TokenExchangeAuth`: long-lived credentials exchanged for a token that is cached until it expires
  and fetched again once when the vendor refuses it (401). :class:`OAuth2TokenAuth` is the OAuth 2 token
  endpoint (password and client-credentials grants: iAdvize; a Google service account overrides
  :meth:`OAuth2TokenAuth.form` with its signed JWT assertion); Amilia's ``/authenticate`` is another one.
"""

from __future__ import annotations

import asyncio
import base64
import time
from abc import abstractmethod
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from connectors._http.errors import AuthError


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def basic_header(username: str, password: SecretStr | str) -> str:
    """The value of an ``Authorization`` header for HTTP Basic."""
    raw = f"{username}:{_secret(password).get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class BearerTokenAuth(httpx.Auth):
    """Sends ``Authorization: Bearer <token>`` on every request.

    Args:
        token: The API token, as a ``SecretStr`` (a plain ``str`` is wrapped).

    Example:
        client = httpx.AsyncClient(auth=BearerTokenAuth(SecretStr("t0k3n")))
    """

    def __init__(self, token: SecretStr | str) -> None:
        self._token = _secret(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={self._token!r})"  # SecretStr repr is masked


class BasicAuth(httpx.Auth):
    """HTTP Basic auth whose password stays a ``SecretStr`` (``httpx.BasicAuth`` keeps it in clear).

    Example:
        auth = BasicAuth("ACxxxxxxxx", SecretStr(auth_token))                    # Twilio
        auth = BasicAuth.zendesk_api_token("agent@example.org", SecretStr(token))  # Zendesk
    """

    def __init__(self, username: str, password: SecretStr | str) -> None:
        self.username = username
        self._password = _secret(password)

    @classmethod
    def zendesk_api_token(cls, email: str, api_token: SecretStr | str) -> BasicAuth:
        """Zendesk's API-token form: user ``{email}/token``, password the token."""
        return cls(f"{email}/token", api_token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = basic_header(self.username, self._password)
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self.username!r}, password={self._password!r})"


class ApiKeyHeaderAuth(httpx.Auth):
    """An API key in a header: ``ApiKeyHeaderAuth("X-API-KEY", key)`` (noCRM), with an optional prefix
    (``prefix="Token "`` gives ``Token <key>``).
    """

    def __init__(self, header: str, key: SecretStr | str, prefix: str = "") -> None:
        self.header = header
        self.prefix = prefix
        self._key = _secret(key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = f"{self.prefix}{self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self.header!r}, key={self._key!r})"


@dataclass(frozen=True)
class IssuedToken:
    """A token from an exchange: its value and, if the vendor said, when it stops working
    (``time.monotonic()`` seconds; None: until the vendor refuses it)."""

    value: SecretStr
    expires_at: float | None = None

    def usable(self) -> bool:
        return self.expires_at is None or time.monotonic() < self.expires_at


class TokenExchangeAuth(httpx.Auth):
    """Credentials exchanged for a token, sent as ``Authorization: Bearer``.

    The first request makes the exchange (concurrent first requests wait on a lock: one exchange); the token
    is reused until ``leeway`` seconds before it expires; on a 401 the exchange is made again once (unless
    another request already did) and the request replayed; a second 401 goes back to the client, which
    raises :class:`AuthError`. When the exchange itself fails, its answer is the call's answer, so the
    client classifies it (401 → AuthError naming the exchange's path; 429/5xx → retried).

    Subclasses give :meth:`exchange_request` and :meth:`read_token` (and may override :meth:`sign`).
    """

    vendor = "API"
    credential = "credentials"
    leeway = 60.0  # renew this many seconds before the vendor's expiry

    def __init__(self) -> None:
        self._token: IssuedToken | None = None
        self._lock: asyncio.Lock | None = None
        self.exchanges = 0  # how many times the exchange answered a token

    @property
    def has_token(self) -> bool:
        return self._token is not None

    @abstractmethod
    def exchange_request(self) -> httpx.Request:
        """The request that exchanges the credentials for a token."""

    @abstractmethod
    def read_token(self, response: httpx.Response) -> IssuedToken | None:
        """The token of a 2xx exchange answer; None for an error answer (the client classifies it). Raise
        :meth:`no_token` for a 2xx answer without a token."""

    def sign(self, request: httpx.Request, token: SecretStr) -> None:
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    def no_token(self, response: httpx.Response, message: str, hint: str | None = None) -> AuthError:
        """The error for a 2xx exchange answer that holds no token (a wrong URL, usually)."""
        request = response.request
        return AuthError(vendor=self.vendor, status=response.status_code, method=request.method,
                         path=request.url.path, credential=self.credential, message=message, hint=hint)

    def expiry(self, expires_in: object) -> float | None:
        """When a token valid for ``expires_in`` seconds (as the vendor said it) is renewed: ``leeway``
        seconds early, at most half its life early. None when the vendor said nothing usable."""
        try:
            seconds = float(expires_in)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if seconds != seconds or seconds <= 0:  # NaN, or nothing left
            return None
        return time.monotonic() + seconds - min(self.leeway, seconds / 2)

    @staticmethod
    def _usable(token: IssuedToken | None) -> bool:
        return token is not None and token.usable()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        used = self._token
        if not self._usable(used):
            async with self._lock:
                if not self._usable(self._token):
                    self._token = None
                    response = yield self.exchange_request()
                    await response.aread()
                    token = self.read_token(response)
                    if token is None:
                        return  # the client classifies the exchange's answer
                    self._token = token
                    self.exchanges += 1
                used = self._token
        assert used is not None
        self.sign(request, used.value)
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        # The token was refused (expired early or revoked): exchange again once, unless another request
        # already did it meanwhile.
        async with self._lock:
            if self._token is used or self._token is None:
                self._token = None
                exchange_response = yield self.exchange_request()
                await exchange_response.aread()
                token = self.read_token(exchange_response)
                if token is None:
                    return
                self._token = token
                self.exchanges += 1
            fresh = self._token
        self.sign(request, fresh.value)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} is async-only; use it with httpx.AsyncClient")


class OAuth2TokenAuth(TokenExchangeAuth):
    """An OAuth 2 token endpoint (RFC 6749): a form POST answered ``{"access_token", "expires_in"}``.

    Example:
        auth = OAuth2TokenAuth.password("https://api.iadvize.com/oauth2/token", "me@example.org",
                                        SecretStr(pw), vendor="iAdvize")
        auth = OAuth2TokenAuth.client_credentials(url, "client-id", SecretStr(secret), vendor="Example")

    A grant whose form changes on each exchange (a Google service account's freshly signed JWT assertion)
    subclasses this and overrides :meth:`form`.
    """

    def __init__(self, token_url: str, form: Mapping[str, str | SecretStr] | None = None, *, vendor: str,
                 credential: str = "credentials", client_id: str | None = None,
                 client_secret: SecretStr | str | None = None) -> None:
        super().__init__()
        self.token_url = token_url
        self.vendor = vendor
        self.credential = credential
        self._form = dict(form or {})
        self._client_id = client_id
        self._client_secret = _secret(client_secret) if client_secret is not None else None

    @classmethod
    def password(cls, token_url: str, username: str, password: SecretStr | str, *, vendor: str,
                 scope: str | None = None, **options) -> OAuth2TokenAuth:
        """Resource owner password grant (RFC 6749 §4.3)."""
        form = {"grant_type": "password", "username": username, "password": _secret(password)}
        return cls(token_url, {**form, **({"scope": scope} if scope else {})}, vendor=vendor,
                   credential=options.pop("credential", "username and password"), **options)

    @classmethod
    def client_credentials(cls, token_url: str, client_id: str, client_secret: SecretStr | str, *, vendor: str,
                           scope: str | None = None, **options) -> OAuth2TokenAuth:
        """Client credentials grant (RFC 6749 §4.4), the client authenticated with HTTP Basic."""
        return cls(token_url, {"grant_type": "client_credentials", **({"scope": scope} if scope else {})},
                   vendor=vendor, credential=options.pop("credential", "client id and secret"),
                   client_id=client_id, client_secret=client_secret, **options)

    def form(self) -> dict[str, str]:
        """The form fields of one exchange, secrets revealed (only into the request body)."""
        return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in self._form.items()}

    def exchange_request(self) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if self._client_id is not None and self._client_secret is not None:
            headers["Authorization"] = basic_header(self._client_id, self._client_secret)
        return httpx.Request("POST", self.token_url, data=self.form(), headers=headers)

    def read_token(self, response: httpx.Response) -> IssuedToken | None:
        if not response.is_success:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self.no_token(response, "the answer holds no access_token",
                                "Check the token URL of the connection.")
        return IssuedToken(SecretStr(token), self.expiry(body.get("expires_in")))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self.token_url!r}, vendor={self.vendor!r})"
