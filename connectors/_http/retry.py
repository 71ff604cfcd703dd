"""Retry policy for vendor calls, built on tenacity, and the rule that keeps effects from happening twice.

Retried: HTTP 429, 500, 502, 503, 504, httpx timeouts and connection errors. Everything else (other 4xx,
non-network httpx errors) fails at once. A call that is not safe to repeat (see :func:`is_replay_safe`) is
retried only after failures that surely did not reach the vendor (:func:`may_have_applied` is False):
a connection that could not be opened, no free connection in the pool, 429, 503 with Retry-After.

Waits are exponential with *full jitter* (a uniform draw between 0 and ``min(max_wait, initial_wait * 2**n)``),
and the sum of all waits of one call never exceeds ``max_total_wait``. A ``Retry-After`` header (seconds or
HTTP date) sets a floor on the wait; when the vendor asks for more than the remaining budget, the call gives
up at once instead of sleeping on a request that is bound to be throttled again.

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


# RFC 9110 §9.2.2: methods whose repetition has the effect of one call. A vendor whose DELETE is not (e.g.
# "DELETE /counters/{id}/one") marks that call ``idempotent=False``; a POST that is an upsert by a natural
# key marks itself ``idempotent=True``.
IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

# Failures that happen before the request leaves this machine: nothing reached the vendor.
NOT_SENT_EXCEPTIONS: tuple[type[BaseException], ...] = (httpx.ConnectError, httpx.ConnectTimeout,
                                                        httpx.PoolTimeout)
# 5xx that say the server did not act on the request at all.
NOT_APPLIED_5XX: frozenset[int] = frozenset({501, 505})


def is_replay_safe(method: str, idempotent: bool | None = None, idempotency_key: str | None = None) -> bool:
    """Whether a call may be sent again after an answer was lost: a call with an idempotency key, one marked
    ``idempotent``, or (unmarked) one whose method is idempotent.

    Example:
        >>> is_replay_safe("POST"), is_replay_safe("POST", idempotent=True), is_replay_safe("PUT")
        (False, True, True)
    """
    if idempotency_key:
        return True
    return idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS


def may_have_applied(outcome: BaseException | httpx.Response, sent: httpx.Request | None = None) -> bool:
    """Whether a failed attempt may have been applied by the vendor (so sending it again could apply it twice).

    No for a failure of another request than ``sent`` (a token exchange the auth flow made first), a
    connection that was never opened, any 4xx (the vendor refused it, or throttled it: 429), 503 with
    Retry-After, 501 and 505. Yes for read timeouts, dropped connections, 500, 502, 504 and a bare 503.
    """
    if isinstance(outcome, httpx.Response):
        if sent is not None and outcome.request is not sent:
            return False
        status = outcome.status_code
        if status == 503:
            return outcome.headers.get("Retry-After") is None
        return status >= 500 and status not in NOT_APPLIED_5XX
    if isinstance(outcome, NOT_SENT_EXCEPTIONS):
        return False
    if sent is not None and isinstance(outcome, httpx.RequestError):
        try:
            failed = outcome.request
        except RuntimeError:  # no request attached: assume it was ours
            failed = sent
        if failed is not sent:
            return False
    return True


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
        may_resend: Callable[[BaseException | httpx.Response], bool] | None = None,
    ) -> AsyncRetrying:
        """A fresh tenacity controller for one call.

        Args:
            may_resend: Told each retriable failure, says whether sending again is allowed (a call that is
                not safe to repeat passes ``lambda outcome: not may_have_applied(outcome, request)``).
                None: always (an idempotent call).

        When retries are exhausted or refused, the controller returns the last response (so the caller can
        classify it) or re-raises the last httpx exception.
        """
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        allowed = may_resend or (lambda outcome: True)
        return AsyncRetrying(
            retry=(retry_if_exception(lambda exc: is_retriable_exception(exc) and allowed(exc))
                   | retry_if_result(lambda response: self._retry_response(response) and allowed(response))),
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
