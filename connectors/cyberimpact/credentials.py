"""The ``Cyberimpact Credentials`` Prefect Block: the API token of one Cyberimpact account."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from connectors.cyberimpact.client import DEFAULT_BASE_URL, CyberimpactClient


class CyberimpactCredentials(Block):
    """API token of a Cyberimpact account (Plus or Pro plan), created under Developers → API tokens.

    Example:
        creds = await CyberimpactCredentials.load("newsletter")
        async with creds.client() as cyber:
            await cyber.ping()
    """

    _block_type_name = "Cyberimpact Credentials"
    _block_type_slug = "cyberimpact-credentials"
    _description = "API token of a Cyberimpact account, for the Cyberimpact REST API."
    _documentation_url = "https://faq.cyberimpact.com/en/articles/21/how-to-use-the-cyberimpact-api"

    api_token: SecretStr = Field(..., description="API token (a JWT). Stored encrypted by Prefect.")
    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="Advanced: API root. Change only to use a proxy or the Passerelle sandbox "
        "(http://HOST:PORT/cyberimpact).",
    )
    max_concurrency: int = Field(8, ge=1, le=64, description="Advanced: requests in flight at once.")

    def client(self, **options) -> CyberimpactClient:
        """A new :class:`CyberimpactClient` for this token (use it with ``async with``).

        Args:
            **options: Extra :class:`CyberimpactClient` options (``retry``, ``rate_limit``, ``limit``...).
        """
        name = getattr(self, "_block_document_name", None)
        block = f"cyberimpact-credentials/{name}" if name else "cyberimpact-credentials"
        return CyberimpactClient(
            api_token=self.api_token, base_url=self.base_url,
            **{"max_concurrency": self.max_concurrency,
               "auth_hint": f"Check the token in the '{block}' block.", **options},
        )
