"""Google Sheets zap action: `google_sheets.append_row` (docs/connector-google-sheets.md).

The zap registry's app names take letters, digits and `_`, so the action is `google_sheets.append_row`; the
connection it needs is the `google-sheets` app's (a Google Sheets Credentials block).

Not idempotent: a re-sent append writes the row twice (API-NOTES §9). The runner sends it once; an answer lost
after sending leaves the step "unknown", never re-sent by itself. Inputs are checked by the model first.

Example (a zap step):
    - {id: log, type: action, action: google_sheets.append_row, connection: reporting,
       inputs: {spreadsheet_id: 1AbC…, range: "Clients!A:F",
                values: ["{{ trigger.json.email }}", "{{ zap.received_at }}"]}}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors._http import ValidationError
from connectors.google_sheets.client import Cell, check_cells, check_range, spreadsheet_id
from passerelle.zaps.registry import action


class AppendRowInput(BaseModel):
    """The inputs of `google_sheets.append_row`."""

    model_config = ConfigDict(extra="forbid")

    spreadsheet_id: str = Field(description="the spreadsheet's id (or its URL: "
                                "docs.google.com/spreadsheets/d/<id>/edit)")
    range: str = Field("Sheet1", description="where the table is, A1 notation: Sheet1, Clients!A:F, 'My sheet'!A1; "
                       "the row goes after the table's last row, from its first column")
    values: list[Cell] = Field(description="the row's cells: text, numbers, true/false, or null to skip a cell")
    value_input_option: Literal["RAW", "USER_ENTERED"] = Field(
        "RAW", description="RAW stores values as given (a payload's '=…' stays text); USER_ENTERED parses them as "
        "if typed (numbers, dates, formulas)")
    insert_data_option: Literal["INSERT_ROWS", "OVERWRITE"] = Field(
        "INSERT_ROWS", description="INSERT_ROWS pushes a new row in; OVERWRITE writes over what is below the table")

    @field_validator("spreadsheet_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return spreadsheet_id(value)

    @field_validator("range")
    @classmethod
    def _range(cls, value: str) -> str:
        return check_range(value)

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: Any) -> Any:
        return check_cells(value)


class AppendRowOutput(BaseModel):
    """Where the row went (Google's AppendValuesResponse)."""

    spreadsheet_id: str
    table_range: str | None = Field(None, description="the table found before the append, e.g. Clients!A1:F7")
    updated_range: str = Field(description="the cells written, e.g. Clients!A8:F8")
    updated_rows: int = 0
    updated_columns: int = 0
    updated_cells: int = 0


@action("google_sheets", "append_row", title="Append a row to a spreadsheet", idempotent=False,
        connection="google-sheets")
async def append_row(inputs: AppendRowInput, connection: Any = None) -> AppendRowOutput:
    """Append one row to a Google Sheets spreadsheet, after the table found in the range.

    Not idempotent: sent once; a lost answer is an unknown outcome, never re-sent by itself (it would write the
    row twice).
    """
    if connection is None:
        raise ValidationError(vendor="Google Sheets", message="google_sheets.append_row needs a google-sheets "
                              "connection (a Google Sheets Credentials block)")
    async with connection.client() as sheets:
        try:
            done = await sheets.append_values(inputs.spreadsheet_id, inputs.range, [inputs.values],
                                              value_input_option=inputs.value_input_option,
                                              insert_data_option=inputs.insert_data_option)
        except ValueError as exc:  # refused before sending: nothing reached Google
            raise ValidationError(vendor="Google Sheets", message=str(exc)) from None
    updates = done.get("updates") or {}
    return AppendRowOutput(spreadsheet_id=done.get("spreadsheetId") or inputs.spreadsheet_id,
                           table_range=done.get("tableRange"), updated_range=str(updates.get("updatedRange") or ""),
                           updated_rows=int(updates.get("updatedRows") or 0),
                           updated_columns=int(updates.get("updatedColumns") or 0),
                           updated_cells=int(updates.get("updatedCells") or 0))
