"""The ``Amilia Credentials`` Prefect Block: how Passerelle logs in to one Amilia organisation."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from connectors.amilia.client import DEFAULT_BASE_URL, AmiliaClient


class AmiliaCredentials(Block):
    """Credentials of an Amilia (SmartRec) organisation, for the API v3 organisation routes.

    Example:
        creds = await AmiliaCredentials.load("my-club")
        async with creds.client() as amilia:
            await amilia.ping()
    """

    _block_type_name = "Amilia Credentials"
    _block_type_slug = "amilia-credentials"
    _description = "Username, password and organisation of an Amilia (SmartRec) account, for the API v3."
    _documentation_url = "https://app.amilia.com/apidocs/Index.html"

    username: str = Field(..., description="Amilia login of an administrator of the organisation.")
    password: SecretStr = Field(..., description="Password of that login. Stored encrypted by Prefect.")
    organization: str = Field(
        ..., description="Organisation id (e.g. 8008) or the store's URL slug (e.g. 'forest-explorers')."
    )
    language: Literal["en", "fr"] = Field("en", description="Language of names in API answers.")
    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="Advanced: API root. Change only to use a proxy or the Passerelle sandbox "
        "(http://HOST:PORT/amilia/api/V3).",
    )
    max_concurrency: int = Field(8, ge=1, le=64, description="Advanced: requests in flight at once.")

    def client(self, **options) -> AmiliaClient:
        """A new :class:`AmiliaClient` for these credentials (use it with ``async with``).

        Args:
            **options: Extra :class:`AmiliaClient` options (``retry``, ``rate_limit``, ``per_page``...).
        """
        name = getattr(self, "_block_document_name", None)
        block = f"amilia-credentials/{name}" if name else "amilia-credentials"
        return AmiliaClient(
            username=self.username, password=self.password, organization=self.organization,
            language=self.language, base_url=self.base_url,
            **{"max_concurrency": self.max_concurrency, "block": block, **options},
        )
