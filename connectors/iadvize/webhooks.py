"""Checking an iAdvize webhook delivery: its signature and the key it is deduplicated on.

iAdvize signs each call with ``X-iAdvize-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body (of the
raw query string for a GET) keyed with the webhook's secret token; it retries a failed delivery twice (after
10 s, then 20 s) with a new ``X-iAdvize-Delivery`` id and the same ``X-iAdvize-CorrelationId``
(iadvize/documentation ``docs/webhooks.md``, ``docs/build-apps.md`` "App security").

The scheme itself is written once, as ``IADVIZE`` in ``passerelle/gateway/sources/signatures.py`` (the
gateway's signed sources use it); :func:`verify_signature` applies it to a body and a header value, so code
outside the gateway (a replay tool, a test) checks deliveries exactly as the gateway does. Importing it loads
the gateway package, so it is imported on first use only.

Example:
    verify_signature(raw_body, request.headers.get("x-iadvize-signature"), SecretStr(secret))
    key = delivery_key(request.headers, raw_body)   # the correlation id, else the payload's eventId
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

SIGNATURE_HEADER = "x-iadvize-signature"
DELIVERY_HEADER = "x-iadvize-delivery"
CORRELATION_HEADER = "x-iadvize-correlationid"


class InvalidSignature(ValueError):
    """The delivery's ``X-iAdvize-Signature`` is missing, malformed or does not match its body."""


def _secret_bytes(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    value = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not value:
        raise ValueError("the webhook's secret token is empty: set the one iAdvize gave for this webhook")
    return value


def verify_signature(body: bytes, signature: str | None, secret: SecretStr | str | bytes, *,
                     method: str = "POST", query: bytes = b"") -> None:
    """Return if ``signature`` (the ``X-iAdvize-Signature`` value) is iAdvize's signature of the call.

    Args:
        body: The raw body, as received (not re-encoded JSON).
        signature: The header's value, or None when the call had none.
        secret: The webhook's secret token.
        method, query: For a GET, iAdvize signs the raw query string instead of the body.

    Raises:
        InvalidSignature: saying why (missing, not ``sha256=<hex>``, or not matching); never holds the secret.
    """
    from starlette.datastructures import Headers

    from passerelle.gateway.sources.base import Unauthorized
    from passerelle.gateway.sources.calls import Call
    from passerelle.gateway.sources.signatures import IADVIZE

    key = _secret_bytes(secret)
    call = Call(method=method.upper(), link="", headers=Headers({SIGNATURE_HEADER: signature or ""}),
                query=query, body=body, url="")
    try:
        IADVIZE.verify(call, key)
    except Unauthorized as exc:
        raise InvalidSignature(exc.detail) from None


def is_valid_signature(body: bytes, signature: str | None, secret: SecretStr | str | bytes, **call: Any) -> bool:
    """:func:`verify_signature` as a yes/no."""
    try:
        verify_signature(body, signature, secret, **call)
    except InvalidSignature:
        return False
    return True


def delivery_key(headers: Mapping[str, str], payload: Mapping[str, Any] | bytes | None) -> str:
    """The key a delivery is deduplicated on: ``X-iAdvize-CorrelationId`` (the same on the retries of one
    event), else the payload's ``eventId``.

    Args:
        headers: The delivery's headers (any case).
        payload: The decoded JSON payload, or the raw body.

    Raises:
        ValueError: neither is there (the delivery cannot be told apart from another).
    """
    for name, value in headers.items():
        if name.lower() == CORRELATION_HEADER and str(value).strip():
            return str(value).strip()
    if isinstance(payload, bytes | bytearray):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = None
    event_id = payload.get("eventId") if isinstance(payload, Mapping) else None
    if isinstance(event_id, str) and event_id.strip():
        return event_id.strip()
    raise ValueError("the iAdvize delivery has neither an X-iAdvize-CorrelationId header nor an eventId in its "
                     "payload: it cannot be deduplicated")
