"""The ``Cyberimpact Credentials`` Prefect Block: the API token of one Cyberimpact account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from connectors._http.credentials import ConnectionCredentials, base_url_field, concurrency_field
from connectors.cyberimpact.client import DEFAULT_BASE_URL, CyberimpactClient


class CyberimpactCredentials(ConnectionCredentials):
    """API token of a Cyberimpact account (Plus or Pro plan), created under Developers → API tokens.

    Example:
        creds = await CyberimpactCredentials.load("newsletter")
        print(await creds.test())
        async with creds.client() as cyber:
            members = await cyber.list_members()
    """

    app: ClassVar[str] = "cyberimpact"
    _block_type_name = "Cyberimpact Credentials"
    _block_type_slug = "cyberimpact-credentials"
    _description = "API token of a Cyberimpact account, for the Cyberimpact REST API."
    _documentation_url = "https://faq.cyberimpact.com/en/articles/21/how-to-use-the-cyberimpact-api"

    api_token: SecretStr = Field(..., description="API token (a JWT). Stored encrypted by Prefect.")
    base_url: str = base_url_field(DEFAULT_BASE_URL, "http://HOST:PORT/cyberimpact")
    max_concurrency: int = concurrency_field()

    def client(self, **options) -> CyberimpactClient:
        """A new :class:`CyberimpactClient` for this token (use it with ``async with``).

        Args:
            **options: Extra :class:`CyberimpactClient` options (``retry``, ``rate_limit``, ``limit``...).
        """
        return CyberimpactClient(
            api_token=self.api_token, base_url=self.base_url,
            **{"max_concurrency": self.max_concurrency,
               "auth_hint": f"Check the token in the '{self.block_ref}' block.", **options},
        )

    async def test(self) -> str:
        """Check the token with the API's ping (``GET /ping``).

        Example:
            print(await creds.test())  # Cyberimpact accepted the API token (GET /ping)
        """
        async with self.client() as cyber:
            await cyber.ping()
        return "Cyberimpact accepted the API token (GET /ping)"
