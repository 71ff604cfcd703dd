"""What a source sees of one webhook call (`Call`), what a handshake answers (`Answer`), and the stored
envelope of calls whose data is a query string or a form (docs/webhooks-signed.md, "Forms, query strings and catch
hooks").

The envelope of a form or query call (`call_envelope`), stored as the inbox row's `payload`:

    {"method": "GET",  "query": {"id": "11", "sticket_id": "810"}}
    {"method": "POST", "query": {},          "form": {"From": "+15145550101", "Body": "Bonjour"}}
    {"method": "POST", "query": {"id": "11"}, "json": {...}}

Each parameter value is a string; a name sent several times gets the list of its values, in order. The link
token is never stored: its `token` parameter is dropped and any value that contains it (a sender echoing
the URL it called, as Oxiva's `url=` does) has it replaced by `***`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import Headers

from passerelle.gateway.sources.base import MAX_JSON_DEPTH, InvalidEnvelope, NotJson, SourceError, load_json

MAX_PARAMS = 1000
"""Most parameters a query string or a form body may carry (more: 422)."""
MAX_CHALLENGE = 256
FORM = "application/x-www-form-urlencoded"
REDACTED = "***"


class UnsupportedMediaType(SourceError):
    status = 415


class BadParams(SourceError):
    """A query string or form body that is not percent-encoded UTF-8."""

    status = 400


@dataclass(frozen=True, slots=True)
class Call:
    """One webhook call, once its caller passed the link token and its body was read."""

    method: str
    link: str
    headers: Headers
    query: bytes
    """The raw query string, as sent (what iAdvize signs for a GET)."""
    body: bytes
    url: str
    """The URL the vendor called, under `PASSERELLE_GATEWAY_PUBLIC_URL` (what Twilio signs)."""
    token: str | None = field(default=None, repr=False)
    """The link token the caller presented: never stored, never logged."""

    @property
    def media_type(self) -> str:
        """The body's content type without parameters, lower-cased ('' when none was sent)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    def params(self) -> dict[str, str | list[str]]:
        """The query string's parameters (see `parse_params`), the link token removed."""
        return parse_params(self.query, "query string", self.token, drop_token=True)

    def form(self) -> dict[str, str | list[str]]:
        """The body's form parameters (`application/x-www-form-urlencoded`)."""
        return parse_params(self.body, "form body", self.token)


@dataclass(frozen=True)
class Answer:
    """What a handshake answers instead of storing the call (`Source.handshake`)."""

    status: int = 200
    body: bytes = b""
    media_type: str = "text/plain; charset=utf-8"

    @classmethod
    def text(cls, text: str, status: int = 200) -> Answer:
        return cls(status, text.encode())

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Answer:
        return cls(status, orjson.dumps(value), "application/json")


def parse_params(raw: bytes, where: str = "query string", token: str | None = None, drop_token: bool = False,
                 limit: int = MAX_PARAMS) -> dict[str, str | list[str]]:
    """`name=value&…` (percent-encoded UTF-8, `+` for a space) as a dict: a value is a string, the values of a
    name sent several times a list. `token` (the link token) is masked wherever it appears, and with
    `drop_token` the `token` parameter itself is left out. 400 (`BadParams`) when it is not UTF-8, 422 past
    `limit` parameters; `where` names it in the message."""
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=limit)
    except UnicodeDecodeError:
        raise BadParams(f"the {where} is not percent-encoded UTF-8") from None
    except ValueError:
        raise InvalidEnvelope(f"the {where} holds more than {limit} parameters", "$") from None
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if drop_token and name == "token":
            continue
        if token and token in value:
            value = value.replace(token, REDACTED)
        if token and token in name:
            name = name.replace(token, REDACTED)
        previous = out.get(name)
        if previous is None:
            out[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [previous, value]
    return out


def call_envelope(call: Call, json_body: bool = True) -> dict[str, Any]:
    """The stored envelope of a form or query call (module docstring): `method`, `query`, and `form` or
    `json` when there is a body. 415 for a body that is neither (nor JSON, unless `json_body` is False)."""
    envelope: dict[str, Any] = {"method": call.method, "query": call.params()}
    if not call.body:
        return envelope
    media = call.media_type
    if media in ("", FORM):
        envelope["form"] = call.form()
    elif json_body and (media == "application/json" or media.endswith("+json")):
        envelope["json"] = _redacted(load_json(call.body, MAX_JSON_DEPTH), call.token)
    else:
        accepted = f"{FORM} or application/json" if json_body else FORM
        raise UnsupportedMediaType(f"a {media[:64]!r} body is not accepted here; send {accepted}")
    return envelope


def _redacted(document: Any, token: str | None) -> Any:
    if not token or token.encode() not in orjson.dumps(document):
        return document
    return orjson.loads(orjson.dumps(document).replace(token.encode(), REDACTED.encode()))


# ---- handshakes --------------------------------------------------------------------------------------

def challenge_text(value: Any, field: str) -> str:
    """A challenge to echo: printable ASCII of at most MAX_CHALLENGE characters (422 otherwise)."""
    if not isinstance(value, str) or not value or len(value) > MAX_CHALLENGE or not value.isascii() \
            or not value.isprintable():
        raise InvalidEnvelope(f"'{field}' must be printable ASCII of 1 to {MAX_CHALLENGE} characters", field)
    return value


def query_challenge(call: Call, param: str = "challenge") -> Answer | None:
    """A GET handshake: `GET …?challenge=abc` is answered `abc` (text/plain), nothing stored; None when the
    call is not one (a POST, or no such parameter)."""
    if call.method != "GET":
        return None
    value = call.params().get(param)
    if value is None:
        return None
    return Answer.text(challenge_text(value, param))


def url_verification(call: Call) -> Answer | None:
    """Slack's Events API handshake: a POST `{"type": "url_verification", "challenge": "…"}` is answered
    `{"challenge": "…"}`, nothing stored; None for any other call."""
    if call.method != "POST" or b"url_verification" not in call.body:
        return None
    try:
        document = orjson.loads(call.body)
    except orjson.JSONDecodeError:
        raise NotJson("the body is not JSON") from None
    if not isinstance(document, dict) or document.get("type") != "url_verification":
        return None
    return Answer.json({"challenge": challenge_text(document.get("challenge"), "challenge")})
