from __future__ import annotations

import pytest

from apps.events.consumers import Handler, Subscriber, register_handler, register_subscriber, unregister
from apps.events.types import DomainEvent, event_type


@event_type("probe.happened", summary="Something happened to a thing (tests only).")
class ProbeHappened(DomainEvent):
    thing_id: int


@event_type("probe.echoed", summary="A reaction to probe.happened (tests only).")
class ProbeEchoed(DomainEvent):
    thing_id: int


@pytest.fixture
def subscribe():
    """`subscribe(name, handle, types=("probe.happened",), max_attempts=None)`: a subscriber
    for the test; removed afterwards."""
    names = []

    def make(name: str, handle, types=("probe.happened",), max_attempts=None) -> Subscriber:
        names.append(name)
        return register_subscriber(
            Subscriber(name=name, event_types=frozenset(types), handle=handle, max_attempts=max_attempts)
        )

    yield make
    for name in names:
        unregister(name)


@pytest.fixture
def handle_in_transaction():
    names = []

    def make(name: str, handle, types=("probe.happened",)) -> Handler:
        names.append(name)
        return register_handler(Handler(name=name, event_types=frozenset(types), handle=handle))

    yield make
    for name in names:
        unregister(name)


@pytest.fixture
def no_kick(monkeypatch):
    """Kicks after commit are recorded, not sent (the in-process tests run the relay).
    They are recorded by the kick thread: `kick.flush()` before reading the list."""
    from apps.events.services import kick

    kick.flush()  # a kick of an earlier test is not this one's
    sent: list[str] = []
    monkeypatch.setattr(kick, "send_relay", lambda schema, **options: sent.append(schema) or True)
    return sent
