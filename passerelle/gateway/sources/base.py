"""The source plug-in interface: how the gateway checks a caller and turns a body into inbox deliveries.

A source is one vendor's webhook dialect. The gateway serves `POST /hooks/{source.name}/{link}` for each
registered source and, for every call: looks the link up (404 when unknown), asks the source to
`authenticate` the caller from what precedes the body (401: the URL token), and only then reads the body,
within the size limit (413) and the time limit (408); a source that proves the caller by a signature over
the body (`signed`) gets the body, at most `pre_auth_max_body_bytes` of it, in `verify` (401). Then `parse`
(400 when it is not JSON, 422 when it is not the vendor's envelope or nests deeper than MAX_JSON_DEPTH),
the durable store, and only then 200.

To add a source: subclass `Source`, give it a `name` (the URL segment), a `summary` and a `description`
(shown in the gateway's OpenAPI document), implement `parse` (and `authenticate` / `verify` when the
vendor's proof is not the URL token), and list an instance in
`passerelle.gateway.sources.default_sources` (docs/webhooks.md, "Adding a source").
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote_plus

import orjson
from starlette.requests import Request

from passerelle.store.inbox import Delivery
from passerelle.store.links import token_matches

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
    """A webhook source plug-in (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    description: ClassVar[str]
    example: ClassVar[Any] = None  # an example body, for the OpenAPI document
    signed: ClassVar[bool] = False
    """True when the vendor proves the caller by a signature over the body (`verify`): the body is then read
    before the caller is known, so at most `pre_auth_max_body_bytes` of it."""

    def authenticate(self, request: Request, link: KnownLink) -> None:
        """Raise `Unauthorized` unless the call comes from whoever was given this link, judged before its
        body is read (the body of a caller that fails is never read). Default: the per-link URL token."""
        verify_url_token(request, link)

    def verify(self, request: Request, link: KnownLink, body: bytes) -> None:
        """Checks that need the body (a `signed` vendor's HMAC), run on every call once its body is read:
        raise `Unauthorized` (401), or another `SourceError` (e.g. `InvalidEnvelope`, 422)."""
        return None

    @abstractmethod
    def parse(self, body: bytes, link: str) -> list[Delivery]:
        """The deliveries in `body`; `NotJson` (400) or `InvalidEnvelope` (422, naming the field)."""


# ---- helpers for sources ------------------------------------------------------------------------------

def presented_token(request: Request) -> str | None:
    """The link token of the call: query parameter `token`, else header `X-Passerelle-Token`."""
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
