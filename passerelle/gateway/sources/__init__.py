"""Webhook source plug-ins. `default_sources()` is what `passerelle gateway serve` registers."""

from passerelle.gateway.sources.amilia import AmiliaSource
from passerelle.gateway.sources.base import (
    DedupeKey,
    FieldKey,
    HeaderKey,
    InvalidEnvelope,
    KnownLink,
    NotJson,
    Source,
    SourceError,
    Unauthorized,
    presented_token,
    verify_url_token,
)
from passerelle.gateway.sources.calls import Answer, Call, call_envelope, query_challenge, url_verification
from passerelle.gateway.sources.catch import CatchSource
from passerelle.gateway.sources.iadvize import IadvizeEscalationSource, IadvizeSource
from passerelle.gateway.sources.okast import OkastSource
from passerelle.gateway.sources.signatures import HmacSignature, Signature, TwilioSignature


def default_sources() -> list[Source]:
    return [AmiliaSource(), CatchSource(), IadvizeSource(), OkastSource()]  # IadvizeSource serves its escalations too


__all__ = ["AmiliaSource", "Answer", "Call", "CatchSource", "DedupeKey", "FieldKey", "HeaderKey", "HmacSignature",
           "IadvizeEscalationSource", "IadvizeSource", "InvalidEnvelope", "KnownLink", "NotJson", "OkastSource",
           "Signature",
           "Source", "SourceError", "TwilioSignature",
           "Unauthorized", "call_envelope", "default_sources", "presented_token", "query_challenge",
           "url_verification", "verify_url_token"]
