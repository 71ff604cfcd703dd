"""The ``Twilio Credentials`` Prefect Block: the Account SID and Auth Token of one Twilio account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http import AuthError
from connectors._http.credentials import ConnectionCredentials, base_url_field, concurrency_field
from connectors.twilio.client import ACCOUNT, DEFAULT_BASE_URL, TwilioClient
from connectors.twilio.models import check_sid


class TwilioCredentials(ConnectionCredentials):
    """A Twilio account's SID and Auth Token (Console → Account info), sent as HTTP Basic.

    Example:
        creds = TwilioCredentials(account_sid="AC…", auth_token="…")
        print(await creds.test())
        async with creds.client() as twilio:
            await twilio.send_message("+15145550100", "Hello", from_="+15005550006")
    """

    app: ClassVar[str] = "twilio"
    _block_type_name = "Twilio Credentials"
    _block_type_slug = "twilio-credentials"
    _description = "Account SID and Auth Token of a Twilio account, for the Twilio REST API (SMS)."
    _documentation_url = "https://www.twilio.com/docs/usage/api"
    model_config = ConfigDict(hide_input_in_errors=True)

    account_sid: str = Field(..., description="Account SID: AC followed by 32 hexadecimal digits.")
    auth_token: SecretStr = Field(..., description="Auth Token of the account. Stored encrypted by Prefect.")
    base_url: str = base_url_field(DEFAULT_BASE_URL, "http://HOST:PORT/twilio")
    max_concurrency: int = concurrency_field()

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        return check_sid(value, "AC", "account_sid")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = (value or "").strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}; got {value!r}")
        return value

    def client(self, **options) -> TwilioClient:
        """A new :class:`TwilioClient` for this account (use it with ``async with``)."""
        return TwilioClient(account_sid=self.account_sid, auth_token=self.auth_token, base_url=self.base_url,
                            **{"max_concurrency": self.max_concurrency,
                               "auth_hint": f"Check the Account SID and Auth Token in the '{self.block_ref}' block.",
                               **options})

    async def test(self) -> str:
        """Read the account (``GET /2010-04-01/Accounts/{AccountSid}.json``) and check it is active.

        Example:
            print(await creds.test())  # Twilio accepted the Auth Token of account AC… (My account, active)
        """
        async with self.client() as twilio:
            account = await twilio.fetch_account()
        status = account.get("status")
        if status != "active":
            raise AuthError(vendor="Twilio", status=403, method="GET",
                            path=ACCOUNT.path_for(account_sid=self.account_sid),
                            credential="Account SID and Auth Token", message=f"the account is {status or 'not active'}",
                            hint=f"Use an active account in the '{self.block_ref}' block.")
        return f"Twilio accepted the Auth Token of account {self.account_sid} ({account.get('friendly_name')}, active)"
