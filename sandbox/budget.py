"""A per-window request budget answered with 429 once spent: the rate-limit switch shared by the Mailchimp, Google
Sheets, Twilio, Zendesk and noCRM emulators (each sets it through its control route
`PUT /_sandbox/<vendor>/rate-limit`; Zendesk and noCRM keep the setting in their account document too).

Example:
    budget = RequestBudget()
    budget.set(per_minute=2, window_seconds=60)
    budget.take(), budget.take(), budget.take()   # None, None, 60 (seconds to wait: answer 429)
"""

from __future__ import annotations

import math
import time
from typing import Any


class RequestBudget:
    """``per_minute`` calls per ``window_seconds`` window (None: no limit). Not thread-safe: callers hold their
    state's lock."""

    def __init__(self) -> None:
        self.set(None, 60)

    def set(self, per_minute: Any, window_seconds: Any = 60, **extra: Any) -> dict[str, Any]:
        if extra:
            raise ValueError(f"unknown keys {sorted(extra)}; allowed: per_minute, window_seconds")
        if per_minute is not None and (not isinstance(per_minute, int) or isinstance(per_minute, bool)
                                       or per_minute < 1):
            raise ValueError("per_minute must be null (no limit) or a positive integer")
        if not isinstance(window_seconds, int | float) or isinstance(window_seconds, bool) or window_seconds <= 0:
            raise ValueError("window_seconds must be a positive number of seconds")
        self.per_minute, self.window_seconds = per_minute, window_seconds
        self.window_start, self.used = 0.0, 0
        return self.describe()

    def describe(self) -> dict[str, Any]:
        left = None if self.per_minute is None else max(0, self.per_minute - self.used)
        return {"per_minute": self.per_minute, "window_seconds": self.window_seconds, "used": self.used,
                "remaining": left}

    def take(self, now: float | None = None) -> float | None:
        """Count one call; None when it fits, else the seconds until the window resets (the Retry-After)."""
        if self.per_minute is None:
            return None
        now = time.monotonic() if now is None else now
        if now - self.window_start >= self.window_seconds:
            self.window_start, self.used = now, 0
        if self.used >= self.per_minute:
            wait = self.window_start + self.window_seconds - now
            return float(max(1, math.ceil(wait))) if self.window_seconds >= 1 else float(self.window_seconds)
        self.used += 1
        return None


def add_rate_limit_routes(control: Any, title: str, state: Any) -> None:
    """``GET|PUT /rate-limit`` on a vendor's control router: read `state.budget` and set it with
    `state.set_rate_limit(**settings)` when the state has one (it keeps the setting in its document), else
    `state.budget.set(**settings)`, under `state.lock`."""
    from fastapi import Body, HTTPException

    @control.get("/rate-limit", summary=f"{title}'s request budget and its use")
    def get_rate_limit() -> dict[str, Any]:
        with state.lock:
            return state.budget.describe()

    @control.put("/rate-limit", summary=f"Set {title}'s request budget per window (per_minute null: off)")
    def put_rate_limit(settings: dict[str, Any] = Body(...)) -> dict[str, Any]:
        setter = getattr(state, "set_rate_limit", None) or state.budget.set
        with state.lock:
            try:
                return setter(**settings)
            except (TypeError, ValueError) as exc:
                raise HTTPException(422, str(exc).replace("account.rate_limit_", "")) from exc
