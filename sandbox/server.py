"""Run the sandbox on a real socket: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from sandbox.app import create_app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


API_PATHS: dict[str, str] = {"amilia": "/api/V3"}
"""Where an emulator's API starts under its prefix, when not at the prefix itself (``/amilia/api/V3``)."""


def vendor_names() -> list[str]:
    """The emulators of the sandbox, without importing them: each package ``sandbox/<pkg>/`` with an ``app.py``,
    its vendor name (the URL prefix) being the package's name with ``-`` for ``_`` (``google_sheets`` →
    ``google-sheets``)."""
    root = Path(__file__).parent
    return sorted(p.parent.name.replace("_", "-") for p in root.glob("*/app.py"))


class SandboxAddress:
    """Where a running sandbox answers: its base URL and each emulator's base URL (any number of vendors)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def vendor_url(self, vendor: str) -> str:
        """The base URL of one emulator's API, e.g. ``vendor_url("amilia")`` → ``…/amilia/api/V3``."""
        known = vendor_names()
        if vendor not in known:
            raise KeyError(f"the sandbox has no {vendor!r} emulator (known: {', '.join(known)})")
        return f"{self.url}/{vendor}{API_PATHS.get(vendor, '')}"

    @property
    def amilia_url(self) -> str:
        return self.vendor_url("amilia")

    @property
    def cyberimpact_url(self) -> str:
        return self.vendor_url("cyberimpact")


class SandboxServer(SandboxAddress):
    """The sandbox served by uvicorn in a daemon thread.

    Example:
        with SandboxServer() as sb:
            httpx.get(f"{sb.url}/_sandbox/healthz")
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, app=None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.app = app if app is not None else create_app()
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox in the foreground until interrupted."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)
