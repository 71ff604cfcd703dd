"""Run the gateway under uvicorn: in the foreground (`passerelle gateway serve`) or in a thread (tests).

uvicorn runs with the gateway's guarded h11 protocol (`limits.guarded_protocol`: connection cap, idle
limit), its keep-alive limit set to the same idle limit, and the process's open-file limit raised to fit the
connection cap (or the cap lowered to fit the limit, with a warning)."""

from __future__ import annotations

import logging
import re
import resource
import socket
import threading
import time
from typing import Any

import uvicorn

from passerelle.gateway.app import create_app
from passerelle.gateway.limits import guarded_protocol
from passerelle.gateway.settings import GatewaySettings

_TOKEN = re.compile(r"(?i)(token=)[^&\s]*")
_PATH_TOKEN = re.compile(r"(/hooks/[^/?&\s]+/[^/?&\s]+/)[^/?&\s]+")  # /hooks/{source}/{link}/{token}


def _redact(text: str) -> str:
    return _PATH_TOKEN.sub(r"\1***", _TOKEN.sub(r"\1***", text))


class RedactTokens(logging.Filter):
    """Hides link tokens in access-log lines: the `token` query parameter and the path segment after the
    link (`token_in_path` sources), also where a sender echoes its URL in a parameter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _redact(record.msg)
        return True


_SPARE_FILES = 256  # files the process needs besides its connections (the store, logs, Prefect's client)


def fit_connection_cap(wanted: int) -> int:
    """Raise the soft open-file limit so `wanted` connections fit; the cap that fits if the hard limit is
    lower (a connection past the limit would stall every accept for a second: asyncio's EMFILE back-off)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < need:
        logging.getLogger("passerelle.gateway").warning(
            "the open-file limit (%d) fits %d connections, not PASSERELLE_GATEWAY_MAX_CONNECTIONS=%d: raise "
            "`ulimit -n` (or LimitNOFILE) to serve more", soft, max(1, soft - _SPARE_FILES), wanted)
        return max(1, soft - _SPARE_FILES)
    return wanted


def _config(app, host: str, port: int, access_log: bool, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    state = getattr(app, "state", None)
    settings = getattr(state, "settings", None) or GatewaySettings()
    protocol = guarded_protocol(fit_connection_cap(settings.max_connections), settings.idle_timeout_seconds,
                                settings.retry_after_seconds)
    return uvicorn.Config(app, host=host, port=port, access_log=access_log, log_level=log_level,
                          lifespan="on", timeout_graceful_shutdown=10, server_header=False, http=protocol,
                          timeout_keep_alive=settings.idle_timeout_seconds)


def serve(host: str = "127.0.0.1", port: int = 8000, url: str | None = None, access_log: bool = False,
          log_level: str = "info", processes: int | None = None) -> int:
    """Serve the gateway until interrupted (SIGINT/SIGTERM: waits for calls in flight, commits, exits), in
    `processes` processes on the one port (default PASSERELLE_GATEWAY_PROCESSES: processes.py). Returns the
    exit code."""
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings()
    if processes is not None:
        settings = settings.model_copy(update={"processes": processes})
    if settings.processes == 1:
        uvicorn.Server(_config(create_app(url=url, settings=settings, freeze_gc=True), host, port, access_log,
                               log_level)).run()
        return 0
    from passerelle.gateway.processes import reuse_port_socket, supervise
    from passerelle.store.engine import get_engine

    get_engine(url).dispose()  # the parent's store connections are not carried into the children

    def child(index: int) -> None:
        sock = reuse_port_socket(host, port)
        app = create_app(url=url, settings=settings, freeze_gc=True, process_index=index)
        uvicorn.Server(_config(app, host, port, access_log, log_level)).run(sockets=[sock])

    return supervise(settings.processes, child)


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
