"""Twilio connector: client (account, Programmable Messaging), the credentials Block and the zap action
(`twilio.send_sms` in zap.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.registry import register_app
from connectors.twilio.client import DEFAULT_BASE_URL, TwilioClient

if TYPE_CHECKING:
    from connectors.twilio.credentials import TwilioCredentials

__all__ = ["APP", "DEFAULT_BASE_URL", "TwilioClient", "TwilioCredentials"]

APP = register_app("twilio", "Twilio", "connectors.twilio.credentials:TwilioCredentials")


def __getattr__(name: str) -> Any:  # the Block imports Prefect: load it only when asked for
    if name == "TwilioCredentials":
        from connectors.twilio.credentials import TwilioCredentials

        return TwilioCredentials
    raise AttributeError(name)
