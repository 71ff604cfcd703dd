"""Retry policy for vendor calls, built on tenacity.

Retried: HTTP 429, 500, 502, 503, 504, httpx timeouts and connection errors. Everything else (other 4xx,
non-network httpx errors) fails at once. Waits are exponential with *full jitter* (a uniform draw between
0 and ``min(max_wait, initial_wait * 2**n)``), and the sum of all waits of one call never exceeds
``max_total_wait``. A ``Retry-After`` header (seconds or HTTP date) sets a floor on the wait; when the
vendor asks for more than the remaining budget, the call gives up at once instead of sleeping on a
request that is bound to be throttled again.

Example:
    policy = RetryPolicy(max_attempts=4, max_total_wait=10)
    response = await policy.retrying()(send_once)   # send_once: async () -> httpx.Response
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})

# Network failures worth another attempt. Not retried: UnsupportedProtocol, LocalProtocolError,
# DecodingError, TooManyRedirects (retrying cannot fix them).
RETRY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None when absent or unreadable.

    Args:
        value: The header: delay in seconds (``"2"``, ``"0.5"``) or an HTTP date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
        now: Current POSIX time, for tests.

    Returns:
        A delay >= 0, or None.

    Example:
        >>> parse_retry_after("1.5")
        1.5
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def is_retriable_exception(exc: BaseException) -> bool:
    return isinstance(exc, RETRY_EXCEPTIONS)


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries one call.

    Args:
        max_attempts: Attempts in total, the first one included (1 disables retries).
        max_total_wait: Upper bound, in seconds, of the time spent sleeping between attempts of one call.
        initial_wait: Backoff scale: the n-th wait is drawn in ``[0, initial_wait * 2**(n-1)]``.
        max_wait: Cap of one backoff wait (a larger Retry-After still wins, within the total budget).
        statuses: HTTP statuses that are retried.
    """

    max_attempts: int = 6
    max_total_wait: float = 60.0
    initial_wait: float = 0.5
    max_wait: float = 10.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff after the given (1-based) failed attempt."""
        ceiling = min(self.max_wait, self.initial_wait * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)

    def wait_for(self, state: RetryCallState) -> float:
        """Tenacity wait: backoff, floored by Retry-After, capped by the remaining budget."""
        remaining = max(0.0, self.max_total_wait - state.idle_for)
        wait = min(self.backoff(state.attempt_number), remaining)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None:
                    # May exceed `remaining`: should_stop then gives up rather than sleep too little.
                    wait = max(wait, retry_after)
        return wait

    def should_stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        return state.idle_for + upcoming > self.max_total_wait + 1e-9

    def _retry_response(self, response: Any) -> bool:
        return isinstance(response, httpx.Response) and response.status_code in self.statuses

    def retrying(
        self,
        *,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> AsyncRetrying:
        """A fresh tenacity controller for one call.

        When retries are exhausted the controller returns the last response (so the caller can classify
        it) or re-raises the last httpx exception.
        """
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return AsyncRetrying(
            retry=retry_if_exception(is_retriable_exception) | retry_if_result(self._retry_response),
            wait=self.wait_for,
            stop=self.should_stop,
            before_sleep=before_sleep,
            retry_error_callback=_last_outcome,
            reraise=True,
            **kwargs,
        )


def _last_outcome(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # returns the last response, or raises the last exception


NO_RETRY = RetryPolicy(max_attempts=1)
