"""Helpers of the CLI error tests: what a person reads, and the checks every case shares."""

from __future__ import annotations

import re

from typer.testing import Result

_PANEL = re.compile(r"^[╭╰│]")


def error_lines(result: Result) -> list[str]:
    """The lines a person reads: the whole output for the handler's one-liners; for a usage error, the
    message inside typer's Error panel (its `Usage:` and `Try …` lines and the box are typer's frame)."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    if any(line.startswith("╭─ Error") for line in lines):
        return [" ".join(line.strip("│ ") for line in lines if line.startswith("│"))]  # the box wraps at 80
    return lines


def assert_short(result: Result, *needles: str, exit_code: int = 1) -> str:
    """Exit code, at most two lines, no traceback, and every needle in the text; returns the text."""
    lines = error_lines(result)
    text = " ".join(lines)
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert 1 <= len(lines) <= 2, result.output
    assert "Traceback" not in result.output and not any(_PANEL.match(line) for line in lines), result.output
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    return text
