"""A link is the pair of credential Blocks saved under one name: open both vendor clients from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connectors._http.errors import LinkNotFound, block_name_problem, check_link_blocks
from connectors.amilia.client import AmiliaClient
from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.client import CyberimpactClient
from connectors.cyberimpact.credentials import CyberimpactCredentials

__all__ = ["LinkNotFound", "load_link", "open_link"]


async def load_link(link: str) -> tuple[AmiliaCredentials, CyberimpactCredentials]:
    """The link's two credential Blocks.

    Raises:
        ValueError: `link` is not a name a Block can have (says which characters are allowed).
        LinkNotFound: one or both Blocks are not saved; the message names the `passerelle connect`
            command(s) that create them.
    """
    problem = block_name_problem(link)
    if problem:
        raise ValueError(problem)
    amilia, cyberimpact = await asyncio.gather(AmiliaCredentials.aload(link), CyberimpactCredentials.aload(link),
                                               return_exceptions=True)
    check_link_blocks(link, {"amilia": amilia, "cyberimpact": cyberimpact})
    return amilia, cyberimpact


@asynccontextmanager
async def open_link(link: str, **options: Any) -> AsyncIterator[tuple[AmiliaClient, CyberimpactClient]]:
    """The Amilia and Cyberimpact clients of a link, closed on exit.

    Args:
        link: Name under which both the Amilia Credentials and Cyberimpact Credentials blocks are saved.
        **options: Client options for both (e.g. ``retry``).

    Raises:
        LinkNotFound: a block of the link is missing (see :func:`load_link`).

    Example:
        async with open_link("default") as (amilia, cyberimpact):
            await amilia.ping()
    """
    amilia_block, cyber_block = await load_link(link)
    async with amilia_block.client(**options) as amilia, cyber_block.client(**options) as cyberimpact:
        yield amilia, cyberimpact
