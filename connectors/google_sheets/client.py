"""Async client of the Google Sheets API v4: append rows (``spreadsheets.values.append``), read values, read a
spreadsheet's title and sheets.

Auth is a service account (:mod:`connectors.google_sheets.auth`). Errors are Google's
``{"error": {"code", "message", "status"}}``, read by :class:`SheetsApi`; a 403 ``PERMISSION_DENIED`` says to share
the spreadsheet with the service account's e-mail.

Effects (API-NOTES §9, DESIGN.md): an append is **not idempotent**, a re-sent append writes the row twice, so it
is never re-sent after an answer that may have been lost (:class:`~connectors._http.errors.OutcomeUnknown`;
read the sheet with :meth:`SheetsClient.get_values` before sending it again). 429 (quota: 60 writes a minute per
user per project) and connections that never opened are retried after backoff.

Example:
    async with SheetsClient(key=ServiceAccountKey.from_json(text)) as sheets:
        done = await sheets.append_values("1AbC…", "Clients!A:F", [["2026-11-27", "lea@example.org", 12.5]])
        done["updates"]["updatedRange"]          # "Clients!A8:C8"
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from connectors._http import ApiClient, ApiError, AuthError, Endpoint, NotFoundError, RetryPolicy, VendorClient
from connectors._http.decoding import response_json
from connectors.google_sheets.auth import SPREADSHEETS, ServiceAccountAuth, ServiceAccountKey

Row = dict[str, Any]
Cell = str | int | float | bool | None
DEFAULT_BASE_URL = "https://sheets.googleapis.com"
VALUE_INPUT_OPTIONS = ("RAW", "USER_ENTERED")
INSERT_DATA_OPTIONS = ("INSERT_ROWS", "OVERWRITE")
_ID = re.compile(r"[A-Za-z0-9_-]{10,}")
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")

SPREADSHEET = Endpoint("spreadsheet", "/v4/spreadsheets/{spreadsheet_id}")
VALUES = Endpoint("values", "/v4/spreadsheets/{spreadsheet_id}/values/{range}")
APPEND = Endpoint("append", "/v4/spreadsheets/{spreadsheet_id}/values/{range}:append")


def spreadsheet_id(value: str, field: str = "spreadsheet_id") -> str:
    """The id of a spreadsheet, also taken out of its URL (``…/spreadsheets/d/<id>/edit``)."""
    text = value.strip() if isinstance(value, str) else ""
    found = _URL_ID.search(text)
    if found:
        text = found.group(1)
    if not _ID.fullmatch(text):
        raise ValueError(f"{field} must be a spreadsheet id, the part of its URL between /d/ and /edit "
                         f"(docs.google.com/spreadsheets/d/<id>/edit); got {value!r}")
    return text


def check_range(value: str, field: str = "range") -> str:
    """An A1 range (``Sheet1``, ``Sheet1!A:F``, ``'My sheet'!A1``): not empty, no line break."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or any(ch in text for ch in "\r\n\t"):
        raise ValueError(f"{field} must be an A1 range such as Sheet1!A:F or 'My sheet'!A1 (quote names with "
                         f"spaces); got {value!r}")
    return text


def check_cells(values: Sequence[Any], field: str = "values") -> list[Cell]:
    """One row: text, numbers, true/false or null (skipped by Google); anything else names its position."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{field} must be a list of cells (one row), e.g. [\"2026-11-27\", \"lea@example.org\", 12]")
    if not values:
        raise ValueError(f"{field} is empty: give at least one cell")
    for i, cell in enumerate(values):
        if cell is not None and not isinstance(cell, str | int | float | bool):
            raise ValueError(f"{field}[{i}]: a cell takes text, a number, true/false or null; got a "
                             f"{type(cell).__name__} (use a format step to turn it into text)")
        if isinstance(cell, float) and not math.isfinite(cell):
            raise ValueError(f"{field}[{i}]: {cell} is not a number a sheet can hold")
    return list(values)


def google_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(status, message)`` of Google's ``{"error": {"code", "message", "status"}}``."""
    try:
        body = response_json(response)
    except ValueError:
        return None, response.text.strip()[:200] or None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return error.get("status"), error.get("message")
    return None, None


class SheetsApi(ApiClient):
    """The kit's client, reading Google's error bodies and saying how to fix a refused spreadsheet."""

    client_email = ""

    def error_for(self, response: httpx.Response, *, attempts: int = 1) -> ApiError:
        error = super().error_for(response, attempts=attempts)
        status, message = google_error(response)
        if message:
            error.message = f"{status}: {message}" if status else message
        if isinstance(error, AuthError) and response.status_code == 403 and status == "PERMISSION_DENIED":
            error.hint = (f"Share the spreadsheet with {self.client_email} (Editor to append), and check the Google "
                          "Sheets API is enabled in the service account's project.")
        elif isinstance(error, NotFoundError):
            error.hint = "Check the spreadsheet id (the part of its URL between /d/ and /edit)."
        return error


