"""When a failed delivery is tried again. Pure."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 = the first try):
    exponential (base, 2 base, 4 base, ...), at most `cap`, with +-25 % jitter so that
    deliveries that failed together do not all come back at once."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(-0.25, 0.25)  # noqa: S311 - not for security
    return max(0.0, delay * (1 + jitter))
