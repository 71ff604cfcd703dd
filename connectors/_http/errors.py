"""Classified API errors with messages a user can act on.

Every error names the vendor, the HTTP method and the URL *path* (relative to the client's base URL, never
the query string, never a header) and the vendor's own message. Subclasses tell callers what to do:

- :class:`AuthError` (401/403): fix the credentials; never retried.
- :class:`NotFoundError` (404), :class:`ValidationError` (400/422): fix the request; never retried.
- :class:`RateLimitedError` (429), :class:`ServerError` (5xx), :class:`TransportError` (timeouts,
  connection errors): raised only once the retry budget is spent.
- :class:`PaginationLoopError`: the API handed back a next-page token it had already given.

Example:
    try:
        await client.get_json("/members")
    except AuthError as exc:
        print(exc)   # Cyberimpact rejected the API token (401 on GET /members): Unauthenticated. ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An HTTP call to a vendor failed.

    Attributes:
        vendor: Display name of the vendor ("Amilia").
        status: HTTP status, or None when no response arrived (transport errors, pagination loops).
        method: HTTP method of the failed call.
        path: URL path relative to the client's base URL, without query string.
        message: The vendor's own message (Amilia ``Message``, Cyberimpact ``message``), if any.
        errors: Field errors the vendor sent (Cyberimpact ``errors``: field -> list of messages).
        hint: What the user should do about it.
        attempts: How many attempts were made (1 when the error is not retriable).
    """

    def __init__(
        self,
        *,
        vendor: str = "API",
        status: int | None = None,
        method: str = "",
        path: str = "",
        message: str | None = None,
        errors: Mapping[str, Any] | None = None,
        hint: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.vendor = vendor
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        self.errors = dict(errors or {})
        self.hint = hint
        self.attempts = attempts
        super().__init__()

    # -- message building -------------------------------------------------------------------------
    def summary(self) -> str:
        """Short phrase saying what went wrong, after the vendor's name."""
        return f"answered {self.status}" if self.status else "call failed"

    def where(self) -> str:
        call = f"{self.method} {self.path}".strip()
        if self.status is not None:
            return f"{self.status} on {call}" if call else str(self.status)
        return call

    def detail(self) -> str:
        parts: list[str] = []
        if self.message:
            parts.append(self.message.rstrip(". ") + ".")
        for field, msgs in self.errors.items():
            text = "; ".join(str(m) for m in msgs) if isinstance(msgs, list | tuple) else str(msgs)
            parts.append(f"{field}: {text.rstrip('. ')}.")
        return " ".join(parts)

    def __str__(self) -> str:
        text = f"{self.vendor} {self.summary()}"
        where = self.where()
        if where:
            text += f" ({where})"
        detail = self.detail()
        text += f": {detail}" if detail else "."
        if self.hint:
            text += f" {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self):  # keep pickling (Prefect task results, multiprocessing) working
        return _rebuild, (type(self), self.__dict__)


def _rebuild(cls: type[ApiError], state: dict[str, Any]) -> ApiError:
    obj = cls.__new__(cls)
    Exception.__init__(obj)
    obj.__dict__.update(state)
    return obj


class AuthError(ApiError):
    """401/403: the credentials are wrong or lack a permission. Never retried."""

    def __init__(self, *, credential: str = "credentials", **kwargs: Any) -> None:
        self.credential = credential
        super().__init__(**kwargs)

    def summary(self) -> str:
        if self.status == 403:
            return f"refused access with this {self.credential}"
        return f"rejected the {self.credential}"


class NotFoundError(ApiError):
    """404: the resource (or the organisation/account in the path) does not exist."""

    def summary(self) -> str:
        return "has no such resource"


class ValidationError(ApiError):
    """400/422: the vendor refused the request's content."""

    def summary(self) -> str:
        return "rejected the request as invalid"


class RateLimitedError(ApiError):
    """429 after the retry budget was spent. ``retry_after`` is the vendor's last Retry-After, if any."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)

    def summary(self) -> str:
        return f"kept throttling requests after {self.attempts} attempt{'s' * (self.attempts != 1)}"


class ServerError(ApiError):
    """5xx after the retry budget was spent."""

    def summary(self) -> str:
        return f"kept failing after {self.attempts} attempt{'s' * (self.attempts != 1)}"


class TransportError(ApiError):
    """No usable response (timeout, refused or dropped connection) after the retry budget was spent."""

    def summary(self) -> str:
        return f"could not be reached after {self.attempts} attempt{'s' * (self.attempts != 1)}"


class PaginationLoopError(ApiError):
    """The API returned a next-page token (URL or page number) that was already followed."""

    def __init__(self, *, token: Any = None, **kwargs: Any) -> None:
        self.token = token
        super().__init__(**kwargs)

    def summary(self) -> str:
        return "sent the same next page twice (a pagination loop)"

    def detail(self) -> str:
        return f"page token {self.token!r} repeated; stopped to avoid reading forever"


def error_class_for(status: int) -> type[ApiError]:
    """The error class for a final (non-retried or retries-exhausted) HTTP status."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status in (400, 422):
        return ValidationError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return ApiError
