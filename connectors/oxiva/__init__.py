"""Oxiva connector: the API v2.0 client (dossier + token), the credentials Block, and the three catch-hook
triggers ``oxiva.new_client``, ``oxiva.new_activity``, ``oxiva.new_ticket`` that read the record a call names
(docs/connector-oxiva.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.oxiva.client import API_ROOT, DossierTokenAuth, OxivaClient
from connectors.oxiva.models import HookCallError, hook_param, oxiva_dossier, oxiva_id
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.oxiva.credentials import OxivaCredentials

__all__ = ["API_ROOT", "APP", "DossierTokenAuth", "HookCallError", "OxivaClient", "OxivaCredentials", "hook_param",
           "oxiva_dossier", "oxiva_id"]

APP = register_app("oxiva", "Oxiva", "connectors.oxiva.credentials:OxivaCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "OxivaCredentials":
        from connectors.oxiva.credentials import OxivaCredentials

        return OxivaCredentials
    raise AttributeError(name)
