"""How vendors sign their webhook calls: a reusable HMAC scheme, Twilio's own, and each vendor's settings
(docs/webhooks-signed.md, "Signed sources").

`HmacSignature.template` says what is signed, with three placeholders and literal text around them:
`{body}` (the raw body bytes), `{timestamp}` (the timestamp header's value as sent) and `{query}` (the raw
query string). Slack signs `v0:{timestamp}:{body}`, Zendesk `{timestamp}{body}`, iAdvize `{body}` (and
`{query}` for a GET). Comparisons are constant-time (`hmac.compare_digest`) on the decoded digests. A
signature failure raises `Unauthorized` (401) with a one-line reason that never holds the secret.

Example (what a sender does; the receiver calls `verify`):
    SLACK.sign(b"8f742231b10e8888abcd99yyyzzz85a5", body, timestamp="1531420618")   # 'v0=a2114d…'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from passerelle.gateway.sources.base import Unauthorized
from passerelle.gateway.sources.calls import Call

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELDS = ("body", "timestamp", "query")


class Signature(Protocol):
    """A vendor's proof over a call, checked with the link's signing secret."""

    header: str

    def verify(self, call: Call, secret: bytes, now: float | None = None) -> None:
        """Return if `call` carries a valid signature made with `secret`, else raise `Unauthorized`."""


def _compile(template: str) -> tuple[tuple[str, bytes], ...]:
    """`"v0:{timestamp}:{body}"` → (("", b"v0:"), ("timestamp", b""), ("", b":"), ("body", b""))."""
    parts: list[tuple[str, bytes]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in _FIELDS:
            raise ValueError(f"unknown placeholder {{{match.group(1)}}} in the signed template {template!r}; "
                             f"use {', '.join('{' + f + '}' for f in _FIELDS)}")
        if match.start() > position:
            parts.append(("", template[position:match.start()].encode()))
        parts.append((match.group(1), b""))
        position = match.end()
    if position < len(template):
        parts.append(("", template[position:].encode()))
    return tuple(parts)


def parse_timestamp(value: str) -> float | None:
    """Seconds since the epoch of a timestamp header: Unix seconds (Slack) or ISO 8601 (Zendesk's
    `2021-03-25T05:09:27Z`; no offset means UTC). None when it is neither."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text) if len(text) <= 11 else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _header(call: Call, name: str) -> str:
    value = call.headers.get(name, "").strip()
    if not value:
        raise Unauthorized(f"missing {name} header: the vendor signs every call")
    return value


@dataclass(frozen=True)
class HmacSignature:
    """An HMAC of (part of) the call, in a header, optionally tied to a timestamp header (replays).

    Args:
        header: the header holding the signature, e.g. `X-Slack-Signature`.
        algorithm: a hashlib name (`sha256`, `sha1`, `sha512`).
        encoding: how the digest is written: `hex` or `base64`.
        prefix: text before the digest in the header, e.g. `v0=` or `sha256=`.
        template: what is signed (module docstring); `get_template` for a GET when it differs.
        timestamp_header: the header holding the signing time, when the vendor sends one.
        max_age_seconds: refuse calls signed longer ago (or further ahead) than this; needs `timestamp_header`.
    """

    header: str
    algorithm: str = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    template: str = "{body}"
    get_template: str | None = None
    timestamp_header: str | None = None
    max_age_seconds: float | None = None
    _parts: tuple = field(init=False, repr=False, compare=False)
    _get_parts: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm not in hashlib.algorithms_guaranteed:
            raise ValueError(f"unknown HMAC algorithm {self.algorithm!r}; use sha256, sha1 or sha512")
        if self.encoding not in ("hex", "base64"):
            raise ValueError(f"encoding must be 'hex' or 'base64', not {self.encoding!r}")
        parts = _compile(self.template)
        get_parts = _compile(self.get_template) if self.get_template is not None else parts
        uses_time = any(kind == "timestamp" for kind, _ in parts + get_parts)
        if (uses_time or self.max_age_seconds is not None) and not self.timestamp_header:
            raise ValueError("a signature with {timestamp} in its template or a max_age_seconds needs a "
                             "timestamp_header")
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_get_parts", get_parts)

    def digest(self, secret: bytes, body: bytes = b"", timestamp: str = "", query: bytes = b"",
               method: str = "POST") -> bytes:
        """The HMAC of what this scheme signs for such a call."""
        values = {"body": body, "timestamp": timestamp.encode("latin-1"), "query": query}
        mac = hmac.new(secret, digestmod=self.algorithm)
        for kind, literal in self._get_parts if method == "GET" else self._parts:
            mac.update(values[kind] if kind else literal)
        return mac.digest()

    def sign(self, secret: bytes, body: bytes = b"", timestamp: str = "", query: bytes = b"",
             method: str = "POST") -> str:
        """The header value a vendor would send (for tests and emulators)."""
        raw = self.digest(secret, body, timestamp, query, method)
        return self.prefix + (raw.hex() if self.encoding == "hex" else base64.b64encode(raw).decode())

    def _decoded(self, value: str) -> bytes | None:
        if not value.startswith(self.prefix):
            return None
        text = value[len(self.prefix):].strip()
        try:
            return bytes.fromhex(text) if self.encoding == "hex" else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            return None

    def verify(self, call: Call, secret: bytes, now: float | None = None) -> None:
        presented = _header(call, self.header)
        timestamp = ""
        if self.timestamp_header:
            timestamp = _header(call, self.timestamp_header)
            if self.max_age_seconds is not None:
                signed_at = parse_timestamp(timestamp)
                if signed_at is None:
                    raise Unauthorized(f"{self.timestamp_header} must be Unix seconds or an ISO 8601 time")
                age = (time.time() if now is None else now) - signed_at
                if abs(age) > self.max_age_seconds:
                    raise Unauthorized(f"{self.timestamp_header} is {abs(age):.0f} s {'old' if age > 0 else 'ahead'}; "
                                       f"at most {self.max_age_seconds:g} s is accepted (a replayed or delayed call)")
        decoded = self._decoded(presented)
        if decoded is None:
            raise Unauthorized(f"{self.header} must be {self.prefix!r} followed by a {self.encoding} digest"
                               if self.prefix else f"{self.header} must be a {self.encoding} digest")
        expected = self.digest(secret, call.body, timestamp, call.query, call.method)
        if not hmac.compare_digest(decoded, expected):
            raise Unauthorized(f"{self.header} does not match the call: wrong signing secret, or the call was "
                               f"changed on the way")


