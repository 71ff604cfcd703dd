"""Gateway fixtures: a gateway on a real socket (uvicorn in a thread) on a fresh SQLite store."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from passerelle.gateway.app import create_app
from passerelle.gateway.server import GatewayServer
from passerelle.gateway.settings import GatewaySettings
from passerelle.settings import reset_settings_cache
from passerelle.store.inbox import InboxEvent
from passerelle.store.links import create_link
from sandbox.server import SandboxServer


def envelope(context: str = "Person", action: str = "Create", payload: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
    return {"OrganizationId": 8008, "Context": context, "Action": action, "Name": "Passerelle",
            "EventTime": "2026-03-15T14:03:22.120000Z", "Payload": payload if payload is not None else {"Id": 501},
            **extra}


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass
class Nudges:
    """A fake emitter recording (source, link, accepted) calls."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, source: str, link: str, accepted: int) -> None:
        self.calls.append((source, link, accepted))
        self.times.append(time.monotonic())
        if self.fail:
            raise ConnectionError("Prefect is unreachable")


@dataclass
class Gateway:
    server: GatewayServer
    store: str
    token: str
    nudges: Nudges
    link: str = "default"

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def hook(self) -> str:
        return f"{self.server.url}/hooks/amilia/{self.link}"

    def post(self, content: bytes | Any, token: str | None = "auto", **kwargs: Any) -> httpx.Response:
        params = {"token": self.token if token == "auto" else token} if token is not None else {}
        data = content if isinstance(content, bytes) else body_of(content)
        return httpx.post(self.hook, params=params, content=data, timeout=30,
                          headers={"Content-Type": "application/json"}, **kwargs)

    def rows(self) -> list[InboxEvent]:
        from passerelle.store.inbox import list_events

        return list_events(source="amilia", limit=100000, url=self.store)


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("PASSERELLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PASSERELLE_DATABASE_URL", raising=False)
    reset_settings_cache()
    yield f"sqlite:///{tmp_path / 'gateway.db'}"
    reset_settings_cache()


@pytest.fixture
def start_gateway(store) -> Iterator[Callable[..., Gateway]]:
    """`start_gateway(**settings)`: a started gateway with a link `default` (and its token)."""
    started: list[GatewayServer] = []

    def start(emitter: Nudges | None = None, **settings: Any) -> Gateway:
        token = create_link("amilia", "default", url=store)
        nudges = emitter or Nudges()
        app = create_app(url=store, emitter=nudges, settings=GatewaySettings(**settings))
        server = GatewayServer(app).start()
        started.append(server)
        return Gateway(server, store, token, nudges)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gateway(start_gateway) -> Gateway:
    return start_gateway()


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server