class SheetsClient(VendorClient):
    """Google Sheets API v4 as one service account.

    Args:
        key: The service account's key.
        base_url: API root replacing ``https://sheets.googleapis.com`` (the sandbox's
            ``http://HOST:PORT/google-sheets``).
        token_url: Token endpoint replacing the key's ``token_uri`` (the sandbox's
            ``http://HOST:PORT/google-sheets/token``).
        scopes: OAuth scopes asked for (default: spreadsheets).
        max_concurrency, auth_hint, retry, rate_limit, timeout, transport, sleep: :class:`ApiClient` options.
    """

    def __init__(self, *, key: ServiceAccountKey, base_url: str | None = None, token_url: str | None = None,
                 scopes: Sequence[str] = (SPREADSHEETS,), max_concurrency: int = 4, auth_hint: str | None = None,
                 retry: RetryPolicy | None = None, **options: Any) -> None:
        self.key = key
        hint = auth_hint or "Check the service-account key."
        self.auth = ServiceAccountAuth(key, scopes=scopes, token_url=token_url, hint=hint)
        self.api = SheetsApi((base_url or DEFAULT_BASE_URL).rstrip("/"), vendor="Google Sheets", auth=self.auth,
                             credential="service-account key", auth_hint=hint, max_concurrency=max_concurrency,
                             retry=retry, **options)
        self.api.client_email = key.client_email
        self._options = {k: v for k, v in options.items() if k in ("transport", "sleep", "timeout")}

    async def auth_check(self) -> None:
        """Make one token exchange and nothing else: proves the key (its signature, the account, the clock)
        without needing a spreadsheet.

        Raises:
            AuthError: Google refused the grant (``invalid_grant: Invalid JWT Signature.`` …).
        """
        url = httpx.URL(self.auth.token_url)
        origin = str(url.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        async with ApiClient(origin, vendor="Google", credential="service-account key", retry=self.api.retry,
                             **self._options) as tokens:
            try:
                await tokens.request("POST", url.path, data=self.auth.form(), idempotent=True)
            except ApiError as exc:
                if exc.status not in (400, 401):
                    raise
                raise AuthError(vendor="Google", status=exc.status, method="POST", path=exc.path,
                                credential="service-account key", message=exc.message, hint=self.auth.hint) from None

    async def get_spreadsheet(self, spreadsheet: str) -> Row:
        """A spreadsheet's id, title and sheets (``GET /v4/spreadsheets/{id}``, a ``fields`` mask)."""
        return await self.api.get_json(SPREADSHEET.path_for(spreadsheet_id=spreadsheet_id(spreadsheet)),
                                       {"fields": "spreadsheetId,properties.title,sheets.properties"}) or {}

    async def get_values(self, spreadsheet: str, range_: str) -> list[list[Any]]:
        """The formatted values of a range (``GET …/values/{range}``), rows of cells; empty trailing ones left out."""
        path = VALUES.path_for(spreadsheet_id=spreadsheet_id(spreadsheet), range=check_range(range_))
        body = await self.api.get_json(path) or {}
        return list(body.get("values") or [])

    async def append_values(self, spreadsheet: str, range_: str, rows: Sequence[Sequence[Cell]], *,
                            value_input_option: str = "RAW", insert_data_option: str = "INSERT_ROWS",
                            include_values_in_response: bool = False) -> Row:
        """Append rows after the table found in ``range_`` (``POST …/values/{range}:append``).

        Args:
            spreadsheet: The spreadsheet id (or its URL).
            range_: Where to look for the table (``Sheet1``, ``Clients!A:F``); rows go after its last row,
                from its first column.
            rows: The rows, each a list of cells.
            value_input_option: RAW (stored as given; the default, so a payload's ``=…`` never becomes a formula)
                or USER_ENTERED (parsed as if typed: numbers, dates, formulas).
            insert_data_option: INSERT_ROWS (new rows pushed in; default) or OVERWRITE (written over what is
                below the table).

        Returns:
            Google's ``AppendValuesResponse``: ``spreadsheetId``, ``tableRange``, ``updates {updatedRange,
            updatedRows, updatedColumns, updatedCells}``.

        Not idempotent: never re-sent after a lost answer (:class:`OutcomeUnknown`).
        """
        if value_input_option not in VALUE_INPUT_OPTIONS:
            raise ValueError(f"value_input_option must be RAW or USER_ENTERED; got {value_input_option!r}")
        if insert_data_option not in INSERT_DATA_OPTIONS:
            raise ValueError(f"insert_data_option must be INSERT_ROWS or OVERWRITE; got {insert_data_option!r}")
        if not rows:
            raise ValueError("rows is empty: give at least one row")
        values = [check_cells(row, f"rows[{i}]") for i, row in enumerate(rows)]
        where = check_range(range_)
        params: Row = {"valueInputOption": value_input_option, "insertDataOption": insert_data_option}
        if include_values_in_response:
            params["includeValuesInResponse"] = "true"
        path = APPEND.path_for(spreadsheet_id=spreadsheet_id(spreadsheet), range=where)
        return await self.api.post_json(path, {"range": where, "majorDimension": "ROWS", "values": values},
                                        params) or {}