def _port_variants(url: str) -> tuple[str, ...]:
    """The URL without its port and with the scheme's default port: Twilio signs either (its own validator
    accepts both)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    userinfo = f"{userinfo}@" if userinfo else ""
    default = {"https": 443, "http": 80}.get(parts.scheme, parts.port)
    bare = urlunsplit(parts._replace(netloc=f"{userinfo}{host}"))
    ported = urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{parts.port or default}"))
    return (url, bare, ported)


@dataclass(frozen=True)
class TwilioSignature:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the full URL Twilio called followed by every form
    parameter, sorted by name (then value), as `name` + `value` (decoded), no separators. A JSON body is
    signed through the URL instead: its `bodySHA256` query parameter must be the body's SHA-256 (hex).
    The URL is the public one (`PASSERELLE_GATEWAY_PUBLIC_URL` + path + query), as given to Twilio."""

    header: str = "X-Twilio-Signature"
    algorithm: str = "sha1"

    def digest(self, secret: bytes, url: str, params: Iterable[tuple[str, str]] = ()) -> bytes:
        mac = hmac.new(secret, url.encode(), digestmod=self.algorithm)
        for name, value in sorted(params):
            mac.update(name.encode() + value.encode())
        return mac.digest()

    def sign(self, secret: bytes, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
        return base64.b64encode(self.digest(secret, url, params)).decode()

    def verify(self, call: Call, secret: bytes, now: float | None = None) -> None:
        presented = _header(call, self.header)
        try:
            decoded = base64.b64decode(presented, validate=True)
        except (ValueError, binascii.Error):
            raise Unauthorized(f"{self.header} must be a base64 digest") from None
        query = dict(parse_qsl(call.query.decode("latin-1"), keep_blank_values=True))
        if "bodySHA256" in query:
            if not hmac.compare_digest(hashlib.sha256(call.body).hexdigest(), query["bodySHA256"].lower()):
                raise Unauthorized("the body does not match its bodySHA256 query parameter")
            params: list[tuple[str, str]] = []
        else:
            try:
                params = parse_qsl(call.body.decode("utf-8"), keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                raise Unauthorized("the form body is not percent-encoded UTF-8, so it cannot carry a Twilio "
                                   "signature") from None
        for url in _port_variants(call.url):
            if hmac.compare_digest(decoded, self.digest(secret, url, params)):
                return
        raise Unauthorized(f"{self.header} does not match the call: wrong auth token, or "
                           f"PASSERELLE_GATEWAY_PUBLIC_URL is not the URL given to Twilio")


# ---- the vendors (API-NOTES.md; docs/webhooks-signed.md, "Signed sources") -------------------------------------

IADVIZE = HmacSignature(header="X-iAdvize-Signature", prefix="sha256=", template="{body}", get_template="{query}")
"""iAdvize: `sha256=` + hex HMAC-SHA256 of the raw body (of the raw query string for a GET); no timestamp.
Its event id: `X-iAdvize-CorrelationId` (the same on retries) or the payload's `eventId`."""

ZENDESK = HmacSignature(header="X-Zendesk-Webhook-Signature", encoding="base64", template="{timestamp}{body}",
                        timestamp_header="X-Zendesk-Webhook-Signature-Timestamp")
"""Zendesk: base64 HMAC-SHA256 of the timestamp header (ISO 8601) followed by the raw body. Zendesk
documents no window for the timestamp, so none is enforced; dedupe on the event payload's `id`."""

SLACK = HmacSignature(header="X-Slack-Signature", prefix="v0=", template="v0:{timestamp}:{body}",
                      timestamp_header="X-Slack-Request-Timestamp", max_age_seconds=300)
"""Slack: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`; calls signed over five minutes away are refused."""

TWILIO = TwilioSignature()
"""Twilio: see `TwilioSignature`; the secret is the account's auth token."""

VENDOR_SIGNATURES: dict[str, Signature] = {"iadvize": IADVIZE, "zendesk": ZENDESK, "slack": SLACK,
                                           "twilio": TWILIO}
