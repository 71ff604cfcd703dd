"""The ``Google Sheets Credentials`` Prefect Block: the JSON key of one Google service account."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from connectors._http.credentials import ConnectionCredentials
from connectors.google_sheets.auth import ServiceAccountKey
from connectors.google_sheets.client import DEFAULT_BASE_URL, SheetsClient, spreadsheet_id


def _url(value: str | None, field: str, example: str) -> str | None:
    value = (value or "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{field} must be an http(s) URL such as {example}; got {value!r}")
    return value or None


class GoogleSheetsCredentials(ConnectionCredentials):
    """A Google service account's JSON key. Share each spreadsheet with the account's e-mail
    (``…@<project>.iam.gserviceaccount.com``) as an Editor; the Google Sheets API must be enabled in its project.

    Example:
        creds = GoogleSheetsCredentials(service_account_key=Path("key.json").read_text())
        print(await creds.test())
        async with creds.client() as sheets:
            await sheets.append_values("1AbC…", "Sheet1", [["lea@example.org"]])
    """

    app: ClassVar[str] = "google-sheets"
    _block_type_name = "Google Sheets Credentials"
    _block_type_slug = "google-sheets-credentials"
    _description = "JSON key of a Google service account, for the Google Sheets API v4."
    _documentation_url = "https://developers.google.com/identity/protocols/oauth2/service-account"
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused key must not be echoed

    service_account_key: SecretStr = Field(..., description="The service account's JSON key file, whole (IAM → "
                                           "Service accounts → Keys → Add key → JSON). Stored encrypted by Prefect.")
    test_spreadsheet_id: str | None = Field(None, description="Optional: a spreadsheet shared with the service "
                                            "account; the test call reads its title.")
    base_url: str = Field(DEFAULT_BASE_URL, description="Advanced: API root. Change only to use a proxy or the "
                          "Passerelle sandbox (http://HOST:PORT/google-sheets).")
    token_url: str | None = Field(None, description="Advanced: token endpoint replacing the key's token_uri (the "
                                  "sandbox's http://HOST:PORT/google-sheets/token).")
    max_concurrency: int = Field(4, ge=1, le=64, description="Advanced: requests in flight at once.")

    @field_validator("service_account_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        ServiceAccountKey.from_json(value)  # raises, naming the field, without the key
        return value

    @field_validator("test_spreadsheet_id")
    @classmethod
    def _spreadsheet(cls, value: str | None) -> str | None:
        return spreadsheet_id(value, "test_spreadsheet_id") if value and value.strip() else None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _url(value, "base_url", DEFAULT_BASE_URL) or DEFAULT_BASE_URL

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        return _url(value, "token_url", "https://oauth2.googleapis.com/token")

    @property
    def key(self) -> ServiceAccountKey:
        return ServiceAccountKey.from_json(self.service_account_key)

    def client(self, **options) -> SheetsClient:
        """A new :class:`SheetsClient` for this service account (use it with ``async with``)."""
        return SheetsClient(key=self.key, base_url=self.base_url, token_url=self.token_url,
                            **{"max_concurrency": self.max_concurrency,
                               "auth_hint": f"Check the service-account key in the '{self.block_ref}' block.",
                               **options})

    async def test(self) -> str:
        """Exchange the key for an access token (the signed JWT grant), then read the title of
        ``test_spreadsheet_id`` if one is set (``GET /v4/spreadsheets/{id}``).

        Example:
            print(await creds.test())  # Google accepted the key of sync@acme.iam.gserviceaccount.com; …
        """
        email = self.key.client_email
        async with self.client() as sheets:
            if self.test_spreadsheet_id is None:
                await sheets.auth_check()
                return f"Google accepted the key of {email} (token issued; set test_spreadsheet_id to check a sheet)"
            found = await sheets.get_spreadsheet(self.test_spreadsheet_id)
        title = (found.get("properties") or {}).get("title")
        return f"Google accepted the key of {email}; it can read the spreadsheet {title!r}"
