"""A link is the pair of credential Blocks saved under one name: open both vendor clients from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connectors.amilia.client import AmiliaClient
from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.client import CyberimpactClient
from connectors.cyberimpact.credentials import CyberimpactCredentials


@asynccontextmanager
async def open_link(link: str, **options: Any) -> AsyncIterator[tuple[AmiliaClient, CyberimpactClient]]:
    """The Amilia and Cyberimpact clients of a link, closed on exit.

    Args:
        link: Name under which both the Amilia Credentials and Cyberimpact Credentials blocks are saved.
        **options: Client options for both (e.g. ``retry``).

    Example:
        async with open_link("default") as (amilia, cyberimpact):
            await amilia.ping()
    """
    amilia_block, cyber_block = await asyncio.gather(AmiliaCredentials.aload(link),
                                                     CyberimpactCredentials.aload(link))
    async with amilia_block.client(**options) as amilia, cyber_block.client(**options) as cyberimpact:
        yield amilia, cyberimpact
