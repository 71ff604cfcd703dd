"""The ``OKAST Credentials`` Prefect Block: the API key an OKAST platform sends with each event it posts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http import AuthError
from connectors._http.credentials import ConnectionCredentials
from connectors.okast.client import API_KEY_HEADER, OkastPlatform, key_problem


class OkastCredentials(ConnectionCredentials):
    """The API key of one OKAST platform (OKAST editor → Plateforme > Configuration; OKAST gives it on request).

    OKAST calls Passerelle, not the other way round: the platform posts each event to
    ``/hooks/okast/<this block's name>`` with this key in the ``X-Api-Key`` header. The block's name is the
    connection a zap's OKAST trigger names (``trigger.connection``).

    Example:
        creds = OkastCredentials(api_key="ok_live_…")
        print(await creds.test())   # the OKAST API key has the expected form (…); OKAST has no public API …
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # a refused key is never echoed

    app: ClassVar[str] = "okast"
    _block_type_name = "OKAST Credentials"
    _block_type_slug = "okast-credentials"
    _description = ("The API key an OKAST platform sends with each event it posts to Passerelle "
                    "(POST /hooks/okast/{connection}).")
    _documentation_url = ("https://okast.freshdesk.com/en/support/solutions/articles/103000101414-using-zapier-to-"
                          "connect-okast-to-thousands-of-third-party-applications")

    api_key: SecretStr = Field(..., description="The platform's API key (OKAST editor → Plateforme > Configuration; "
                               "ask OKAST for it). Stored encrypted by Prefect.")
    base_url: str | None = Field(None, description="Unused: OKAST has no public API that Passerelle calls (OKAST "
                                 "calls Passerelle). Kept for the shape every connection has.")

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        problem = key_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value

    def client(self, **options) -> OkastPlatform:
        """The platform as Passerelle knows it (:class:`OkastPlatform`: the key, compared in constant time)."""
        return OkastPlatform(self.api_key, block=self.block_ref)

    async def test(self) -> str:
        """Check the API key's form: OKAST has no public API to call, so the key is proven by OKAST's calls.

        Raises:
            AuthError: the key is not of the form OKAST gives (a Block saved by hand), naming the Block.
        """
        problem = key_problem(self.api_key.get_secret_value())
        if problem:
            raise AuthError(vendor="OKAST", credential="API key", message=problem,
                            hint=f"Save the key again in the '{self.block_ref}' block.")
        return (f"the OKAST API key has the expected form ({len(self.api_key.get_secret_value())} characters); "
                f"OKAST has no public API to call, so it is proven by OKAST's first call to /hooks/okast/<name> "
                f"with it in {API_KEY_HEADER}")
