"""Google Sheets API v4 connector: service-account auth (a signed JWT grant), client (append rows, read values),
the credentials Block and the zap action (`google_sheets.append_row` in zap.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.google_sheets.auth import SPREADSHEETS, ServiceAccountAuth, ServiceAccountKey
from connectors.google_sheets.client import DEFAULT_BASE_URL, SheetsClient, spreadsheet_id
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.google_sheets.credentials import GoogleSheetsCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "SPREADSHEETS", "GoogleSheetsCredentials", "ServiceAccountAuth",
           "ServiceAccountKey", "SheetsClient", "spreadsheet_id"]

APP = register_app("google-sheets", "Google Sheets", "connectors.google_sheets.credentials:GoogleSheetsCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "GoogleSheetsCredentials":
        from connectors.google_sheets.credentials import GoogleSheetsCredentials

        return GoogleSheetsCredentials
    raise AttributeError(name)
