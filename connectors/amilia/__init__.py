"""Amilia (SmartRec) API v3 connector: client, JWT auth, models and the credentials Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.amilia.auth import AmiliaJWTAuth
from connectors.amilia.client import DEFAULT_BASE_URL, AmiliaClient
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.amilia.credentials import AmiliaCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "AmiliaClient", "AmiliaCredentials", "AmiliaJWTAuth"]

APP = register_app("amilia", "Amilia", "connectors.amilia.credentials:AmiliaCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "AmiliaCredentials":
        from connectors.amilia.credentials import AmiliaCredentials

        return AmiliaCredentials
    raise AttributeError(name)
