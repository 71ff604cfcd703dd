"""Clients kept for reuse, per event loop: a drain sends thousands of calls through the same few clients, and a
new client per call paid a TCP (and TLS) handshake, a connection pool and the CA bundle each time.

Example:
    POOL = LoopPool(16)
    client = POOL.get(("mailchimp", key), make=connection.client)   # the same client for the same key
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar


class Closable(Protocol):
    @property
    def is_closed(self) -> bool: ...

    async def aclose(self) -> None: ...


C = TypeVar("C", bound=Closable)


class LoopPool(Generic[C]):
    """At most `size` clients per running event loop, the least recently used closed beyond; a closed one is made
    again. Clients are never shared across event loops (their connections belong to one)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[Any, C]] = \
            weakref.WeakKeyDictionary()

    def get(self, key: Any, make: Callable[[], C]) -> C:
        """The client kept under `key` on the running loop, made by `make()` when there is none (or it was closed)."""
        loop = asyncio.get_running_loop()
        pool = self._pools.setdefault(loop, OrderedDict())
        client = pool.get(key)
        if client is None or client.is_closed:
            client = pool[key] = make()
            while len(pool) > self.size:
                _, oldest = pool.popitem(last=False)
                loop.create_task(oldest.aclose())
        pool.move_to_end(key)
        return client

    def kept(self) -> list[C]:
        """The clients kept on the running loop, least recently used first."""
        return list(self._pools.get(asyncio.get_running_loop(), {}).values())
