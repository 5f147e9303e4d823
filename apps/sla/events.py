"""The domain events of the SLA app (ids only; see apps/events/types.py).

`sla.warning` and `sla.breached` are emitted by the sweep, once per clock and threshold,
in the statement that records the crossing; `sla.paused` and `sla.resumed` when a
ticket's status change stops or restarts a clock; `sla.escalated` for every escalation
step run (whatever its outcome).
"""

from __future__ import annotations

from apps.events.types import DomainEvent, event_type


@event_type(
    "sla.warning",
    summary="A clock used `threshold` percent of its target (50, 75, 90 by default); `metric` is first_response "
    "or resolution.",
)
class SlaWarning(DomainEvent):
    ticket_id: int
    clock_id: int
    sla_event_id: int
    metric: str
    threshold: int


@event_type("sla.breached", summary="A clock passed its due time without being met.")
class SlaBreached(DomainEvent):
    ticket_id: int
    clock_id: int
    sla_event_id: int
    metric: str


@event_type(
    "sla.escalated",
    summary="An escalation step of the ticket's SLA policy ran for a warning or breach; `outcome` is done, "
    "skipped, failed or denied (by a governance policy).",
)
class SlaEscalated(DomainEvent):
    ticket_id: int
    sla_event_id: int
    step_id: int
    action: str
    outcome: str
    metric: str = ""  # of the warning or breach the step ran for
    threshold: int = 0


@event_type("sla.paused", summary="A clock stopped counting: the ticket entered a status the policy pauses in.")
class SlaPaused(DomainEvent):
    ticket_id: int
    clock_id: int
    metric: str


@event_type("sla.resumed", summary="A paused clock counts again: the ticket left the status that paused it.")
class SlaResumed(DomainEvent):
    ticket_id: int
    clock_id: int
    metric: str
