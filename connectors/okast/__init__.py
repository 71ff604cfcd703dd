"""OKAST connector: the 13 platform events as zap triggers (``okast.<event>``, kind webhook), the payload contract
(``events``), the credentials Block (the platform's API key) and "Test trigger" (``okast_latest``).

Events arrive at the gateway's OKAST source, ``POST /hooks/okast/{connection}`` (passerelle/gateway/sources/okast.py);
docs/connector-okast.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.okast.client import API_KEY_HEADER, OkastPlatform, key_problem
from connectors.okast.events import EVENT_NAMES, EVENTS, OkastEvent, UnknownEvent, check_event
from connectors.registry import register_app

if TYPE_CHECKING:
    from connectors.okast.credentials import OkastCredentials

__all__ = ["API_KEY_HEADER", "APP", "EVENTS", "EVENT_NAMES", "OkastCredentials", "OkastEvent", "OkastPlatform",
           "UnknownEvent", "check_event", "key_problem"]

APP = register_app("okast", "OKAST", "connectors.okast.credentials:OkastCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "OkastCredentials":
        from connectors.okast.credentials import OkastCredentials

        return OkastCredentials
    raise AttributeError(name)
