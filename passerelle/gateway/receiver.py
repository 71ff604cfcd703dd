"""One source's receiver: `/hooks/{source}/{link}` (and `/hooks/{source}/{link}/{token}/` for sources with
`token_in_path`), from the request head to the committed deliveries.

Order: the link (404) and the caller (401) are checked on the request head, so a caller that fails never
has its body read; a signed source's secret is fetched (503 while Prefect cannot give it); then the body,
within the size limit (413), the time limit (408) and the gateway's byte budget (503); the signature (401)
and `verify`; the handshake (answered, nothing stored); the deliveries (400, 415, 422); the commit (200, or
503 when the inbox cannot take it). Nothing is stored for a call not answered 200.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from passerelle.gateway.limits import ByteBudget, Hold, Refusals
from passerelle.gateway.linkcache import LinkCache
from passerelle.gateway.nudge import Nudger
from passerelle.gateway.secrets import SigningSecrets
from passerelle.gateway.settings import GatewaySettings
from passerelle.gateway.sources.base import KnownLink, Source, SourceError, Unauthorized, presented_token
from passerelle.gateway.sources.calls import Answer, Call
from passerelle.gateway.writer import GroupCommitWriter, StoreUnavailable

log = logging.getLogger("passerelle.gateway")
JSON = "application/json"
TOKEN_SCOPE_KEY = "passerelle.token"  # where a path token is put for `presented_token`


class BodyTooLarge(SourceError):
    status = 413


class BodyTimeout(SourceError):
    status = 408


class GatewayBusy(SourceError):
    """The bodies held at once would exceed PASSERELLE_GATEWAY_MAX_BUFFERED_BYTES: 503, retry later."""

    status = 503


_CLOSE = {"connection": "close"}  # a body too slow to wait for: the connection is not reused
_HANDSHAKE_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


def answer(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON, headers=headers)


async def read_body(request: Request, limit: int, hold: Hold, timeout: float) -> bytes:
    """The body, refused (413) as soon as it exceeds `limit` bytes (a larger body is never read whole), 408
    unless it all arrives within `timeout` seconds, 503 (`GatewayBusy`) when `hold` cannot take its size
    (the declared Content-Length up front, else chunk by chunk) from the gateway's byte budget."""
    declared = request.headers.get("content-length")
    upfront = declared is not None and declared.isdigit()
    if upfront:
        if int(declared) > limit:
            raise BodyTooLarge(f"the body is {declared} bytes; the limit is {limit}")
        if not hold.take(int(declared)):
            raise GatewayBusy("the gateway holds too many request bodies at once; retry later")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            while True:  # request.receive directly: Request.stream()'s generator costs more than the loop
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body exceeds the limit of {limit} bytes")
                if not upfront and not hold.take(len(chunk)):
                    raise GatewayBusy("the gateway holds too many request bodies at once; retry later")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {timeout:g} s (received {size} bytes); send it "
                          f"at once") from None


