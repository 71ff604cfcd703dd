"""iAdvize emulator, mounted under `/iadvize` (docs/sandbox-iadvize.md), so a client's base URL is
`http://HOST:PORT/iadvize`:

    POST /oauth2/token      form username, password, grant_type=password → {"access_token", "expires_in", ...}
    GET  /_authenticated    Bearer token → {"authenticated": true} | 401 {"error": "invalid_token", ...}
    POST /graphql           Bearer token, {"query", "variables", "operationName"} → {"data"} and/or {"errors"}

Control routes (under `/_sandbox/iadvize`): `POST /webhooks/send` (signed webhook deliveries, see
`sandbox/iadvize/webhooks.py`) and `DELETE /tokens` (revoke every token, as an expiry would).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from sandbox.core import JSONAnswer, Vendor
from sandbox.iadvize.schema import execute
from sandbox.iadvize.state import IadvizeState
from sandbox.iadvize.webhooks import build_control_router

INVALID_TOKEN = {"error": "invalid_token", "error_description": "access token not valid"}
FORM = "application/x-www-form-urlencoded"


class OAuthError(Exception):
    """Answered `{"error", "error_description"}` with `status` (RFC 6749 §5.2 for the token endpoint)."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.headers = status, error, description, headers


class _IadvizeRoute(APIRoute):
    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OAuthError as exc:
                return JSONAnswer({"error": exc.error, "error_description": exc.description},
                                  status_code=exc.status, headers=exc.headers)

        return route


def _bearer(state: IadvizeState, request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not state.token_valid(token.strip()):
        raise OAuthError(401, INVALID_TOKEN["error"], INVALID_TOKEN["error_description"],
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def _token_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM:
        raise OAuthError(400, "invalid_request", f"parameters must be sent as {FORM}")
    try:
        return dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "the form body is not percent-encoded UTF-8") from None


def make_router(state: IadvizeState) -> APIRouter:
    router = APIRouter(route_class=_IadvizeRoute)
    lock = state.lock

    @router.post("/oauth2/token")
    async def token(request: Request) -> JSONAnswer:
        form = await _token_form(request)
        if form.get("grant_type") != "password":
            raise OAuthError(400, "unsupported_grant_type", "only grant_type=password is supported")
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            raise OAuthError(400, "invalid_request", "username and password are required")
        with lock:
            wait = state.throttle(username, request.client.host if request.client else "?")
            answer = None if wait is not None else state.login(username, password)
        if wait is not None:
            raise OAuthError(429, "too_many_requests", "too many logins: at most 10 per minute per user and 100 "
                             "per minute per IP address", {"Retry-After": str(max(1, math.ceil(wait)))})
        if answer is None:
            raise OAuthError(400, "invalid_grant", "Invalid username and password combination")
        return JSONAnswer(answer, headers={"Cache-Control": "no-store"})

    @router.get("/_authenticated")
    async def authenticated(request: Request) -> JSONAnswer:
        with lock:
            _bearer(state, request)
        return JSONAnswer({"authenticated": True})

    @router.post("/graphql")
    async def graphql(request: Request) -> JSONAnswer:
        raw = await request.body()
        with lock:
            _bearer(state, request)
            if request.query_params.get("platform", "ha").lower() != state.doc["account"]["platform"]:
                raise OAuthError(401, INVALID_TOKEN["error"], INVALID_TOKEN["error_description"])
            try:
                body: Any = json.loads(raw)
            except ValueError:
                return JSONAnswer({"errors": [{"message": "the body is not JSON",
                                               "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}, status_code=400)
            return JSONAnswer(execute(state.schema, body))

    return router


def build_iadvize() -> Vendor:
    """The iAdvize vendor: the default account (one login, no data), its routes and its control routes."""
    state = IadvizeState()
    return Vendor(name="iadvize", state=state, router=make_router(state), control=build_control_router(state))
