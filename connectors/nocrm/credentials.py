"""The ``noCRM Credentials`` Prefect Block: the subdomain and API key of one noCRM.io account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from connectors._http import AuthError
from connectors._http.credentials import ConnectionCredentials, concurrency_field
from connectors.nocrm.client import PING, NocrmClient
from connectors.nocrm.models import ACCOUNT_FORM, nocrm_account

PING_OK = "Your API key is correct."


class NocrmCredentials(ConnectionCredentials):
    """An API key of a noCRM.io account, sent in the ``X-API-KEY`` header (it acts as an admin of the account).

    Example:
        creds = NocrmCredentials(account="acme", api_key="…")
        print(await creds.test())   # noCRM accepted the API key of acme.nocrm.io (GET /api/v2/ping)
        async with creds.client() as nocrm:
            lead = await nocrm.next_step(145676)
    """

    app: ClassVar[str] = "nocrm"
    _block_type_name = "noCRM Credentials"
    _block_type_slug = "nocrm-credentials"
    _description = "Subdomain and API key of a noCRM.io account, for noCRM's simplified API (lead actions)."
    _documentation_url = "https://www.nocrm.io/api"

    account: str = Field(..., description=f"The account: {ACCOUNT_FORM}.")
    api_key: SecretStr = Field(..., description="noCRM API key (Admin → API → API keys). Stored encrypted by "
                               "Prefect.")
    base_url: str | None = Field(None, description="Advanced: API root replacing https://{account}.nocrm.io. Set "
                                 "only to use a proxy or the Passerelle sandbox (http://HOST:PORT/nocrm).")
    max_concurrency: int = concurrency_field()

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return nocrm_account(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8765/nocrm; got {value!r}")
        return value or None

    def client(self, **options) -> NocrmClient:
        """A new :class:`NocrmClient` for this key (use it with ``async with``).

        Args:
            **options: Extra :class:`NocrmClient` options (``retry``, ``rate_limit``, ``transport``...).
        """
        return NocrmClient(
            account=self.account, base_url=self.base_url, api_key=self.api_key,
            **{"max_concurrency": self.max_concurrency,
               "auth_hint": f"Check the API key in the '{self.block_ref}' block.", **options},
        )

    async def test(self) -> str:
        """``GET /api/v2/ping``, noCRM's own "is this key correct" call: it reads nothing and changes nothing.

        Raises:
            AuthError: noCRM refused the key (401 ``unauthorized_*``), or answered something that is not its
                ping (a wrong base_url), naming the Block.
        """
        async with self.client() as nocrm:
            answer = await nocrm.ping()
        if answer.get("status") != 200:
            raise AuthError(vendor="noCRM", status=200, method="GET", path=PING.path, credential="API key",
                            message=f"the ping answered {str(answer)[:120]!r}, not noCRM's "
                                    f"{{'status': 200, 'message': {PING_OK!r}}}",
                            hint=f"Check the account and base_url in the '{self.block_ref}' block.")
        return f"noCRM accepted the API key of {self.account}.nocrm.io (GET {PING.path})"
