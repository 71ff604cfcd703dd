"""The OKAST side of a connection: the platform's API key, which OKAST sends with each event it posts to
Passerelle (`POST /hooks/okast/{connection}`, header ``X-Api-Key``; docs/connector-okast.md).

OKAST has no public API that Passerelle calls (API-NOTES §7): OKAST calls us. So there is no vendor client to
build, only the key: its form is checked here, and a presented key is compared with it in constant time. The
gateway does the same comparison on its hot path with its own copy of the key (a Prefect Secret block, read once
and cached: docs/connector-okast.md, "Where the key lives").

Example:
    platform = OkastPlatform(api_key=SecretStr("ok_live_…"))
    platform.key_matches(request_headers.get("X-Api-Key"))   # True / False, in constant time
"""

from __future__ import annotations

import hmac
import re

from pydantic import SecretStr

API_KEY_HEADER = "X-Api-Key"
KEY_FORM = ("the key OKAST shows in its editor under Plateforme > Configuration: 8 to 512 printable characters, "
            "no spaces")
_KEY = re.compile(r"[\x21-\x7e]{8,512}")


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an OKAST API key (never quoting it), or None."""
    if not key:
        return f"the API key is empty; give {KEY_FORM}"
    if key != key.strip():
        return "the API key starts or ends with spaces; copy it as OKAST shows it"
    if not _KEY.fullmatch(key):
        return f"the API key is not of the expected form ({len(key)} characters); give {KEY_FORM}"
    return None


class OkastPlatform:
    """One OKAST platform, known by the API key it sends with its calls (an async context manager, like the
    other connectors' clients, though it opens nothing).

    Args:
        api_key: The platform's API key.
        block: Where the key is kept, for messages (``okast-credentials/<name>``).
    """

    def __init__(self, api_key: SecretStr | str, block: str = "okast-credentials") -> None:
        self._key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.block = block

    async def __aenter__(self) -> OkastPlatform:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"OkastPlatform(api_key={self._key!r}, block={self.block!r})"  # SecretStr's repr is masked

    def key_matches(self, presented: str | None) -> bool:
        """Whether `presented` is the platform's key (constant-time on the bytes)."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self._key.get_secret_value().encode())
