"""A probe subscriber for the outbox tests: its effect is a row written in the delivery's
transaction (an audit event `probe.delivered` naming the event and the attempt), so a
test counts how often the effect really happened.

Registered in the test process (so that emitting writes its deliveries) and in worker
processes started with `-A tests.events.probe_app` (so that the relay there runs it).
`PROBE_SLEEP_ON_ATTEMPT=n` in a worker's environment makes attempt n write its effect and
then hang (a test kills the worker meanwhile); `PROBE_FAIL=1` makes every attempt fail.
"""

from __future__ import annotations

import logging
import os
import time

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.events.consumers import CONSUMERS, Subscriber, register_subscriber, unregister

logger = logging.getLogger("tests.events.probe")

NAME = "probe.effects"
EVENT_TYPES = frozenset({"ticket.created"})


def handle(event, delivery) -> None:
    audit_record(
        actor=None,
        action="probe.delivered",
        payload={"event": delivery.event_id, "ticket": event.ticket_id, "attempt": delivery.attempt},
    )
    if os.environ.get("PROBE_FAIL") == "1":
        raise RuntimeError("the probe was told to fail")
    if os.environ.get("PROBE_SLEEP_ON_ATTEMPT") == str(delivery.attempt):
        logger.warning("probe: attempt %s of event %s wrote its effect and now hangs", delivery.attempt, delivery.event_id)
        time.sleep(120)


def register() -> None:
    if NAME not in CONSUMERS.subscribers:
        register_subscriber(Subscriber(name=NAME, event_types=EVENT_TYPES, handle=handle, description="test probe"))


def remove() -> None:
    unregister(NAME)


def effects(event_id: int) -> list[int]:
    """The attempts whose effect committed for `event_id` (current tenant)."""
    return [
        e.payload_data["attempt"]
        for e in AuditEvent.objects.filter(action="probe.delivered").order_by("seq")
        if e.payload_data.get("event") == event_id
    ]
