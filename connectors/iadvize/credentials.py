"""The ``iAdvize Credentials`` Prefect Block: the login of one iAdvize user for the GraphQL API."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from connectors._http.credentials import ConnectionCredentials, base_url_field, concurrency_field
from connectors.iadvize.client import DEFAULT_BASE_URL, IadvizeClient


class IadvizeCredentials(ConnectionCredentials):
    """An iAdvize user's e-mail and password (exchanged for a GraphQL API token valid 24 h), the account's
    platform, and optionally the REST API key (REST v2, ``X-API-Key``) that iAdvize's support hands out.

    Example:
        creds = await IadvizeCredentials.load("boutique-fr")
        print(await creds.test())
        async with creds.client() as iadvize:
            conversation = await iadvize.conversation("4c8c7408-f73c-42cd-89e9-afbbee7d9024")
    """

    app: ClassVar[str] = "iadvize"
    _block_type_name = "iAdvize Credentials"
    _block_type_slug = "iadvize-credentials"
    _description = "Login of an iAdvize user for the GraphQL API (and the REST API key), for one iAdvize account."
    _documentation_url = "https://docs.iadvize.dev"

    username: str = Field(..., description="E-mail of the iAdvize user the GraphQL API token is made for "
                          "(an administrator of the site's project).")
    password: SecretStr = Field(..., description="Password of that user. Stored encrypted by Prefect.")
    rest_api_key: SecretStr | None = Field(None, description="REST API key (from help@iadvize.com), for the "
                                           "REST v2 calls. Stored encrypted by Prefect.")
    platform: Literal["ha", "sd"] = Field("ha", description="The iAdvize platform the account lives on: 'ha' "
                                          "(most accounts) or 'sd' (sd.iadvize.com).")
    base_url: str = base_url_field(DEFAULT_BASE_URL, "http://HOST:PORT/iadvize")
    max_concurrency: int = concurrency_field()

    def client(self, **options) -> IadvizeClient:
        """A new :class:`IadvizeClient` for this login (use it with ``async with``).

        Args:
            **options: Extra :class:`IadvizeClient` options (``retry``, ``rate_limit``, ``page_size``...).
        """
        hint = (f"Check the username and password in the '{self.block_ref}' block, and its platform "
                f"({self.platform!r}).")
        return IadvizeClient(
            username=self.username, password=self.password, platform=self.platform, base_url=self.base_url,
            **{"max_concurrency": self.max_concurrency, "auth_hint": hint, **options},
        )

    async def test(self) -> str:
        """Log in (``POST /oauth2/token``) and check the token (``GET /_authenticated``).

        Example:
            print(await creds.test())  # iAdvize accepted the username and password (GET /_authenticated)
        """
        async with self.client() as iadvize:
            if not await iadvize.authenticated():
                from connectors._http import AuthError

                raise AuthError(vendor="iAdvize", status=200, method="GET", path="/_authenticated",
                                credential="username and password", message="the token was not accepted",
                                hint=f"Check the '{self.block_ref}' block.")
        return "iAdvize accepted the username and password (GET /_authenticated)"
