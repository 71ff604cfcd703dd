"""The gateway's copy of the link table: token hashes in memory, re-read every few seconds.

Checking a call's token is then a dict lookup and one SHA-256, with no database round trip. The whole
table is re-read (one small query, off the event loop) when the copy is older than `ttl`, and also, at most
once a second, when a call names an unknown link or presents a token that does not match, so a link
created or rotated with `passerelle hooks add` works within about a second, and a removed one stops
working within `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from passerelle.gateway.sources.base import KnownLink
from passerelle.store.links import list_links

log = logging.getLogger("passerelle.gateway")


class LinkCache:
    def __init__(self, url: str | None = None, ttl: float = 5.0, min_refresh: float = 1.0) -> None:
        self.url, self.ttl, self.min_refresh = url, ttl, min_refresh
        self._links: dict[tuple[str, str], KnownLink] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self.loads = 0

    def _age(self) -> float:
        return time.monotonic() - self._loaded_at

    async def get(self, source: str, link: str) -> KnownLink | None:
        if self._age() > self.ttl:
            await self.refresh()
        found = self._links.get((source, link))
        if found is None and self._age() > self.min_refresh:
            await self.refresh(max_age=self.min_refresh)
            found = self._links.get((source, link))
        return found

    async def recheck(self, known: KnownLink) -> KnownLink | None:
        """After a wrong token: the link re-read if the copy is over a second old, else None."""
        if self._age() <= self.min_refresh:
            return None
        await self.refresh(max_age=self.min_refresh)
        fresh = self._links.get((known.source, known.link))
        return fresh if fresh is not None and fresh != known else None

    async def refresh(self, max_age: float | None = None) -> None:
        """Re-read the table (once for all callers waiting). A failure keeps the previous copy, if any."""
        async with self._lock:
            if self._age() <= (self.ttl if max_age is None else max_age):
                return  # another caller refreshed it while we waited
            try:
                rows = await asyncio.to_thread(list_links, None, self.url)
            except Exception as exc:
                if self._loaded_at == float("-inf"):
                    raise
                log.warning("could not re-read webhook links, keeping the previous copy: %s",
                            type(exc).__name__)
                return
            self._links = {(r.source, r.link): KnownLink(r.source, r.link, r.token_sha256) for r in rows}
            self._loaded_at = time.monotonic()
            self.loads += 1
