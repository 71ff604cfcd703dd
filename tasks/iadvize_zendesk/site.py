"""One iAdvize site's archival settings and connections, read from its install Block
(``tasks/iadvize_zendesk/install.py``: ``IadvizeZendeskInstall``, ``load_install``).

The archival needs only :class:`ArchiveSettings` and two client factories, so tests and benchmarks can give
them directly (:class:`ArchiveSite`) without a Prefect Block.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from connectors.iadvize.client import IadvizeClient
from connectors.zendesk.client import ZendeskClient

SOURCE = "iadvize"  # the gateway's source name; the inbox link is the site id


@dataclass(frozen=True)
class ArchiveSettings:
    """The install's choices the archival follows (seed sections 2 and 3)."""

    site: str
    auto_archive: bool = False
    archive_form_id: int | None = None
    escalation: bool = False
    escalation_note_label: str = ""
    escalation_form_id: int | None = None
    site_country: str | None = None
    platform: str = "ha"

    @classmethod
    def from_install(cls, install: Any) -> ArchiveSettings:
        return cls(site=str(install.site), auto_archive=bool(install.auto_archive),
                   archive_form_id=install.archive_form_id, escalation=bool(install.escalation),
                   escalation_note_label=install.escalation_note_label or "",
                   escalation_form_id=install.escalation_form_id, site_country=install.site_country,
                   platform=getattr(install, "iadvize_platform", "ha") or "ha")


@dataclass(frozen=True)
class ArchiveSite:
    """A site's settings and how to open its iAdvize and Zendesk clients (``async with site.zendesk() as zd``)."""

    settings: ArchiveSettings
    iadvize: Callable[[], AbstractAsyncContextManager[IadvizeClient]]
    zendesk: Callable[[], AbstractAsyncContextManager[ZendeskClient]]


async def load_site(site: str, **client_options: Any) -> ArchiveSite:
    """The site's install (a clear error naming ``passerelle connect iadvize-zendesk`` when there is none);
    `client_options` (e.g. ``retry=``) go to both clients."""
    from tasks.iadvize_zendesk.install import load_install  # imports Prefect

    install = await load_install(site)
    return ArchiveSite(ArchiveSettings.from_install(install), functools.partial(install.iadvize, **client_options),
                       functools.partial(install.zendesk, **client_options))
