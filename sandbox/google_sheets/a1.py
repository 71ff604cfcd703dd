"""A1 notation: sheet names (quoted when needed), column letters, ranges (``Sheet1``, ``'My sheet'!A1``,
``Clients!A:F``, ``A2:C``, ``1:3``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELLS = re.compile(r"([A-Za-z]{0,3})([0-9]*)(?::([A-Za-z]{0,3})([0-9]*))?")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOKS_LIKE_CELL = re.compile(r"[A-Za-z]{1,3}[0-9]+|R[0-9]*C[0-9]*", re.IGNORECASE)


class RangeError(ValueError):
    """A range Google would answer "Unable to parse range: …"."""


def col_index(letters: str) -> int:
    """``A`` → 0, ``Z`` → 25, ``AA`` → 26."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def col_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def quote_title(title: str) -> str:
    """A sheet name as Google writes it in a range: bare when it is a plain word, else in single quotes."""
    if _PLAIN.fullmatch(title) and not _LOOKS_LIKE_CELL.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class Area:
    """A parsed range: the sheet's name (None: the first sheet), 0-based first column and row, and the last ones
    (None: unbounded)."""

    title: str | None
    col0: int = 0
    row0: int = 0
    col1: int | None = None
    row1: int | None = None
    single: bool = False  # one cell (A1): read as one cell, searched from there on for an append


def _cells(text: str) -> tuple[int, int, int | None, int | None, bool] | None:
    match = _CELLS.fullmatch(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    c0, r0, c1, r1 = match.groups()
    if match.group(0).count(":") and not (c1 or r1):
        return None
    start_col = col_index(c0) if c0 else 0
    start_row = int(r0) - 1 if r0 else 0
    if r0 == "0" or r1 == "0":
        return None
    if c1 is None and r1 is None:
        if not (c0 and r0):
            return None
        return start_col, start_row, None, None, True
    end_col = col_index(c1) if c1 else None
    end_row = int(r1) - 1 if r1 else None
    if (end_col is not None and end_col < start_col) or (end_row is not None and end_row < start_row):
        return None
    return start_col, start_row, end_col, end_row, False


def parse_range(text: str, titles: list[str]) -> Area:
    """The area ``text`` names among the sheets ``titles`` (the first one when it names none).

    Raises:
        RangeError: an unknown sheet, or cells that are not A1 notation.
    """
    source = text.strip()
    if "!" in source:
        name, _, cells = source.rpartition("!")
        if name.startswith("'") and name.endswith("'") and len(name) >= 2:
            name = name[1:-1].replace("''", "'")
        title = next((t for t in titles if t.lower() == name.lower()), None)
        parsed = _cells(cells)
        if title is None or parsed is None:
            raise RangeError(f"Unable to parse range: {text}")
        return Area(title, *parsed)
    bare = source[1:-1].replace("''", "'") if source.startswith("'") and source.endswith("'") else source
    title = next((t for t in titles if t.lower() == bare.lower()), None)
    if title is not None:
        return Area(title)
    parsed = _cells(source)
    if parsed is None:
        raise RangeError(f"Unable to parse range: {text}")
    return Area(None, *parsed)


def a1(title: str, col0: int, row0: int, col1: int, row1: int) -> str:
    """``Sheet1!A4:C4``, or ``Sheet1!A4`` for one cell."""
    start = f"{col_letters(col0)}{row0 + 1}"
    end = f"{col_letters(col1)}{row1 + 1}"
    return f"{quote_title(title)}!{start}" + ("" if start == end else f":{end}")
