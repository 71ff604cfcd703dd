"""The `format` step's helpers: the text, number and date transforms Zapier's Formatter users reach for.

`apply(kind, transform, value, options)` returns the transformed value; `FormatError` names the option at fault.
Numbers follow a locale preset (`en-US`, `en-CA`, `fr-CA`, `fr-FR`, `de-DE`) or explicit `thousands` /
`decimal` marks; dates parse ISO 8601, RFC 2822, Unix timestamps and free text (python-dateutil), and a naive
date is read in the `timezone` option (default UTC).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta


class FormatError(ValueError):
    """A value or option a format transform cannot use; `field` names the option ("options.decimals")."""

    def __init__(self, message: str, field: str = "input") -> None:
        super().__init__(message)
        self.field = field


# (thousands separator, decimal mark, currency pattern) per locale preset; `{n}` number, `{s}` symbol
LOCALES = {
    "en-US": (",", ".", "{s}{n}"),
    "en-CA": (",", ".", "{s}{n}"),
    "en-GB": (",", ".", "{s}{n}"),
    "fr-CA": ("\u00a0", ",", "{n}\u00a0{s}"),
    "fr-FR": ("\u202f", ",", "{n}\u00a0{s}"),
    "de-DE": (".", ",", "{n}\u00a0{s}"),
}
SYMBOLS = {"USD": "$", "CAD": "$", "EUR": "€", "GBP": "£", "CHF": "CHF", "JPY": "¥"}
TEXT = ("upper", "lower", "title", "capitalize", "trim", "split", "replace", "truncate", "default",
        "extract_email", "extract_number", "url_encode", "url_decode")
NUMBER = ("parse", "round", "format", "currency")
DATE = ("parse", "format", "add", "subtract", "to_timezone")
TRANSFORMS = {"text": TEXT, "number": NUMBER, "date": DATE}

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_NUMBER = re.compile(r"-?\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+(?:[.,]\d+)?(?!\d)|-?\d+(?:[.,]\d+)?")
_DURATION_PART = re.compile(r"(\d+)\s*(years?|y|months?|mo|weeks?|w|days?|d|hours?|h|minutes?|mins?|m|seconds?|"
                            r"secs?|s)(?![a-z])", re.IGNORECASE)
_ISO_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UNITS = {"y": "years", "mo": "months", "w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: Any) -> relativedelta:
    """`"364 days"`, `"2h30m"`, `"1 month"`, ISO 8601 `"P364D"` / `"PT15M"` → a relativedelta (months and
    years are calendar months and years)."""
    raw = str(text).strip()
    iso = _ISO_DURATION.match(raw.upper())
    if iso and raw.upper() not in {"P", "PT"}:
        y, mo, w, d, h, mi, s = (int(g or 0) for g in iso.groups())
        return relativedelta(years=y, months=mo, weeks=w, days=d, hours=h, minutes=mi, seconds=s)
    parts = _DURATION_PART.findall(raw)
    if not parts or _DURATION_PART.sub("", raw).strip(" ,and") != "":
        raise FormatError(f"{raw!r} is not a duration; write e.g. '364 days', '2h30m', '1 month' or 'P364D'")
    values: dict[str, int] = {}
    for amount, unit in parts:
        unit = unit.lower()
        key = "mo" if unit.startswith("mo") else "m" if unit.startswith("min") or unit == "m" else unit[0]
        values[_UNITS[key]] = values.get(_UNITS[key], 0) + int(amount)
    return relativedelta(**values)


def zone(name: Any, field: str = "options.timezone") -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise FormatError(f"unknown time zone {name!r}; use an IANA name such as 'America/Montreal'",
                          field) from None


def parse_date(value: Any, tz: str = "UTC", dayfirst: bool = False, from_format: str | None = None) -> dt.datetime:
    """A datetime with a time zone: ISO 8601, RFC 2822, free text, or a Unix timestamp (seconds or ms)."""
    default_zone = zone(tz)
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d{9,13}", value.strip())):
        seconds = float(value)
        parsed = dt.datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, dt.UTC)
    else:
        text = str(value).strip()
        try:
            parsed = (dt.datetime.strptime(text, from_format) if from_format
                      else date_parser.parse(text, dayfirst=dayfirst))
        except (ValueError, OverflowError):
            hint = f" with format {from_format!r}" if from_format else ""
            raise FormatError(f"cannot read {text!r} as a date{hint}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=default_zone)


def to_number(value: Any, decimal: str | None = None) -> Decimal:
    """'1 234,56', '$1,234.56', '1.234,56 €', 12 → Decimal. `decimal` forces the decimal mark (',' or '.')."""
    if isinstance(value, bool):
        raise FormatError(f"{value!r} is not a number")
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = re.sub(r"[\s\u00a0\u202f'$€£¥]|[A-Z]{3}", "", str(value))
    negative = text.startswith("-") or (text.startswith("(") and text.endswith(")"))
    text = text.strip("-()")
    if decimal is None:  # the last mark is the decimal one when followed by other than exactly 3 digits
        last = max(text.rfind(","), text.rfind("."))
        decimal = text[last] if last >= 0 and (len(text) - last - 1 != 3 or text.count(text[last]) == 1
                                               and text[last] == "." or "," in text and "." in text) else ""
    if decimal:
        thousands = "." if decimal == "," else ","
        text = text.replace(thousands, "").replace(decimal, ".")
    else:
        text = text.replace(",", "").replace(".", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FormatError(f"cannot read {value!r} as a number") from None
    return -number if negative else number


def _locale(options: dict[str, Any]) -> tuple[str, str, str]:
    name = options.get("locale", "en-US")
    if name not in LOCALES:
        raise FormatError(f"unknown locale {name!r}; one of {', '.join(LOCALES)}", "options.locale")
    thousands, decimal, pattern = LOCALES[name]
    return options.get("thousands", thousands), options.get("decimal", decimal), pattern


def format_number(number: Decimal, decimals: int, thousands: str, decimal: str) -> str:
    rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, frac = f"{abs(rounded):f}".partition(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    body = thousands.join([whole, *groups])
    return f"{sign}{body}{decimal}{frac}" if frac else f"{sign}{body}"


def _decimals(options: dict[str, Any], default: int) -> int:
    value = options.get("decimals", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 12:
        raise FormatError(f"decimals must be a whole number from 0 to 12, not {value!r}", "options.decimals")
    return value


def _require(options: dict[str, Any], name: str, transform: str) -> Any:
    if name not in options:
        raise FormatError(f"field required (the {transform} transform needs it)", f"options.{name}")
    return options[name]


def text(transform: str, value: Any, options: dict[str, Any]) -> Any:  # noqa: C901 - one branch per transform
    s = "" if value is None else str(value)
    if transform in ("upper", "lower", "title", "capitalize"):
        return getattr(s, transform)()
    if transform == "trim":
        return " ".join(s.split()) if options.get("collapse_spaces") else s.strip()
    if transform == "split":
        parts = s.split(str(_require(options, "separator", "split")))
        index = options.get("index", "all")
        if index == "all":
            return parts
        if index in ("first", "last"):
            return parts[0 if index == "first" else -1]
        if not isinstance(index, int):
            raise FormatError("index must be 'all', 'first', 'last' or a number", "options.index")
        return parts[index] if -len(parts) <= index < len(parts) else ""
    if transform == "replace":
        return s.replace(str(_require(options, "find", "replace")), str(options.get("replace", "")))
    if transform == "truncate":
        length = _require(options, "max_length", "truncate")
        if not isinstance(length, int) or length < 1:
            raise FormatError("max_length must be a positive whole number", "options.max_length")
        ellipsis = "…" if options.get("ellipsis", False) else ""
        return s if len(s) <= length else s[: max(length - len(ellipsis), 0)] + ellipsis
    if transform == "default":
        return _require(options, "value", "default") if value is None or s.strip() == "" else value
    if transform == "extract_email":
        found = _EMAIL.search(s)
        return found.group() if found else None
    if transform == "extract_number":
        found = _NUMBER.search(s)
        return float(to_number(found.group(), options.get("decimal"))) if found else None
    if transform == "url_encode":
        return urllib.parse.quote(s, safe="" if options.get("encode_slashes", True) else "/")
    return urllib.parse.unquote(s)


def number(transform: str, value: Any, options: dict[str, Any]) -> Any:
    if transform == "parse":
        parsed = to_number(value, options.get("decimal"))
        return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    parsed = to_number(value)
    if transform == "round":
        rounded = parsed.quantize(Decimal(1).scaleb(-_decimals(options, 0)), rounding=ROUND_HALF_UP)
        return int(rounded) if _decimals(options, 0) == 0 else float(rounded)
    thousands, decimal, pattern = _locale(options)
    if transform == "format":
        return format_number(parsed, _decimals(options, 2), thousands, decimal)
    code = str(_require(options, "currency", "currency")).upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise FormatError(f"currency must be an ISO 4217 code such as CAD, not {code!r}", "options.currency")
    amount = format_number(abs(parsed), _decimals(options, 0 if code == "JPY" else 2), thousands, decimal)
    symbol = options.get("symbol", SYMBOLS.get(code, code))
    return ("-" if parsed < 0 else "") + pattern.format(n=amount, s=symbol)


def date(transform: str, value: Any, options: dict[str, Any]) -> str:
    parsed = parse_date(value, options.get("timezone", "UTC"), bool(options.get("dayfirst", False)),
                        options.get("from_format"))
    if transform in ("add", "subtract"):
        try:
            delta = parse_duration(_require(options, "duration", transform))
        except FormatError as exc:
            raise FormatError(str(exc), "options.duration") from None
        parsed = parsed + delta if transform == "add" else parsed - delta
    if transform == "to_timezone" or "to_timezone" in options:
        parsed = parsed.astimezone(zone(options.get("to_timezone") or _require(options, "to_timezone", transform),
                                        "options.to_timezone"))
    to_format = options.get("to_format") if transform != "parse" else None
    if transform == "format" and not to_format:
        raise FormatError("field required (a strftime pattern such as '%Y-%m-%d %H:%M')", "options.to_format")
    return parsed.strftime(to_format) if to_format else parsed.isoformat()


def apply(kind: str, transform: str, value: Any, options: dict[str, Any] | None = None) -> Any:
    """Run one format transform; FormatError when the transform, the value or an option does not fit."""
    options = options or {}
    if kind not in TRANSFORMS:
        raise FormatError(f"unknown kind {kind!r}; one of {', '.join(TRANSFORMS)}", "kind")
    if transform not in TRANSFORMS[kind]:
        raise FormatError(f"unknown {kind} transform {transform!r}; one of {', '.join(TRANSFORMS[kind])}",
                          "transform")
    return {"text": text, "number": number, "date": date}[kind](transform, value, options)
