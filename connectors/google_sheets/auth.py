"""Google service-account auth: a JSON key, an RS256-signed JWT grant exchanged for an access token
(RFC 7523; https://developers.google.com/identity/protocols/oauth2/service-account#httprest).

The grant: ``POST <token_uri>`` form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and
``assertion=<JWT>``, the JWT signed with the key's private key (header ``alg RS256``, ``kid`` = the key id;
claims ``iss`` = the service account's e-mail, ``scope``, ``aud`` = the token URL, ``iat``, ``exp`` ≤ ``iat`` +
1 h) → ``{"access_token", "expires_in": 3599, "token_type": "Bearer"}``. The kit's :class:`OAuth2TokenAuth`
keeps the token until a minute before it expires and exchanges again once on a 401; each exchange signs a
fresh JWT. A refused grant (400 ``invalid_grant``: bad signature, unknown account, clock skew) is an
:class:`AuthError`.

Example:
    key = ServiceAccountKey.from_json(Path("key.json").read_text())
    auth = ServiceAccountAuth(key, scopes=[SPREADSHEETS])
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import SecretStr

from connectors._http import AuthError, IssuedToken, OAuth2TokenAuth
from connectors._http.decoding import response_json

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SPREADSHEETS = "https://www.googleapis.com/auth/spreadsheets"
LIFETIME = 3600  # Google refuses an assertion valid for longer than an hour
REQUIRED = ("client_email", "private_key")


@dataclass(frozen=True)
class ServiceAccountKey:
    """The parts of a service-account JSON key that auth needs; the private key stays a ``SecretStr``."""

    client_email: str
    private_key: SecretStr = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI
    project_id: str | None = None

    @classmethod
    def from_json(cls, text: SecretStr | str, field_name: str = "service_account_key") -> ServiceAccountKey:
        """Parse and check a key file's JSON (Console → IAM → Service accounts → Keys → Add key → JSON).

        Raises:
            ValueError: naming ``field_name`` and what is wrong, never echoing the key.
        """
        raw = text.get_secret_value() if isinstance(text, SecretStr) else text
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{field_name} must be the JSON key file of a Google service account (it is not "
                             "JSON); paste the whole file") from None
        if not isinstance(data, Mapping):
            raise ValueError(f"{field_name} must be a JSON object (the key file of a service account)")
        if data.get("type", "service_account") != "service_account":
            raise ValueError(f"{field_name}: type is {data.get('type')!r}; use a service account's key "
                             "(\"type\": \"service_account\"), not an OAuth client or user credentials")
        missing = [name for name in REQUIRED if not isinstance(data.get(name), str) or not data[name].strip()]
        if missing:
            raise ValueError(f"{field_name} has no {' and no '.join(missing)}; download a new JSON key for the "
                             "service account")
        key = cls(client_email=data["client_email"].strip(), private_key=SecretStr(data["private_key"]),
                  private_key_id=data.get("private_key_id") or None,
                  token_uri=str(data.get("token_uri") or GOOGLE_TOKEN_URI), project_id=data.get("project_id"))
        key.signing_key(field_name)  # refuse a private key that is not an RSA PEM now, not at the first call
        return key

    def signing_key(self, field_name: str = "service_account_key") -> rsa.RSAPrivateKey:
        try:
            loaded = load_pem_private_key(self.private_key.get_secret_value().encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError(f"{field_name}: private_key is not a PEM private key (-----BEGIN PRIVATE KEY-----…); "
                             "paste the key file unchanged") from None
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{field_name}: private_key must be an RSA key (Google signs service-account JWTs "
                             "with RS256)")
        return loaded

    def assertion(self, audience: str, scopes: Sequence[str], now: float | None = None) -> str:
        """A freshly signed JWT grant for ``audience`` (the token URL), valid one hour."""
        issued = int(time.time() if now is None else now)
        claims = {"iss": self.client_email, "scope": " ".join(scopes), "aud": audience, "iat": issued,
                  "exp": issued + LIFETIME}
        headers = {"kid": self.private_key_id} if self.private_key_id else None
        return jwt.encode(claims, self.signing_key(), algorithm="RS256", headers=headers)


class ServiceAccountAuth(OAuth2TokenAuth):
    """The JWT-bearer grant of one service account, a fresh assertion signed for each exchange."""

    def __init__(self, key: ServiceAccountKey, *, scopes: Sequence[str] = (SPREADSHEETS,),
                 token_url: str | None = None, hint: str | None = None) -> None:
        super().__init__(token_url or key.token_uri, vendor="Google", credential="service-account key")
        self.key = key
        self.scopes = tuple(scopes)
        self.hint = hint

    def form(self) -> dict[str, str]:
        return {"grant_type": JWT_BEARER, "assertion": self.key.assertion(self.token_url, self.scopes)}

    def read_token(self, response: httpx.Response) -> IssuedToken | None:
        if response.status_code in (400, 401):
            try:
                body: Any = response_json(response)
            except ValueError:
                body = {}
            body = body if isinstance(body, Mapping) else {}
            said = body.get("error_description") or body.get("error") or "the grant was refused"
            raise AuthError(vendor=self.vendor, status=response.status_code, method="POST",
                            path=httpx.URL(self.token_url).path, credential=self.credential,
                            message=f"{body.get('error') or 'error'}: {said}" if body.get("error") else str(said),
                            hint=self.hint)
        return super().read_token(response)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_email={self.key.client_email!r}, token_url={self.token_url!r})"
