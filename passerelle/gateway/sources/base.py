"""The source plug-in interface: how the gateway checks a caller and turns a call into inbox deliveries.

A source is one vendor's webhook dialect. The gateway serves `/hooks/{source.name}/{link}` (for the HTTP
`methods` the source lists; POST by default) and, for every call: looks the link up (404 when unknown), asks
the source to `authenticate` the caller from what precedes the body (401: the URL token), reads the
link's signing secret when the source has a `signature` (503 while Prefect cannot give it), and only then
reads the body, within the size limit (413; at most `pre_auth_max_body_bytes` for a `signed` source) and the
time limit (408). Then the `signature` (401) and `verify` (401), the `handshake` (a challenge answered,
nothing stored), `deliveries` (400 when it is not JSON, 415 an unknown body type, 422 when it is not the
vendor's envelope or nests deeper than MAX_JSON_DEPTH), the durable store, and only then 200.

To add a source: subclass `Source`, give it a `name` (the URL segment), a `summary` and a `description`
(shown in the gateway's OpenAPI document), implement `parse` (a JSON body) or `deliveries` (headers, query
string or form body), set `signature` / `methods` / `dedupe` / `handshake` as the vendor needs, and list an
instance in `passerelle.gateway.sources.default_sources` (docs/webhooks.md, "Adding a source").
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote_plus

import orjson
from starlette.requests import Request

from passerelle.store.inbox import Delivery
from passerelle.store.links import token_matches

if TYPE_CHECKING:
    from passerelle.gateway.sources.calls import Answer, Call
    from passerelle.gateway.sources.signatures import Signature

TOKEN_HEADER = "x-passerelle-token"
MAX_JSON_DEPTH = 32
"""Deepest JSON nesting a body may have (an Amilia envelope has 5 or so). Deeper documents are refused (422)
before anything recurses over them: orjson's encoder stops at 255 levels, `repr` and the standard `json`
at the interpreter's recursion limit."""


class SourceError(Exception):
    """A call the gateway refuses: answered `status` with `{"detail": detail}` (and `field` for 422)."""

    status = 400

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.field = detail, field

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail} if self.field is None else {"detail": self.detail, "field": self.field}


class Unauthorized(SourceError):
    status = 401


class NotJson(SourceError):
    status = 400


class InvalidEnvelope(SourceError):
    """The body is JSON but not the vendor's envelope; `field` names the missing or invalid field."""

    status = 422


@dataclass(frozen=True)
class KnownLink:
    """A registered link as the gateway sees it: names and the SHA-256 of its URL token."""

    source: str
    link: str
    token_sha256: str


class Source(ABC):
    """A webhook source plug-in (see the module docstring). Implement `parse` or `deliveries`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    description: ClassVar[str]
    example: ClassVar[Any] = None  # an example body, for the OpenAPI document
    media_types: ClassVar[tuple[str, ...]] = ("application/json",)
    """The body types the source takes (for the OpenAPI document)."""
    methods: ClassVar[tuple[str, ...]] = ("POST",)
    """The HTTP methods the receiver answers: add "GET" for a handshake by GET or a catch hook's GET calls."""
    token_in_path: ClassVar[bool] = False
    """The link token may also come as a path segment, `/hooks/{name}/{link}/{token}/`, and `hooks add`
    prints that URL: for senders that append their own `?…` to the URL they were given (Oxiva)."""
    signature: ClassVar[Signature | None] = None
    """The vendor's signature scheme (`sources.signatures`), checked with the link's signing secret (a
    Prefect Secret block, `passerelle hooks secret`) on every call, whatever its method, before anything
    else reads the call. Setting it makes the source `signed`."""
    signed: ClassVar[bool] = False
    """True when the vendor proves the caller by a signature over the body (`signature` or `verify`): the
    body is then read before the caller is fully proven, so at most `pre_auth_max_body_bytes` of it."""
    dedupe: ClassVar[tuple[DedupeKey, ...]] = ()
    """Where the vendor's own event id is (`HeaderKey`, `FieldKey`), tried in order by `event_id`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("signature") is not None and "signed" not in cls.__dict__:
            cls.signed = True
        if "name" in cls.__dict__ and cls.parse is Source.parse and cls.deliveries is Source.deliveries:
            raise TypeError(f"source {cls.__name__} must implement parse(body, link) or deliveries(call)")

    def authenticate(self, request: Request, link: KnownLink) -> None:
        """Raise `Unauthorized` unless the call comes from whoever was given this link, judged before its
        body is read (the body of a caller that fails is never read). Default: the per-link URL token."""
        verify_url_token(request, link)

    def verify(self, request: Request, link: KnownLink, body: bytes) -> None:
        """Checks that need the body beyond `signature`, run on every call once its body is read and its
        signature checked: raise `Unauthorized` (401), or another `SourceError` (e.g. `InvalidEnvelope`, 422)."""
        return None

    def handshake(self, call: Call) -> Answer | None:
        """Answer a vendor's verification call (a GET challenge, Slack's `url_verification`) with an
        `Answer`, storing nothing; None for a call that carries events. Runs after the signature and
        `verify`. Helpers: `calls.query_challenge`, `calls.url_verification`."""
        return None

    def parse(self, body: bytes, link: str) -> list[Delivery]:
        """The deliveries in a JSON `body`; `NotJson` (400) or `InvalidEnvelope` (422, naming the field)."""
        raise NotImplementedError

    def deliveries(self, call: Call) -> list[Delivery]:
        """The deliveries of a call, for sources that need its headers, query string or form body
        (`calls.call_envelope`). Default: `parse(call.body, call.link)`."""
        return self.parse(call.body, call.link)

    def event_id(self, payload: Any, raw: bytes | None = None, call: Call | None = None) -> str:
        """The dedupe key of one delivery: the inbox stores a delivery once per (source, link, event id).
        The first `dedupe` key the call carries (a vendor id over MAX_EVENT_ID characters is hashed), else
        the SHA-256 of `raw` (the bytes the vendor sent for it: a re-delivery re-sends the same bytes), else
        of the payload's canonical JSON."""
        for key in self.dedupe:
            value = key.value(payload, call)
            if value:
                return value if len(value) <= MAX_EVENT_ID else sha256_hex(value.encode())
        return sha256_hex(raw) if raw is not None else canonical_sha256(payload)


