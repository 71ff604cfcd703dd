"""A local HTTP server on 127.0.0.1 for the HTTP action's tests: records each request, answers by path.

- `/echo`: 200 JSON `{method, path, query, headers, body}` (201 for POST); `/status/<n>`: that status;
- `/redirect?to=<url>&code=<n>`: a redirect; `/big`: 4 KiB of text; `/text`: a text/plain answer.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json", extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        record = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "body": raw.decode("utf-8", "replace")}
        self.server.requests.append(record)
        if parts.path == "/echo":
            self._answer(201 if self.command == "POST" else 200, json.dumps(record).encode())
        elif parts.path.startswith("/status/"):
            code = int(parts.path.rsplit("/", 1)[1])
            self._answer(code, json.dumps({"error": f"status {code}"}).encode())
        elif parts.path == "/redirect":
            query = parse_qs(parts.query)
            self._answer(int(query.get("code", ["302"])[0]), b"", extra={"Location": query["to"][0]})
        elif parts.path == "/big":
            self._answer(200, b"x" * 4096, "text/plain")
        else:
            self._answer(200, "plain text é".encode(), "text/plain; charset=utf-8")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class LocalServer:
    """`with LocalServer() as server:` → `server.base` (http://127.0.0.1:<port>), `server.requests`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = ThreadingHTTPServer((host, 0), _Handler)
        self._server.requests = []
        self.host = host
        self.port = self._server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict]:
        return self._server.requests

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeDNS:
    """A resolver to patch in for `passerelle.zaps.ssrf.system_resolver`: answers in turn, counts calls."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]
