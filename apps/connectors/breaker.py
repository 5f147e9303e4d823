"""A circuit breaker per connector.

Closed: calls go out; each failed attempt (a network error, a timeout, 429 or 5xx)
counts, any answer below 500 other than 429 resets the count. At `threshold` failures in
a row the circuit opens for `cooldown` seconds: calls are refused without a socket.
After that one call goes out (half-open): success closes it, failure opens it again.

The state lives in the cache (Redis), so every worker of the deployment sees the same
circuit; keys carry the tenant (django-tenants' key function) and the connector id.
The transitions are pure functions, tested without a cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class BreakerState:
    failures: int = 0
    opened_until: float = 0.0

    def is_open(self, now: float) -> bool:
        return self.opened_until > now


def after_failure(state: BreakerState, *, now: float, threshold: int, cooldown: float) -> BreakerState:
    failures = state.failures + 1
    opened_until = now + cooldown if failures >= threshold else state.opened_until
    return BreakerState(failures=failures, opened_until=opened_until)


def after_success(state: BreakerState) -> BreakerState:
    return BreakerState()


def _key(connector_id: int) -> str:
    return f"connectors:breaker:{connector_id}"


def load(connector_id: int) -> BreakerState:
    raw = cache.get(_key(connector_id))
    if not raw:
        return BreakerState()
    return BreakerState(failures=int(raw.get("failures", 0)), opened_until=float(raw.get("opened_until", 0.0)))


def store(connector_id: int, state: BreakerState) -> None:
    if state == BreakerState():
        cache.delete(_key(connector_id))
    else:
        cache.set(_key(connector_id), {"failures": state.failures, "opened_until": state.opened_until}, timeout=24 * 3600)


def record_failure(connector_id: int, *, threshold: int, cooldown: float, now: float | None = None) -> BreakerState:
    state = after_failure(load(connector_id), now=time.time() if now is None else now, threshold=threshold,
                          cooldown=cooldown)
    store(connector_id, state)
    return state


def record_success(connector_id: int) -> None:
    store(connector_id, BreakerState())


def is_open(connector_id: int, *, now: float | None = None) -> bool:
    return load(connector_id).is_open(time.time() if now is None else now)


def reset(connector_id: int) -> None:
    cache.delete(_key(connector_id))
