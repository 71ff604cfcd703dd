"""Classified API errors with messages a user can act on.

Every error names the vendor, the HTTP method and the URL *path* (relative to the client's base URL, never
the query string, never a header) and the vendor's own message. Subclasses tell callers what to do:

- :class:`AuthError` (401/403): fix the credentials; never retried.
- :class:`NotFoundError` (404), :class:`ValidationError` (400/422): fix the request; never retried.
- :class:`RateLimitedError` (429), :class:`ServerError` (5xx), :class:`TransportError` (timeouts,
  connection errors): raised only once the retry budget is spent.
- :class:`OutcomeUnknown`: a call that is not safe to repeat (a POST creating something) failed after it may
  have reached the vendor (read timeout, dropped connection, 500/502/504): it was not re-sent, and someone
  (or code that can look the result up by a natural key) must check whether it took effect.
- :class:`PaginationLoopError`: the API handed back a next-page token it had already given.

And for the credential Blocks the clients are built from: :class:`LinkNotFound` (a link's Amilia or
Cyberimpact block is not saved) and :func:`block_name_problem` (names Prefect would refuse).

Example:
    try:
        await client.get_json("/members")
    except AuthError as exc:
        print(exc)   # Cyberimpact rejected the API token (401 on GET /members): Unauthenticated. ...
"""

from __future__ import annotations

import re
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
        if self.status and 200 <= self.status < 300:  # refused by a client's validate_response
            return "answered with an error"
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


class OutcomeUnknown(ApiError):
    """A call that is not safe to repeat failed after it may have reached the vendor; it was NOT re-sent.

    Raised for a non-idempotent call (POST, PATCH, or a call marked ``idempotent=False``) without an
    idempotency key, when the answer was lost (read timeout, connection reset or closed after sending) or was
    500, 502, 504 or a 503 without Retry-After. The vendor may or may not have applied it: re-sending could
    create a second ticket, SMS or row. ``status`` is the answer's status, or None when none arrived.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("hint", None)
        super().__init__(**kwargs)
        if self.hint is None:
            self.hint = (f"It was not re-sent: check in {self.vendor} whether it took effect before trying "
                         "again.")

    def summary(self) -> str:
        return "left the outcome unknown"


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


# -- credential Blocks ----------------------------------------------------------------------------------
# A link is the pair of credential Blocks saved under one name. These live here, beside the API errors,
# so that the CLI (which may not import `tasks`) and the flows' tasks raise and recognise the same error.

LINK_VENDORS: dict[str, str] = {"amilia": "Amilia", "cyberimpact": "Cyberimpact"}
BLOCK_NAME_RULE = "lowercase letters, digits and dashes (e.g. my-club)"
_BLOCK_NAME = re.compile(r"[a-z0-9-]+")  # Prefect's rule for block document names


def block_name_problem(name: str) -> str | None:
    """Why `name` cannot be a credential Block's (and so a link's) name, or None when it can.

    Example:
        >>> block_name_problem("../x")
        "'../x' is not a valid link name: use only lowercase letters, digits and dashes (e.g. my-club)"
    """
    if _BLOCK_NAME.fullmatch(name):
        return None
    return f"{name!r} is not a valid link name: use only {BLOCK_NAME_RULE}"


class LinkNotFound(ValueError):
    """One or both credential Blocks of a link are not saved under its name.

    Attributes:
        link: The link's name.
        missing: The vendors whose block is missing ("amilia", "cyberimpact"), in that order.
    """

    def __init__(self, link: str, missing: tuple[str, ...] | list[str] = tuple(LINK_VENDORS)) -> None:
        self.link = link
        self.missing = tuple(v for v in LINK_VENDORS if v in missing)
        super().__init__(self._message())

    def _message(self) -> str:
        commands = " and ".join(f"`passerelle connect {v} --name {self.link}`" for v in self.missing)
        if len(self.missing) == len(LINK_VENDORS):
            return f"no link named {self.link!r}: create it with {commands}"
        vendor = self.missing[0]
        return (f"link {self.link!r} has no {LINK_VENDORS[vendor]} credentials (block "
                f"'{vendor}-credentials/{self.link}'): create them with {commands}")

    def __reduce__(self):  # pickled by Prefect (task results) and multiprocessing
        return type(self), (self.link, self.missing)


def is_block_not_found(exc: BaseException) -> bool:
    """Whether `exc` is Prefect's "Unable to find block document named …" (a ValueError from ObjectNotFound)."""
    return isinstance(exc, ValueError) and type(exc.__cause__).__name__ == "ObjectNotFound"


def check_link_blocks(link: str, loaded: Mapping[str, Any]) -> None:
    """Raise for the outcome of loading a link's blocks: `loaded` maps each vendor of LINK_VENDORS to its
    block or to the exception loading it raised (``asyncio.gather(..., return_exceptions=True)``).

    Raises:
        LinkNotFound: naming every missing block. Any other loading error is raised as it is.
    """
    missing = [vendor for vendor, value in loaded.items() if is_block_not_found(value)]
    if missing:
        raise LinkNotFound(link, missing)
    for value in loaded.values():
        if isinstance(value, BaseException):
            raise value
