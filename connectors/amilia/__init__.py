"""Amilia (SmartRec) API v3 connector: client, JWT auth, models and the credentials Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.amilia.auth import AmiliaJWTAuth
from connectors.amilia.client import DEFAULT_BASE_URL, AmiliaClient

if TYPE_CHECKING:
    from connectors.amilia.credentials import AmiliaCredentials

__all__ = ["DEFAULT_BASE_URL", "AmiliaClient", "AmiliaCredentials", "AmiliaJWTAuth"]


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "AmiliaCredentials":
        from connectors.amilia.credentials import AmiliaCredentials

        return AmiliaCredentials
    raise AttributeError(name)
