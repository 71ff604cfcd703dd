"""The request-bin emulator: what RequestBin or webhook.site give a zap builder, plus a JSON document store so an
idempotent PUT can stand in for an upsert into a CRM (docs/sandbox.md, "Request bin").

Every call to ``/requestbin/{bin}/{path}`` is recorded (method, path, query, headers, body). Answers:

- ``PUT|PATCH /requestbin/{bin}/{path}`` — stores the JSON body as the document at that path (PATCH merges
  into it); 201 when new, 200 when it replaced one; the same PUT twice leaves one document (idempotent);
- ``POST /requestbin/{bin}/{path}`` — appends: 201 ``{"id": n, "path", "body"}``, ``n`` counting per bin;
- ``GET /requestbin/{bin}/{path}`` — the document, or 404 ``{"error": "not found"}``;
- ``DELETE /requestbin/{bin}/{path}`` — 204, or 404.

Control: ``GET /_sandbox/requestbin/state`` (the documents and the counts per bin) and
``GET /_sandbox/requestbin/bins/{bin}/calls`` (the calls received, oldest first, at most the last 10,000).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from sandbox.core import JSONAnswer, Vendor

MAX_CALLS = 10_000
MAX_BODY = 1_048_576


class RequestBinState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.documents: dict[str, dict[str, Any]] = {}
            self.calls: dict[str, deque] = {}
            self.appended: dict[str, int] = {}

    def load(self, document: dict[str, Any]) -> None:
        unknown = set(document) - {"documents"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; a request-bin state has 'documents'")
        documents = document.get("documents", {})
        if not isinstance(documents, dict) or not all(isinstance(v, dict) for v in documents.values()):
            raise ValueError("documents must map a bin to {path: document}")
        self.reset()
        with self.lock:
            self.documents = {b: dict(d) for b, d in documents.items()}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"documents": {b: dict(d) for b, d in self.documents.items()},
                    "calls": {b: len(c) for b, c in self.calls.items()},
                    "appended": dict(self.appended)}


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def make_router(state: RequestBinState) -> APIRouter:
    router = APIRouter()

    @router.api_route("/{bin_name}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      summary="Record the call; store, append, read or delete a JSON document")
    async def call(bin_name: str, path: str, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONAnswer({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
        body = _json(raw)
        method = request.method
        with state.lock:
            state.calls.setdefault(bin_name, deque(maxlen=MAX_CALLS)).append(
                {"method": method, "path": f"/{path}", "query": dict(request.query_params),
                 "headers": {k: v for k, v in request.headers.items() if k.lower() not in ("authorization",
                                                                                            "cookie")},
                 "body": body})
            docs = state.documents.setdefault(bin_name, {})
            key = f"/{path}"
            if method == "GET":
                found = docs.get(key)
                return JSONAnswer(found if found is not None else {"error": "not found"},
                                  status_code=200 if found is not None else 404)
            if method == "DELETE":
                return Response(status_code=204) if docs.pop(key, None) is not None else \
                    JSONAnswer({"error": "not found"}, status_code=404)
            if method == "POST":
                state.appended[bin_name] = state.appended.get(bin_name, 0) + 1
                return JSONAnswer({"id": state.appended[bin_name], "path": key, "body": body}, status_code=201)
            if not isinstance(body, dict):
                return JSONAnswer({"error": "a PUT or PATCH body is a JSON object"}, status_code=422)
            existed = key in docs
            docs[key] = {**docs[key], **body} if method == "PATCH" and existed else body
            return JSONAnswer({"path": key, **docs[key]}, status_code=200 if existed else 201)

    return router


def make_control(state: RequestBinState) -> APIRouter:
    control = APIRouter()

    @control.get("/bins/{bin_name}/calls", summary="The calls a bin received, oldest first")
    def calls(bin_name: str) -> dict[str, Any]:
        with state.lock:
            found = list(state.calls.get(bin_name, ()))
        return {"total": len(found), "calls": found}

    return control


def build_requestbin() -> Vendor:
    state = RequestBinState()
    return Vendor(name="requestbin", state=state, router=make_router(state), control=make_control(state))