class Receiver:
    """See the module docstring. `receive(request, link, token)` serves both the fast path and FastAPI."""

    def __init__(self, source: Source, settings: GatewaySettings, links: LinkCache, writer: GroupCommitWriter,
                 nudger: Nudger, budget: ByteBudget | None = None, refusals: Refusals | None = None,
                 secrets: SigningSecrets | None = None) -> None:
        self.source, self.settings, self.links, self.writer, self.nudger = source, settings, links, writer, nudger
        self.budget = budget if budget is not None else ByteBudget(settings.max_buffered_bytes)
        self.refusals = refusals if refusals is not None else Refusals()
        self.secrets = secrets if secrets is not None else SigningSecrets(ttl=settings.secret_cache_seconds,
                                                                           timeout=settings.secret_timeout_seconds)
        self.body_limit = (min(settings.max_body_bytes, settings.pre_auth_max_body_bytes) if source.signed
                           else settings.max_body_bytes)
        self.busy = {"retry-after": str(settings.retry_after_seconds)}
        self.methods = frozenset(source.methods)
        self.signature = source.signature
        self.handshakes = type(source).handshake is not Source.handshake
        # A source that only parses a JSON body (Amilia) skips building a `Call`: the fast path stays as it was.
        self.plain = type(source).deliveries is Source.deliveries and not self.handshakes and self.signature is None
        self.public_url = settings.public_url.rstrip("/")

    async def _checked(self, check, request: Request, known: KnownLink, *args: Any) -> None:
        try:
            check(request, known, *args)
        except Unauthorized:
            fresh = await self.links.recheck(known)  # the token may have been rotated a moment ago
            if fresh is None:
                raise
            check(request, fresh, *args)

    def _call(self, request: Request, link: str, body: bytes) -> Call:
        scope = request.scope
        query = scope.get("query_string", b"")
        path = scope.get("raw_path") or scope["path"].encode()
        url = f"{self.public_url}{path.decode('latin-1')}{'?' + query.decode('latin-1') if query else ''}"
        return Call(scope["method"], link, request.headers, query, body, url, presented_token(request))

    async def _verify_signature(self, call: Call, secret: bytes) -> None:
        try:
            self.signature.verify(call, secret)
        except Unauthorized:
            fresh = await self.secrets.recheck(self.source.name, call.link)  # rotated a moment ago?
            if fresh is None:
                raise
            self.signature.verify(call, fresh)

    async def _from_call(self, request: Request, known: KnownLink, link: str, body: bytes,
                         secret: bytes | None) -> list | Answer:
        """Signature, `verify`, handshake and deliveries of a source that needs the whole call."""
        source = self.source
        call = self._call(request, link, body)
        if self.signature is not None:
            await self._verify_signature(call, secret)
        await self._checked(source.verify, request, known, body)
        if self.handshakes:
            reply = source.handshake(call)
            if reply is not None:
                return reply
        return source.deliveries(call)

    async def endpoint(self, request: Request, link: str) -> Response:
        """The FastAPI route (documented in OpenAPI; calls normally take the fast path, `GatewayApp`)."""
        return await self.receive(request, link)

    async def endpoint_with_token(self, request: Request, link: str, token: str) -> Response:
        return await self.receive(request, link, token)

    async def receive(self, request: Request, link: str, token: str | None = None) -> Response:
        source = self.source
        known = await self.links.get(source.name, link)
        if known is None:
            detail = f"unknown link {link[:64]!r} for source {source.name!r}"
            self.refusals(404, source.name, detail)
            return answer(404, {"detail": detail})  # the body that follows is discarded, never kept
        if token is not None:
            request.scope[TOKEN_SCOPE_KEY] = token
        hold = self.budget.hold()
        try:
            try:
                await self._checked(source.authenticate, request, known)
                secret = await self.secrets.get(source.name, link) if self.signature is not None else None
                body = await read_body(request, self.body_limit, hold, self.settings.body_timeout_seconds)
                if self.plain:  # a JSON body only (Amilia): the fast path, no `Call` built
                    await self._checked(source.verify, request, known, body)  # a no-op unless the source has one
                    deliveries = source.parse(body, link)
                else:
                    deliveries = await self._from_call(request, known, link, body, secret)
            except SourceError as exc:
                if exc.status in (400, 415, 422):  # a caller that passed the checks: each is worth a line
                    log.info("%s/%s: %d %s", source.name, link[:64], exc.status, exc.detail)
                else:
                    self.refusals(exc.status, f"{source.name}/{link[:64]}", exc.detail)
                # Answered before the body was read (404, 401, 413, 503): uvicorn discards what follows
                # as it arrives, until the idle limit closes the connection (a lingering close: the caller
                # reads its answer instead of a reset, and a slow one costs no reconnection).
                headers = self.busy if exc.status == 503 else _CLOSE if exc.status == 408 else None
                return answer(exc.status, exc.body(), headers)
            except ClientDisconnect:
                return answer(400, {"detail": "the client went away before sending the whole body"})
            if isinstance(deliveries, Answer):  # a handshake: answered, nothing stored
                return Response(deliveries.body, status_code=deliveries.status, media_type=deliveries.media_type,
                                headers=_HANDSHAKE_HEADERS)
            try:
                flags = await self.writer.submit(deliveries)
            except StoreUnavailable:
                return answer(503, {"detail": "the inbox is unavailable, retry later"}, self.busy)
        finally:
            hold.release()
        accepted = sum(flags)
        if accepted:
            self.nudger.notify(source.name, link, accepted)
        return answer(200, {"accepted": accepted, "duplicates": len(flags) - accepted})
