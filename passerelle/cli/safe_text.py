"""Text that came from outside (webhook payloads and ids, vendor answers, stored errors), printed as text.

Rich reads a `str` as markup: a payload id of `[/bogus]` makes it raise `MarkupError`, `[link=…]` becomes a
clickable link, and Rich passes ESC through, so `\\x1b]0;…\\x07` retitles the terminal and `\\x1b[2J` clears
it. `untrusted(s)` is a `rich.text.Text` (never parsed as markup) in which every C0 and C1 control
character, DEL and the bidirectional overrides are replaced by a visible escape (`\\x1b`, `\\u202e`).

Example:
    table.add_row(untrusted(event.entity_key), untrusted(event.last_error))
    console.print(untrusted(text, style="red"))
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# C0 (newline and tab included: a newline in a cell could fake a row), DEL, C1, the Unicode line and
# paragraph separators, and the bidirectional embeddings, overrides and isolates ("Trojan source").
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NEWLINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(value: Any, keep_newlines: bool = False) -> str:
    """`value` as a string with its control characters replaced by visible escapes (no markup handling)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return (_UNSAFE_KEEP_NEWLINES if keep_newlines else _UNSAFE).sub(_visible, text)


def untrusted(value: Any, style: str = "", keep_newlines: bool = False) -> Text:
    """Outside text for Rich: a `Text` (no markup), control characters made visible. `keep_newlines` for
    multi-line text the command laid out itself (e.g. indented JSON); None prints as nothing."""
    return Text(visible(value, keep_newlines), style=style)
