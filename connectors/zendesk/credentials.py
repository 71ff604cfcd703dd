"""The ``Zendesk Credentials`` Prefect Block: the domain, agent e-mail and API token of one Zendesk account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from connectors._http import AuthError
from connectors._http.credentials import ConnectionCredentials, concurrency_field
from connectors.zendesk.client import ME, ZendeskClient
from connectors.zendesk.models import DOMAIN_FORM, check_email, zendesk_domain


class ZendeskCredentials(ConnectionCredentials):
    """An API token of a Zendesk Support account and the agent or admin e-mail it acts as.

    Auth is Zendesk's API-token form of HTTP Basic, ``{email}/token:{api_token}``.

    Example:
        creds = ZendeskCredentials(domain="https://acme.zendesk.com", email="admin@acme.com",
                                   api_token="…")
        print(await creds.test())
        async with creds.client() as zendesk:
            forms = await zendesk.ticket_forms()
    """

    app: ClassVar[str] = "zendesk"
    _block_type_name = "Zendesk Credentials"
    _block_type_slug = "zendesk-credentials"
    _description = "Domain, agent e-mail and API token of a Zendesk Support account, for the Zendesk API v2."
    _documentation_url = "https://developer.zendesk.com/api-reference/introduction/security-and-auth/"

    domain: str = Field(..., description=f"Your Zendesk domain, of the form {DOMAIN_FORM}.")
    email: str = Field(..., description="E-mail of the Zendesk admin (or agent) the API token acts as.")
    api_token: SecretStr = Field(..., description="Zendesk API token (Admin Center → Apps and integrations → "
                                 "Zendesk API). Stored encrypted by Prefect.")
    base_url: str | None = Field(None, description="Advanced: API root replacing the domain. Set only to use a "
                                 "proxy or the Passerelle sandbox (http://HOST:PORT/zendesk).")
    max_concurrency: int = concurrency_field()

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return zendesk_domain(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8765/zendesk; got {value!r}")
        return value or None

    def client(self, **options) -> ZendeskClient:
        """A new :class:`ZendeskClient` for these credentials (use it with ``async with``).

        Args:
            **options: Extra :class:`ZendeskClient` options (``retry``, ``rate_limit``, ``transport``...).
        """
        return ZendeskClient(
            domain=self.domain, base_url=self.base_url, email=self.email, api_token=self.api_token,
            **{"max_concurrency": self.max_concurrency,
               "auth_hint": f"Check the e-mail and API token in the '{self.block_ref}' block.", **options},
        )

    async def test(self) -> str:
        """Read the user the token acts as (``GET /api/v2/users/me``) and check it may use the API.

        Zendesk answers that path for anonymous callers too (``"id": null``): that, or an end user, is
        refused here with an :class:`AuthError` naming the Block.

        Example:
            print(await creds.test())  # Zendesk accepted the API token of admin@acme.com (admin)
        """
        async with self.client() as zendesk:
            user = await zendesk.me()
        where = dict(vendor="Zendesk", method="GET", path=ME.path, credential="e-mail and API token",
                     hint=f"Check the e-mail and API token in the '{self.block_ref}' block.")
        if user.get("id") is None:
            raise AuthError(status=401, message="it answered as an anonymous user", **where)
        if user.get("role") not in ("admin", "agent"):
            raise AuthError(status=403, message=f"{self.email} is an {user.get('role') or 'unknown role'}, not an "
                            "agent or admin", **where)
        return f"Zendesk accepted the API token of {user.get('email') or self.email} ({user['role']})"
