"""The ``Amilia Credentials`` Prefect Block: how Passerelle logs in to one Amilia organisation."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from connectors._http.credentials import ConnectionCredentials, base_url_field, concurrency_field
from connectors.amilia.client import DEFAULT_BASE_URL, AmiliaClient


class AmiliaCredentials(ConnectionCredentials):
    """Credentials of an Amilia (SmartRec) organisation, for the API v3 organisation routes.

    Example:
        creds = await AmiliaCredentials.load("my-club")
        print(await creds.test())
        async with creds.client() as amilia:
            persons = await amilia.list_persons()
    """

    app: ClassVar[str] = "amilia"
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
    base_url: str = base_url_field(DEFAULT_BASE_URL, "http://HOST:PORT/amilia/api/V3")
    max_concurrency: int = concurrency_field()

    def client(self, **options) -> AmiliaClient:
        """A new :class:`AmiliaClient` for these credentials (use it with ``async with``).

        Args:
            **options: Extra :class:`AmiliaClient` options (``retry``, ``rate_limit``, ``per_page``...).
        """
        return AmiliaClient(
            username=self.username, password=self.password, organization=self.organization,
            language=self.language, base_url=self.base_url,
            **{"max_concurrency": self.max_concurrency, "block": self.block_ref, **options},
        )

    async def test(self) -> str:
        """Authenticate and read one program of the organisation (``GET …/programs?perPage=1``).

        Example:
            print(await creds.test())  # Amilia accepted the username and password for organisation '8008'
        """
        async with self.client() as amilia:
            await amilia.ping()
        return f"Amilia accepted the username and password for organisation {self.organization!r}"
