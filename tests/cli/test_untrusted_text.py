"""Webhook text never drives the operator's terminal: ids, payloads and errors from outside are printed as
text (no Rich markup, no clickable links), with control characters made visible (no escape sequence)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from passerelle.cli import inbox as inbox_cli
from passerelle.cli.main import app
from passerelle.cli.render import print_summary
from passerelle.cli.safe_text import untrusted, visible
from passerelle.store.inbox import Delivery, claim_batch, mark_failed, store_deliveries

HOSTILE = ["[/bogus]", "[link=http://x]y[/link]", "\x1b]0;pwned\x07", "\x1b[2J", "[bold red]loud", "\x9b31m"]
SHOWN = ["[/bogus]", "[link=http://x]y[/link]", "\\x1b]0;pwned\\x07", "\\x1b[2J", "[bold red]loud", "\\x9b31m"]
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the only escape sequences the command itself may write: colours


@pytest.fixture
def hostile_inbox() -> list[int]:
    deliveries = [Delivery("amilia", "default", f"evt-{i}", f"Person.{text}", f"person:{text}",
                           {"Context": "Person", "Payload": {"Id": text, "Note": f"a {text} b"}})
                  for i, text in enumerate(HOSTILE)]
    assert all(store_deliveries(deliveries))
    claimed = claim_batch("amilia", "default", "test", limit=100)
    for event, text in zip(sorted(claimed, key=lambda e: e.id), HOSTILE, strict=True):
        mark_failed(event.id, f"Cyberimpact said: {text}", max_attempts=1)
    return sorted(e.id for e in claimed)


def assert_shown_as_text(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output, repr(output)
    for text in SHOWN:
        assert text in output, f"{text!r} not shown in {output!r}"


def test_inbox_list_prints_hostile_ids_and_errors_as_text(runner, hostile_inbox):
    result = runner.invoke(app, ["inbox", "list", "--limit", "20"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert_shown_as_text(result.output)
    assert result.output.count("Cyberimpact said:") == len(HOSTILE)


def test_inbox_show_prints_the_payload_as_text(runner, hostile_inbox):
    for event_id, text in zip(hostile_inbox, SHOWN, strict=True):
        result = runner.invoke(app, ["inbox", "show", str(event_id)], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
        assert result.output.count(text) >= 3, result.output  # entity, last error, payload (JSON-escaped there)
    missing = runner.invoke(app, ["inbox", "show", "999999"])
    assert missing.exit_code == 1 and "no inbox event 999999" in missing.output


def test_on_a_real_terminal_only_colours_are_written(runner, hostile_inbox, monkeypatch):
    """On a terminal Rich writes its own colour codes; the data adds no sequence (no OSC link, title, clear)."""
    monkeypatch.setattr(inbox_cli, "console", Console(force_terminal=True, color_system="standard", width=400))
    result = runner.invoke(app, ["inbox", "list", "--limit", "20"])
    assert result.exit_code == 0, result.output
    without_colours = SGR.sub("", result.output)
    assert_shown_as_text(without_colours)
    replay = runner.invoke(app, ["inbox", "replay", "--ids", ",".join(map(str, hostile_inbox))])
    assert replay.exit_code == 0 and f"{len(HOSTILE)} dead events back to pending" in replay.output


def test_sync_summary_prints_vendor_text_as_text():
    out = io.StringIO()
    summary = {"link": "[/bogus]", "window": {"from": "2026-01-01", "to": "\x1b[2J"},
               "counts": {"created": 1}, "skipped": {"without e-mail: [link=http://x]y[/link]": 2},
               "notes": ["\x1b]0;pwned\x07 note"], "failures": [{"email": "[bold red]loud", "message": "\x9b31m"}]}
    print_summary(Console(file=out, width=400), summary)
    assert_shown_as_text(out.getvalue())


def test_untrusted_makes_every_control_character_visible():
    assert visible("a\x00b\tc\nd\x7fe\x85f\u202eg") == "a\\x00b\\x09c\\x0ad\\x7fe\\x85f\\u202eg"
    assert visible("line 1\nline 2\x1b", keep_newlines=True) == "line 1\nline 2\\x1b"
    assert visible(None) == "" and visible(501) == "501"
    text = untrusted("[red]x[/red]", style="bold")
    assert text.plain == "[red]x[/red]" and str(text.style) == "bold"
