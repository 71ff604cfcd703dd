"""Google Sheets emulator, part 3: spreadsheets in memory and ``values.append`` / ``values.get``.

``values.append`` (API-NOTES §9, the discovery document): ``valueInputOption`` is required (RAW stores values
as given; USER_ENTERED parses them as typed: numbers, TRUE/FALSE, a leading ``'`` keeps text); the range is
searched for a table: the first row holding data in the range's columns and the rows right below it; the
values go to the next row, from the table's first column (the range's start when there is no table).
``INSERT_ROWS`` pushes the rows below down, ``OVERWRITE`` (the default) writes over them. Null cells are skipped.
The answer: ``{spreadsheetId, tableRange?, updates: {spreadsheetId, updatedRange, updatedRows,
updatedColumns, updatedCells, updatedData?}}``.

`reset`, `load` and `dump` take `lock` themselves; the routes hold `lock` around every other call.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sandbox.budget import RequestBudget
from sandbox.google_sheets.a1 import Area, RangeError, a1, parse_range, quote_title
from sandbox.google_sheets.accounts import Tokens, default_account
from sandbox.google_sheets.document import GoogleError, invalid_argument, parse_document

VALUE_INPUT = ("RAW", "USER_ENTERED")
INSERT_DATA = ("OVERWRITE", "INSERT_ROWS")
RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def entered(value: Any) -> Any:
    """A value as Sheets reads it when typed (USER_ENTERED)."""
    if not isinstance(value, str):
        return value
    if value.startswith("'"):
        return value[1:]
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    text = value.strip()
    if _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() and "e" not in text.lower() and "." not in text else number
    return value


def formatted(value: Any) -> Any:
    """A cell as FORMATTED_VALUE shows it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _has_data(row: list[Any], col0: int, col1: int | None) -> bool:
    return any(cell not in ("", None) for cell in row[col0:None if col1 is None else col1 + 1])


