"""Who reacts to which events. Pure Python; filled from each app's `AppConfig.ready()`.

Two kinds of consumer:

* **In-transaction handlers** keep derived state that must change with the write that
  caused it (SLA clocks follow their ticket). `emit()` calls them at once, in the
  emitting service's transaction: fast, idempotent, no I/O. If one fails, the write fails.

      register_handler(Handler(name="sla.clocks", event_types={"ticket.created", ...}, handle=...))

* **Subscribers** react after commit, on a Celery worker: one delivery row per (event,
  subscriber), retried with backoff, dead-lettered after `max_attempts`. A subscriber's
  database writes commit together with its delivery being marked done, so its effect
  happens exactly once even when a worker dies mid-way; anything it sends outside
  (mail, HTTP) must be idempotent, keyed by `DeliveryContext.key`.

      register_subscriber(Subscriber(name="notifications.email", event_types={...}, handle=...))

A subscriber never receives an event that it caused itself, directly or through other
consumers (the event's trail, see `context`), so reactions cannot loop.

Names are stable: delivery rows store them. Renaming a subscriber orphans its pending
deliveries (they are dead-lettered as "no such subscriber").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .types import EVENT_TYPES, NAME, DomainEvent


class Deferred(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a subscriber that cannot run now (a row it needs is locked): the delivery
    is tried again after `seconds`, and the attempt does not count."""

    def __init__(self, reason: str, seconds: float = 5.0):
        super().__init__(reason)
        self.seconds = seconds


class Abandon(Exception):  # noqa: N818 - a verdict, not an error
    """Raised by a subscriber that knows retrying cannot help (a revoked credential, a
    recipient that no longer exists): the delivery is dead-lettered at once with the
    reason, visible to the admin, instead of retried."""


@dataclass(frozen=True)
class EmitContext:
    """What an in-transaction handler gets besides the event."""

    event_id: int
    actor: Any  # the acting user, or None (system, operator, another consumer)
    instances: dict[tuple[type, Any], Any]  # (model class, pk) -> the emitter's loaded instance

    def instance(self, model: type, pk: Any):
        """The emitter's instance of `model` with `pk` when it passed one, else loaded."""
        found = self.instances.get((model, pk))
        return found if found is not None else model.objects.get(pk=pk)


@dataclass(frozen=True)
class DeliveryContext:
    """What a subscriber gets besides the event."""

    event_id: int
    delivery_id: int
    subscriber: str
    attempt: int  # 1 on the first try
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    request_id: str

    @property
    def key(self) -> str:
        """An idempotency key for anything the subscriber sends out for this delivery."""
        return f"{self.event_id}:{self.subscriber}"


@dataclass(frozen=True)
class Handler:
    name: str
    event_types: frozenset[str]
    handle: Callable[[DomainEvent, EmitContext], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: frozenset[str]
    handle: Callable[[DomainEvent, DeliveryContext], None]
    max_attempts: int | None = None  # None: WARDEN_EVENTS_MAX_ATTEMPTS
    description: str = ""


@dataclass
class ConsumerRegistry:
    handlers: dict[str, Handler] = field(default_factory=dict)
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    _handlers_by_type: dict[str, tuple[Handler, ...]] = field(default_factory=dict)
    _subscribers_by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def _refresh(self) -> None:
        by_type: dict[str, list] = {}
        for handler in self.handlers.values():
            for name in handler.event_types:
                by_type.setdefault(name, []).append(handler)
        self._handlers_by_type = {k: tuple(sorted(v, key=lambda h: h.name)) for k, v in by_type.items()}
        subs: dict[str, list[str]] = {}
        for subscriber in self.subscribers.values():
            for name in subscriber.event_types:
                subs.setdefault(name, []).append(subscriber.name)
        self._subscribers_by_type = {k: tuple(sorted(v)) for k, v in subs.items()}

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        return self._handlers_by_type.get(event_type, ())

    def subscribers_for(self, event_type: str, *, trail: Iterable[str] = ()) -> list[str]:
        """The subscribers that get a delivery of `event_type`, minus those in its trail."""
        names = self._subscribers_by_type.get(event_type, ())
        if not trail:
            return list(names)
        skip = set(trail)
        return [name for name in names if name not in skip]


CONSUMERS = ConsumerRegistry()


def _check(kind: str, name: str, event_types: Iterable[str]) -> None:
    if not NAME.match(name):
        raise ValueError(f"{kind} name {name!r}: use dotted lower case like 'sla.clocks'")
    if name in CONSUMERS.handlers or name in CONSUMERS.subscribers:
        raise ValueError(f"a consumer named {name!r} is already registered")
    unknown = sorted(set(event_types) - set(EVENT_TYPES.names()))
    if unknown:
        raise ValueError(f"{kind} {name!r} listens to undeclared event types: {', '.join(unknown)}")


def register_handler(handler: Handler) -> Handler:
    _check("handler", handler.name, handler.event_types)
    CONSUMERS.handlers[handler.name] = handler
    CONSUMERS._refresh()
    return handler


def register_subscriber(subscriber: Subscriber) -> Subscriber:
    _check("subscriber", subscriber.name, subscriber.event_types)
    CONSUMERS.subscribers[subscriber.name] = subscriber
    CONSUMERS._refresh()
    return subscriber


def unregister(name: str) -> None:
    """Remove a consumer (tests register throwaway subscribers)."""
    CONSUMERS.handlers.pop(name, None)
    CONSUMERS.subscribers.pop(name, None)
    CONSUMERS._refresh()
