"""Helpers of the zap runner's tests: a scripted local HTTP target, zaps from dicts, catch-hook deliveries.

The target (127.0.0.1, a real socket) records every request and answers by path:
- `/contacts` (POST): 201 `{"id": <n>, "email": <body.email>}`, n counting from 1;
- `/status/<code>`: that status with `{"error": "status <code>"}`;
- `/flaky/<k>` (any method): 503 the first k calls, then 200 `{"ok": true, "calls": <n>}`;
- `/slow/<ms>/…`: waits ms before it records the call and answers (requests are then in completion order);
- anything else: 200 `{"path", "method", "body"}`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from passerelle.store.inbox import Delivery, store_deliveries
from passerelle.zaps.spec import Zap, parse_zap


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        server = self.server
        if self.path.startswith("/slow/"):  # /slow/<ms>/…: answer after ms, recorded then (completion order)
            time.sleep(int(self.path.split("/")[2]) / 1000)
        with server.lock:
            server.requests.append({"method": self.command, "path": self.path, "body": body,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
            server.hits[self.path] += 1
            hits = server.hits[self.path]
        if self.path == "/contacts" and self.command == "POST":
            self._answer(201, {"id": hits, "email": (body or {}).get("email")})
        elif self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._answer(code, {"error": f"status {code}"})
        elif self.path.startswith("/flaky/"):
            failures = int(self.path.rsplit("/", 1)[1])
            self._answer(503 if hits <= failures else 200, {"ok": hits > failures, "calls": hits})
        else:
            self._answer(200, {"path": self.path, "method": self.command, "body": body})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Target:
    """`with Target() as target:` → `target.base`, `target.requests`, `target.calls(path)`."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.requests, self._server.hits, self._server.lock = [], Counter(), threading.Lock()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._server.requests

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def __enter__(self) -> Target:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_zap(zap_id: str, steps: list[dict[str, Any]], *, hook: str | None = None, enabled: bool = True) -> Zap:
    options = {"hook": hook} if hook else {}
    return parse_zap({"id": zap_id, "name": f"Zap {zap_id}", "enabled": enabled,
                      "trigger": {"app": "catch", "event": "hook", "options": options}, "steps": steps},
                     f"{zap_id}.yaml")


def catch_calls(hook: str, payloads: list[dict[str, Any]], url: str | None = None) -> list[bool]:
    """Store catch-hook calls as the gateway's catch source does: {method, query | json}, one per call."""
    deliveries = []
    for n, payload in enumerate(payloads):
        event_id = f"{hook}-{n}-{json.dumps(payload, sort_keys=True)}"
        deliveries.append(Delivery("catch", hook, event_id, "catch_hook", f"call:{event_id}", payload))
    return store_deliveries(deliveries, url=url)


class Killed(BaseException):
    """The process dies (kill -9) between an action's call and its ledger write."""


def die_after_sending(monkeypatch, step: str):
    """Make the ledger write of `step`'s ``done`` raise Killed, as a process killed right after the call would;
    returns the real ledger write, to put back."""
    from passerelle.zaps import execute

    real = execute.ledger_record

    async def dies(entries, store_url):
        if any(key.endswith(f":{step}:done") for key in entries):
            raise Killed
        await real(entries, store_url)

    monkeypatch.setattr(execute, "ledger_record", dies)
    return real
