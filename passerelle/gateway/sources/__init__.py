"""Webhook source plug-ins. `default_sources()` is what `passerelle gateway serve` registers."""

from passerelle.gateway.sources.amilia import AmiliaSource
from passerelle.gateway.sources.base import (
    InvalidEnvelope,
    KnownLink,
    NotJson,
    Source,
    SourceError,
    Unauthorized,
    presented_token,
    verify_url_token,
)


def default_sources() -> list[Source]:
    return [AmiliaSource()]


__all__ = ["AmiliaSource", "InvalidEnvelope", "KnownLink", "NotJson", "Source", "SourceError", "Unauthorized",
           "default_sources", "presented_token", "verify_url_token"]
