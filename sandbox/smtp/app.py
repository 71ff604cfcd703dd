"""SMTP sink: a real SMTP server (aiosmtpd) beside the sandbox's HTTP emulators (docs/connector-smtp.md,
"The sandbox's SMTP sink").

It listens on ports of its own, in the sandbox's event loop:

- when the sandbox runs with its lifespan (``passerelle sandbox serve``), from startup, on
  ``PASSERELLE_SANDBOX_SMTP_PORT`` / ``PASSERELLE_SANDBOX_SMTPS_PORT`` (default: free ports);
- otherwise (``SandboxServer``, whose lifespan is off) from the first ``POST /_sandbox/smtp/start``.

Control routes, under ``/_sandbox/smtp``: ``POST /start`` (→ ``{"host", "port", "tls_port", "certificate"}``),
``GET /server``, ``POST /stop``, ``GET|DELETE /messages``; ``PUT|GET /_sandbox/smtp/state`` and
``POST /_sandbox/reset`` as for every emulator (the sink keeps listening across a reset).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException

from sandbox.core import Vendor
from sandbox.smtp.sink import SmtpSink
from sandbox.smtp.state import SmtpState

__all__ = ["SmtpSink", "SmtpState", "build_smtp"]


def _port(name: str) -> int:
    raw = os.environ.get(name, "").strip() or "0"
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"{name} must be a TCP port (0-65535, 0 = any free port); got {raw!r}")
    return int(raw)


def make_control(sink: SmtpSink, state: SmtpState) -> APIRouter:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await sink.start(os.environ.get("PASSERELLE_SANDBOX_SMTP_HOST", "127.0.0.1"),
                         _port("PASSERELLE_SANDBOX_SMTP_PORT"), _port("PASSERELLE_SANDBOX_SMTPS_PORT"))
        try:
            yield
        finally:
            await sink.stop()

    control = APIRouter(lifespan=lifespan)

    @control.post("/start", summary="Start the SMTP sink (once) and say where it listens")
    async def start(options: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        options = options or {}
        unknown = sorted(set(options) - {"host", "port", "tls_port"})
        if unknown:
            raise HTTPException(422, f"unknown option(s) {unknown}: give host, port and/or tls_port")
        ports = {k: options.get(k, 0) for k in ("port", "tls_port")}
        if not all(isinstance(p, int) and 0 <= p <= 65535 for p in ports.values()):
            raise HTTPException(422, "port and tls_port must be TCP ports (0 = any free port)")
        try:
            return await sink.start(str(options.get("host", "127.0.0.1")), **ports)
        except OSError as exc:
            raise HTTPException(409, f"the SMTP sink cannot listen there: {exc.strerror or exc}") from None

    @control.get("/server", summary="Where the SMTP sink listens, if it runs")
    async def server() -> dict[str, Any]:
        return sink.info or {"running": False}

    @control.post("/stop", summary="Stop the SMTP sink")
    async def stop() -> dict[str, Any]:
        await sink.stop()
        return {"running": False}

    @control.get("/messages", summary="Messages the sink received, oldest first")
    def messages(since: int = 0) -> dict[str, Any]:
        with state.lock:
            return {"total": len(state.messages), "messages": [dict(m) for m in state.messages[since:]]}

    @control.delete("/messages", summary="Forget the received messages")
    def clear() -> dict[str, Any]:
        with state.lock:
            state.messages.clear()
        return {"cleared": "smtp"}

    return control


def build_smtp() -> Vendor:
    """The SMTP sink (discovered by ``sandbox.app.default_vendors``). Its HTTP router is empty: the sink speaks
    SMTP on its own ports."""
    state = SmtpState()
    sink = SmtpSink(state)
    return Vendor(name="smtp", state=state, router=APIRouter(tags=["smtp"]), control=make_control(sink, state))
