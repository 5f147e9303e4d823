"""Waiting between attempts: exponential backoff with full jitter, and Retry-After. Pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date); None when
    absent or unreadable. Never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt 0 after the first failure)."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return rng() * ceiling


def wait_seconds(attempt: int, *, retry_after: float | None, base: float, cap: float,
                 rng: Callable[[], float] = random.random) -> float:
    """The wait before the next attempt: what Retry-After asks for when the server said
    so (never less), else the jittered backoff."""
    if retry_after is not None:
        return retry_after
    return backoff_seconds(attempt, base=base, cap=cap, rng=rng)