MAX_EVENT_ID = 200


class DedupeKey(ABC):
    """Where a vendor puts its own event id (`Source.dedupe`)."""

    @abstractmethod
    def value(self, payload: Any, call: Call | None) -> str | None:
        """The id, or None when this call does not carry it."""


@dataclass(frozen=True)
class HeaderKey(DedupeKey):
    """A header, e.g. `X-iAdvize-CorrelationId`. Unsigned: prefer a `FieldKey` when the body is signed."""

    header: str

    def value(self, payload: Any, call: Call | None) -> str | None:
        found = call.headers.get(self.header, "").strip() if call is not None else ""
        return f"{self.header.lower()}:{found}" if found else None


@dataclass(frozen=True)
class FieldKey(DedupeKey):
    """A field of the stored payload, dotted for nested ones (`event_id`, `json.eventId`); a string or a
    whole number."""

    path: str

    def value(self, payload: Any, call: Call | None) -> str | None:
        node = payload
        for part in self.path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, str) and node.strip():
            return f"{self.path}:{node.strip()}"
        if type(node) is int:
            return f"{self.path}:{node}"
        return None


# ---- helpers for sources ------------------------------------------------------------------------------

def presented_token(request: Request) -> str | None:
    """The link token of the call: the path's (`token_in_path` sources), else query parameter `token`, else
    header `X-Passerelle-Token`."""
    in_path = request.scope.get("passerelle.token")
    if in_path:
        return in_path
    for pair in request.scope.get("query_string", b"").split(b"&"):  # cheaper than parsing QueryParams
        name, _, value = pair.partition(b"=")
        if name == b"token" and value:
            return unquote_plus(value.decode("latin-1"))
    return request.headers.get(TOKEN_HEADER)


def verify_url_token(request: Request, link: KnownLink) -> None:
    """The per-link URL token check (constant time on the hashes), for vendors that sign nothing."""
    if not token_matches(presented_token(request), link.token_sha256):
        raise Unauthorized("missing or wrong link token")


def load_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body parsed by orjson: `NotJson` (400) unless it is UTF-8 JSON, `InvalidEnvelope` (422, naming
    the field) when it nests deeper than `max_depth` levels."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):  # orjson's own limit (1024 levels)
            raise InvalidEnvelope(f"the body nests JSON deeper than {max_depth} levels; send the vendor's "
                                  f"envelope", "$") from None
        raise NotJson(f"the body is not JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > max_depth:  # else it cannot be that deep: no walk (the usual case)
        where = too_deep(document, max_depth)
        if where is not None:
            raise InvalidEnvelope(f"envelope field '{where}' nests JSON deeper than {max_depth} levels in all; "
                                  f"send the vendor's envelope", where)
    return document


def _exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` levels deep (a scalar is 0, `{}` is 1); no recursion."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def too_deep(document: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """None when `document` is at most `limit` levels deep; else the field it is too deep under, named as the
    sources name fields (`Payload`, `[3].Payload`; `$` for the document itself), two levels down at most."""
    if not _exceeds(document, limit):
        return None
    path, node, depth = "", document, 1
    for _ in range(2):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list) and _exceeds(child, limit - depth):
                name = f"[{key}]" if isinstance(node, list) else str(key)[:64]
                path += name if not path or name.startswith("[") else f".{name}"
                node, depth = child, depth + 1
                break
        else:
            break
    return path or "$"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(value: Any) -> str:
    """Hash of a JSON value independent of key order and spacing (of a value `load_json` accepted)."""
    try:
        return sha256_hex(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except orjson.JSONEncodeError as exc:  # not from load_json (it bounds the depth): still the caller's data
        raise InvalidEnvelope(f"the envelope cannot be encoded as JSON ({exc})", "$") from None
