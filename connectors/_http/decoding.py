"""Decoding vendors' JSON answers."""

from __future__ import annotations

from typing import Any

import httpx
import orjson


def response_json(response: httpx.Response) -> Any:
    """The body decoded as JSON (`ValueError` when it is not JSON).

    orjson decodes the vendors' large pages (1 000 persons, 1 000 members) several times faster than
    `response.json()`; a body orjson refuses (not UTF-8, NaN, integers beyond 64 bits) gets httpx's own
    decoding, which detects the charset and follows the stdlib `json` module.
    """
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()
