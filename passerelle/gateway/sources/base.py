"""The source plug-in interface: how the gateway checks a caller and turns a body into inbox deliveries.

A source is one vendor's webhook dialect. The gateway serves `POST /hooks/{source.name}/{link}` for each
registered source and, for every call: looks the link up (404 when unknown), reads the body within the
size limit (413), asks the source to `verify` the caller (401) and to `parse` the body (400 when it is not
JSON, 422 when it is not the vendor's envelope), stores the deliveries durably, and only then answers 200.

To add a source: subclass `Source`, give it a `name` (the URL segment), a `summary` and a `description`
(shown in the gateway's OpenAPI document), implement `verify` and `parse`, and list an instance in
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

    @abstractmethod
    def verify(self, request: Request, link: KnownLink, body: bytes) -> None:
        """Raise `Unauthorized` unless the call comes from whoever was given this link."""

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


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotJson(f"the body is not JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(value: Any) -> str:
    """Hash of a JSON value independent of key order and spacing."""
    return sha256_hex(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
