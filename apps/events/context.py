"""Causation: which event, handled by which consumers, led to the events emitted now.

While a consumer handles an event, `handling()` makes that event the cause of anything
emitted meanwhile: the new events carry its id (`causation_id`) and a trail, the names
of every consumer in the chain so far. A subscriber never gets a delivery of an event
whose trail names it, so no consumer can be triggered, however indirectly, by its own
reaction.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    event_id: int
    trail: tuple[str, ...]
    # The acting user of an in-transaction handler's event: what the handler emits is done
    # by the same person, in the same request. After commit, reactions are the system's.
    actor: object = None


_current: contextvars.ContextVar[Cause | None] = contextvars.ContextVar("event_cause", default=None)


def current() -> Cause | None:
    return _current.get()


@contextmanager
def handling(*, event_id: int, trail: tuple[str, ...], consumer: str, actor: object = None) -> Iterator[Cause]:
    """`consumer` handles event `event_id` (whose own trail is `trail`)."""
    cause = Cause(event_id=event_id, trail=(*trail, consumer) if consumer not in trail else trail, actor=actor)
    token = _current.set(cause)
    try:
        yield cause
    finally:
        _current.reset(token)
