"""Format step helpers: text, number and date transforms (a table of cases, time zones and DST included)."""

from __future__ import annotations

import pytest
from dateutil.relativedelta import relativedelta

from passerelle.zaps.formatter import FormatError, apply, parse_duration

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(("kind", "transform", "value", "options", "expected"), [
    ("text", "upper", "Marie Côté", {}, "MARIE CÔTÉ"),
    ("text", "lower", "Marie Côté", {}, "marie côté"),
    ("text", "title", "jean-marc o'neil", {}, "Jean-Marc O'Neil"),
    ("text", "trim", "  a   b \n", {}, "a   b"),
    ("text", "trim", "  a   b \n", {"collapse_spaces": True}, "a b"),
    ("text", "split", "a,b,c", {"separator": ","}, ["a", "b", "c"]),
    ("text", "split", "a,b,c", {"separator": ",", "index": "last"}, "c"),
    ("text", "split", "a,b,c", {"separator": ",", "index": 1}, "b"),
    ("text", "split", "a,b,c", {"separator": ",", "index": 7}, ""),
    ("text", "replace", "a-b-c", {"find": "-", "replace": "/"}, "a/b/c"),
    ("text", "truncate", "abcdef", {"max_length": 4}, "abcd"),
    ("text", "truncate", "abcdef", {"max_length": 4, "ellipsis": True}, "abc…"),
    ("text", "truncate", "abc", {"max_length": 4}, "abc"),
    ("text", "default", "  ", {"value": "n/a"}, "n/a"),
    ("text", "default", None, {"value": "n/a"}, "n/a"),
    ("text", "default", "x", {"value": "n/a"}, "x"),
    ("text", "extract_email", "Contact: Jean <jean.tremblay@example.ca>.", {}, "jean.tremblay@example.ca"),
    ("text", "extract_email", "no mail here", {}, None),
    ("text", "extract_number", "Total: 1 234,50 $", {}, 1234.5),
    ("text", "extract_number", "order #42 shipped", {}, 42.0),
    ("text", "url_encode", "a b/c&d=é", {}, "a%20b%2Fc%26d%3D%C3%A9"),
    ("text", "url_encode", "a b/c", {"encode_slashes": False}, "a%20b/c"),
    ("text", "url_decode", "a%20b%2Fc", {}, "a b/c"),
    ("number", "parse", "1 234,56", {}, 1234.56),
    ("number", "parse", "$1,234.56", {}, 1234.56),
    ("number", "parse", "1.234,56 €", {}, 1234.56),
    ("number", "parse", "1,234", {}, 1234),
    ("number", "parse", "12,5", {}, 12.5),
    ("number", "parse", "1.234.567", {}, 1234567),
    ("number", "parse", "(12.50)", {}, -12.5),
    ("number", "parse", "1,234", {"decimal": ","}, 1.234),
    ("number", "round", "2.675", {"decimals": 2}, 2.68),
    ("number", "round", 2.5, {}, 3),
    ("number", "format", 1234567.891, {}, "1,234,567.89"),
    ("number", "format", 1234567.891, {"locale": "fr-CA"}, f"1{NBSP}234{NBSP}567,89"),
    ("number", "format", 1234567.891, {"locale": "fr-FR", "decimals": 0}, f"1{NNBSP}234{NNBSP}568"),
    ("number", "format", -1234.5, {"locale": "de-DE", "decimals": 1}, "-1.234,5"),
    ("number", "format", 1234.5, {"thousands": "'", "decimal": "."}, "1'234.50"),
    ("number", "currency", 1234.5, {"currency": "usd"}, "$1,234.50"),
    ("number", "currency", -1234.5, {"currency": "CAD", "locale": "fr-CA"}, f"-1{NBSP}234,50{NBSP}$"),
    ("number", "currency", "99.9", {"currency": "EUR", "locale": "fr-FR"}, f"99,90{NBSP}€"),
    ("number", "currency", 1500, {"currency": "JPY"}, "¥1,500"),
    ("date", "parse", "2026-03-05 14:30", {"timezone": "America/Montreal"}, "2026-03-05T14:30:00-05:00"),
    ("date", "parse", "2026-07-05 14:30", {"timezone": "America/Montreal"}, "2026-07-05T14:30:00-04:00"),
    ("date", "parse", "03/04/2026", {}, "2026-03-04T00:00:00+00:00"),
    ("date", "parse", "03/04/2026", {"dayfirst": True}, "2026-04-03T00:00:00+00:00"),
    ("date", "parse", "Fri, 27 Nov 2026 09:15:00 +0100", {}, "2026-11-27T09:15:00+01:00"),
    ("date", "parse", "1764000000", {}, "2025-11-24T16:00:00+00:00"),
    ("date", "parse", 1764000000000, {}, "2025-11-24T16:00:00+00:00"),
    ("date", "parse", "27/11/2026", {"from_format": "%d/%m/%Y", "timezone": "Europe/Paris"},
     "2026-11-27T00:00:00+01:00"),
    ("date", "format", "2026-11-27T18:00:00Z", {"to_format": "%d/%m/%Y %H:%M", "to_timezone": "Europe/Paris"},
     "27/11/2026 19:00"),
    ("date", "add", "2025-12-01T10:00:00Z", {"duration": "364 days"}, "2026-11-30T10:00:00+00:00"),
    ("date", "add", "2026-01-31", {"duration": "1 month"}, "2026-02-28T00:00:00+00:00"),
    ("date", "subtract", "2026-03-01T00:30:00Z", {"duration": "PT45M"}, "2026-02-28T23:45:00+00:00"),
    # 2026-03-08 02:00 EST: clocks jump to 03:00; 24 calendar hours later is the same wall-clock time
    ("date", "add", "2026-03-07T12:00:00", {"duration": "1 day", "timezone": "America/Montreal"},
     "2026-03-08T12:00:00-04:00"),
    ("date", "to_timezone", "2026-07-01T12:00:00Z", {"to_timezone": "America/Montreal"},
     "2026-07-01T08:00:00-04:00"),
    ("date", "to_timezone", "2026-12-01T12:00:00Z", {"to_timezone": "America/Montreal"},
     "2026-12-01T07:00:00-05:00"),
])
def test_transforms(kind: str, transform: str, value, options: dict, expected) -> None:
    assert apply(kind, transform, value, options) == expected