class SheetsState:
    """The sandbox's Google: service accounts, issued tokens and spreadsheets."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.budget = RequestBudget()
        self.tokens = Tokens()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.load({})
            self.budget.set(None)

    def load(self, document: dict[str, Any]) -> None:
        fresh = parse_document(document, default_account())
        with self.lock:
            self.accounts: dict[str, dict[str, Any]] = fresh["accounts"]
            self.spreadsheets: dict[str, dict[str, Any]] = fresh["spreadsheets"]
            self.token_lifetime: int = fresh["token_lifetime"]
            self.tokens.expire()

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"service_accounts": [dict(a) for a in self.accounts.values()],
                    "spreadsheets": [{"spreadsheetId": s["spreadsheetId"], "title": s["title"],
                                      "editors": list(s["editors"]), "viewers": list(s["viewers"]),
                                      "sheets": [{"title": t["title"], "sheetId": t["sheetId"],
                                                  "rows": [list(r) for r in t["rows"]]} for t in s["sheets"]]}
                                     for s in self.spreadsheets.values()],
                    "token_lifetime_seconds": self.token_lifetime}

    # --- access ------------------------------------------------------------------------------------------
    def spreadsheet(self, spreadsheet_id: str, caller: str, write: bool) -> dict[str, Any]:
        found = self.spreadsheets.get(spreadsheet_id)
        if found is None:
            raise GoogleError(404, "NOT_FOUND", "Requested entity was not found.")
        allowed = found["editors"] if write else found["editors"] + found["viewers"]
        if caller not in allowed:
            raise GoogleError(403, "PERMISSION_DENIED", "The caller does not have permission")
        return found

    @staticmethod
    def area(spreadsheet: dict[str, Any], text: str) -> tuple[dict[str, Any], Area]:
        titles = [s["title"] for s in spreadsheet["sheets"]]
        try:
            area = parse_range(text, titles)
        except RangeError as exc:
            raise invalid_argument(str(exc)) from None
        sheet = next(s for s in spreadsheet["sheets"] if area.title in (None, s["title"]))
        return sheet, area

    # --- values ------------------------------------------------------------------------------------------
    def get_values(self, spreadsheet: dict[str, Any], text: str, render: str) -> dict[str, Any]:
        sheet, area = self.area(spreadsheet, text)
        rows = sheet["rows"][area.row0: None if area.row1 is None else area.row1 + 1]
        cut = [r[area.col0: None if area.col1 is None else area.col1 + 1] for r in rows]
        if area.single:
            cut = [r[:1] for r in cut[:1]]
        while cut and not any(c != "" for c in cut[-1]):
            cut.pop()
        show = formatted if render == "FORMATTED_VALUE" else (lambda v: v)
        values = [[show(c) for c in self._trim(r)] for r in cut]
        answer: dict[str, Any] = {"range": self._echo(sheet, text), "majorDimension": "ROWS"}
        if values:
            answer["values"] = values
        return answer

    @staticmethod
    def _trim(row: list[Any]) -> list[Any]:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        return row[:end]

    @staticmethod
    def _echo(sheet: dict[str, Any], text: str) -> str:
        cells = text.rpartition("!")[2] if "!" in text else ("" if text.strip("'").lower() == sheet["title"].lower()
                                                              else text)
        return f"{quote_title(sheet['title'])}!{cells.upper()}" if cells else quote_title(sheet["title"])

    def append(self, spreadsheet: dict[str, Any], text: str, params: dict[str, str], body: Any) -> dict[str, Any]:
        option = params.get("valueInputOption")
        if not option or option == "INPUT_VALUE_OPTION_UNSPECIFIED":
            raise invalid_argument("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        if option not in VALUE_INPUT:
            raise invalid_argument(f"Invalid value at 'value_input_option' (type.googleapis.com/"
                                   f"google.apps.sheets.v4.ValueInputOption), \"{option}\"")
        insert = params.get("insertDataOption", "OVERWRITE")
        if insert not in INSERT_DATA:
            raise invalid_argument(f"Invalid value at 'insert_data_option' (type.googleapis.com/"
                                   f"google.apps.sheets.v4.InsertDataOption), \"{insert}\"")
        rows = self._rows(body, text)
        sheet, area = self.area(spreadsheet, text)
        grid = sheet["rows"]
        found = self._table(grid, area)
        if found is None:
            start_row, start_col, table = area.row0, area.col0, None
        else:
            first, last, col0, col1 = found
            start_row, start_col = last + 1, col0
            table = a1(sheet["title"], col0, first, col1, last)
        values = [[entered(c) if option == "USER_ENTERED" else c for c in row] for row in rows]
        if insert == "INSERT_ROWS":
            grid[start_row:start_row] = [[] for _ in values]
        while len(grid) < start_row + len(values):
            grid.append([])
        cells = 0
        for offset, row in enumerate(values):
            target = grid[start_row + offset]
            for i, cell in enumerate(row):
                if cell is None:
                    continue
                while len(target) <= start_col + i:
                    target.append("")
                target[start_col + i] = cell
                cells += 1
        width = max(len(r) for r in values)
        updates: dict[str, Any] = {
            "spreadsheetId": spreadsheet["spreadsheetId"],
            "updatedRange": a1(sheet["title"], start_col, start_row, start_col + width - 1,
                               start_row + len(values) - 1),
            "updatedRows": sum(1 for r in values if any(c is not None for c in r)),
            "updatedColumns": sum(1 for i in range(width) if any(len(r) > i and r[i] is not None for r in values)),
            "updatedCells": cells}
        if params.get("includeValuesInResponse", "").lower() == "true":
            updates["updatedData"] = {"range": updates["updatedRange"], "majorDimension": "ROWS",
                                      "values": [[formatted(c) for c in self._trim(
                                          grid[start_row + n][start_col:start_col + width])]
                                                 for n in range(len(values))]}
        answer: dict[str, Any] = {"spreadsheetId": spreadsheet["spreadsheetId"]}
        if table is not None:
            answer["tableRange"] = table
        answer["updates"] = updates
        return answer

    @staticmethod
    def _rows(body: Any, text: str) -> list[list[Any]]:
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected a ValueRange object.")
        given = body.get("range")
        if given is not None and given != text:
            raise invalid_argument(f"Requested writing within range [{text}], but tried writing to [{given}]")
        rows = body.get("values")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise invalid_argument("Invalid JSON payload received. 'values' must be a list of rows (lists of cells).")
        for r in rows:
            for c in r:
                if c is not None and not isinstance(c, str | int | float | bool):
                    raise invalid_argument(f"Invalid values[{rows.index(r)}]: {type(c).__name__} is not a cell value")
        if body.get("majorDimension", "ROWS") == "COLUMNS":
            width = max(len(r) for r in rows)
            rows = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
        elif body.get("majorDimension", "ROWS") != "ROWS":
            raise invalid_argument(f"Invalid majorDimension: {body.get('majorDimension')}")
        return rows

    @staticmethod
    def _table(grid: list[list[Any]], area: Area) -> tuple[int, int, int, int] | None:
        """(first row, last row, first column, last column) of the table in the area, or None."""
        end = len(grid) if area.row1 is None else min(len(grid), area.row1 + 1)
        first = next((r for r in range(area.row0, end) if _has_data(grid[r], area.col0, area.col1)), None)
        if first is None:
            return None
        last = first
        while last + 1 < len(grid) and _has_data(grid[last + 1], area.col0, area.col1):
            last += 1
        used = [i for r in grid[first:last + 1] for i, c in enumerate(r)
                if c not in ("", None) and i >= area.col0 and (area.col1 is None or i <= area.col1)]
        return first, last, min(used), max(used)

    def render_spreadsheet(self, spreadsheet: dict[str, Any], root: str) -> dict[str, Any]:
        return {"spreadsheetId": spreadsheet["spreadsheetId"],
                "properties": {"title": spreadsheet["title"], "locale": "en_US", "timeZone": "Etc/GMT"},
                "sheets": [{"properties": {"sheetId": s["sheetId"], "title": s["title"], "index": i,
                                           "sheetType": "GRID",
                                           "gridProperties": {"rowCount": max(1000, len(s["rows"])),
                                                              "columnCount": max(26, *(len(r) for r in s["rows"]), 0)}}}
                           for i, s in enumerate(spreadsheet["sheets"])],
                "spreadsheetUrl": f"{root}/spreadsheets/d/{spreadsheet['spreadsheetId']}/edit"}
