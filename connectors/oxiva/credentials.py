"""The ``Oxiva Credentials`` Prefect Block: the dossier and API token of one Oxiva dossier."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http.credentials import ConnectionCredentials, concurrency_field
from connectors.oxiva.client import VERSION, OxivaClient
from connectors.oxiva.models import DOSSIER_FORM, oxiva_dossier


class OxivaCredentials(ConnectionCredentials):
    """The API token of an Oxiva dossier and the dossier's name (the seed: "L'authentification se fait par clé API
    et demande également le nom de dossier"). The API must be activated for the dossier (Oxiva → Modules → API).

    Example:
        creds = OxivaCredentials(dossier="demo", token="…")
        print(await creds.test())   # Oxiva accepted the API token of dossier 'demo' (GET /version/)
        async with creds.client() as oxiva:
            societe = await oxiva.societe("11")
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    app: ClassVar[str] = "oxiva"
    _block_type_name = "Oxiva Credentials"
    _block_type_slug = "oxiva-credentials"
    _description = "Dossier and API token of an Oxiva dossier, for Oxiva's API v2.0 (clients, activities, tickets)."

    dossier: str = Field(..., description=f"The dossier: {DOSSIER_FORM}.")
    token: SecretStr = Field(..., description="The dossier's API key (Clé API / Token), shown in Oxiva once the API "
                             "module is activated. Stored encrypted by Prefect.")
    base_url: str | None = Field(None, description="Advanced: API root replacing "
                                 "https://www.oxiva.cloud/appli/api/oxiva/v2.0. Set only to use a proxy or the "
                                 "Passerelle sandbox (http://HOST:PORT/oxiva/appli/api/oxiva/v2.0).")
    max_concurrency: int = concurrency_field()

    @field_validator("dossier")
    @classmethod
    def _dossier(cls, value: str) -> str:
        return oxiva_dossier(value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text.strip():
            raise ValueError("token: the API token is empty; copy it from Oxiva (Modules → API)")
        if text != text.strip():
            raise ValueError("token: the API token starts or ends with spaces; copy it as Oxiva shows it")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL such as http://127.0.0.1:8765/oxiva/appli/api/oxiva/"
                             f"v2.0; got {value!r}")
        return value or None

    def client(self, **options) -> OxivaClient:
        """A new :class:`OxivaClient` for this dossier (use it with ``async with``).

        Args:
            **options: Extra :class:`OxivaClient` options (``retry``, ``rate_limit``, ``transport``...).
        """
        return OxivaClient(dossier=self.dossier, token=self.token, base_url=self.base_url,
                           **{"max_concurrency": self.max_concurrency,
                              "auth_hint": f"Check the dossier and API token in the '{self.block_ref}' block, and "
                                           "that the API is activated for the dossier (Oxiva → Modules → API).",
                              **options})

    async def test(self) -> str:
        """``GET version/`` with the dossier and token, the seed's authentication test (reads nothing else).

        Raises:
            AuthError: Oxiva refused the dossier or token, or the API is not activated (naming the Block).
        """
        async with self.client() as oxiva:
            answer = await oxiva.version()
        version = answer.get("version")
        shown = f"; API {str(version)[:20]}" if version else ""
        return f"Oxiva accepted the API token of dossier {self.dossier!r} (GET {VERSION.path}{shown})"
