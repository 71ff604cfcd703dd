"""Run the gateway under uvicorn: in the foreground (`passerelle gateway serve`) or in a thread (tests)."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any

import uvicorn

from passerelle.gateway.app import create_app

_TOKEN = re.compile(r"(?i)(token=)[^&\s]*")


class RedactTokens(logging.Filter):
    """Hides link tokens in access-log lines (the token is in the receiver URL's query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _TOKEN.sub(r"\1***", record.msg)
        return True


def _config(app, host: str, port: int, access_log: bool, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    return uvicorn.Config(app, host=host, port=port, access_log=access_log, log_level=log_level,
                          lifespan="on", timeout_graceful_shutdown=10, server_header=False)


def serve(host: str = "127.0.0.1", port: int = 8000, url: str | None = None, access_log: bool = False,
          log_level: str = "info") -> None:
    """Serve the gateway until interrupted (SIGINT/SIGTERM: waits for calls in flight, commits, exits)."""
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.Server(_config(create_app(url=url, freeze_gc=True), host, port, access_log, log_level)).run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class GatewayServer:
    """The gateway served by uvicorn in a daemon thread, on a free port unless one is given.

    Example:
        with GatewayServer(create_app(url=store_url, emitter=fake)) as gw:
            httpx.post(f"{gw.url}/hooks/amilia/default?token=...", json=envelope)
    """

    def __init__(self, app: Any = None, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self.app = app if app is not None else create_app()
        self._server = uvicorn.Server(_config(self.app, self.host, self.port, False, "warning"))
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> GatewayServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