@pytest.mark.parametrize(("kind", "transform", "value", "options", "field", "message"), [
    ("number", "parse", "abc", {}, "input", "cannot read 'abc' as a number"),
    ("number", "format", 1, {"locale": "xx"}, "options.locale", "unknown locale 'xx'; one of en-US, en-CA, en-GB, "
     "fr-CA, fr-FR, de-DE"),
    ("number", "round", 1, {"decimals": "2"}, "options.decimals", "decimals must be a whole number from 0 to 12, "
     "not '2'"),
    ("number", "currency", 1, {"currency": "dollars"}, "options.currency", "currency must be an ISO 4217 code such "
     "as CAD, not 'DOLLARS'"),
    ("date", "parse", "soon", {}, "input", "cannot read 'soon' as a date"),
    ("date", "parse", "2026-01-01", {"timezone": "Mars/Olympus"}, "options.timezone", "unknown time zone "
     "'Mars/Olympus'; use an IANA name such as 'America/Montreal'"),
    ("date", "add", "2026-01-01", {"duration": "a while"}, "options.duration", "'a while' is not a duration; write "
     "e.g. '364 days', '2h30m', '1 month' or 'P364D'"),
    ("date", "format", "2026-01-01", {}, "options.to_format", "field required (a strftime pattern such as "
     "'%Y-%m-%d %H:%M')"),
    ("text", "split", "a", {}, "options.separator", "field required (the split transform needs it)"),
    ("text", "shout", "a", {}, "transform", "unknown text transform 'shout'; one of upper, lower, title, capitalize, "
     "trim, split, replace, truncate, default, extract_email, extract_number, url_encode, url_decode"),
])
def test_errors_name_the_option(kind, transform, value, options, field, message) -> None:
    with pytest.raises(FormatError) as info:
        apply(kind, transform, value, options)
    assert (info.value.field, str(info.value)) == (field, message)


@pytest.mark.parametrize(("text", "expected"), [
    ("364 days", {"days": 364}), ("2h30m", {"hours": 2, "minutes": 30}), ("P364D", {"days": 364}),
    ("PT15M", {"minutes": 15}), ("1 year, 2 months", {"years": 1, "months": 2}), ("90 s", {"seconds": 90}),
    ("3 weeks", {"days": 21}),
])
def test_durations(text: str, expected: dict) -> None:
    assert parse_duration(text) == relativedelta(**expected)
