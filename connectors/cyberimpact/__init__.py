"""Cyberimpact REST API connector: client, batch helpers and the credentials Block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.cyberimpact.batches import BatchOutcome
from connectors.cyberimpact.client import DEFAULT_BASE_URL, CyberimpactClient
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.cyberimpact.credentials import CyberimpactCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "BatchOutcome", "CyberimpactClient", "CyberimpactCredentials"]

APP = register_app("cyberimpact", "Cyberimpact", "connectors.cyberimpact.credentials:CyberimpactCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "CyberimpactCredentials":
        from connectors.cyberimpact.credentials import CyberimpactCredentials

        return CyberimpactCredentials
    raise AttributeError(name)
