"""The ``Mailchimp Credentials`` Prefect Block: the API key of one Mailchimp account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http.credentials import ConnectionCredentials
from connectors.mailchimp.client import PING, MailchimpClient
from connectors.mailchimp.models import data_center


class MailchimpCredentials(ConnectionCredentials):
    """A Mailchimp Marketing API key. Its suffix names the account's data center (``…-us21`` →
    ``https://us21.api.mailchimp.com/3.0``); auth is HTTP Basic with any user name and the key.

    Example:
        creds = MailchimpCredentials(api_key="…-us21")
        print(await creds.test())
        async with creds.client() as mailchimp:
            await mailchimp.upsert_member("8e3b1f0c2a", "lea@example.org")
    """

    app: ClassVar[str] = "mailchimp"
    _block_type_name = "Mailchimp Credentials"
    _block_type_slug = "mailchimp-credentials"
    _description = "API key of a Mailchimp account, for the Mailchimp Marketing API v3."
    _documentation_url = "https://mailchimp.com/developer/marketing/docs/fundamentals/"
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused key must not be echoed

    api_key: SecretStr = Field(..., description="Mailchimp API key, ending with its data center (…-us21); "
                               "Profile → Extras → API keys. Stored encrypted by Prefect.")
    base_url: str | None = Field(None, description="Advanced: API root replacing https://<dc>.api.mailchimp.com/"
                                 "3.0. Set only to use a proxy or the Passerelle sandbox (http://HOST:PORT/mailchimp).")
    max_concurrency: int = Field(4, ge=1, le=10, description="Advanced: requests in flight at once (Mailchimp "
                                 "allows 10 simultaneous connections per user).")

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        data_center(value)  # raises, naming the field, without the key
        return SecretStr(value.get_secret_value().strip())

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8765/mailchimp; got {value!r}")
        return value or None

    @property
    def data_center(self) -> str:
        return data_center(self.api_key)

    def client(self, **options) -> MailchimpClient:
        """A new :class:`MailchimpClient` for this key (use it with ``async with``).

        Args:
            **options: Extra :class:`MailchimpClient` options (``retry``, ``rate_limit``, ``transport``...).
        """
        return MailchimpClient(api_key=self.api_key, base_url=self.base_url,
                               **{"max_concurrency": self.max_concurrency,
                                  "auth_hint": f"Check the API key in the '{self.block_ref}' block.", **options})

    async def test(self) -> str:
        """Call Mailchimp's health check with the key (``GET /ping``).

        Example:
            print(await creds.test())  # Mailchimp accepted the API key (data center us21, GET /ping)
        """
        async with self.client() as mailchimp:
            await mailchimp.ping()
        return f"Mailchimp accepted the API key (data center {self.data_center}, GET {PING.path})"
