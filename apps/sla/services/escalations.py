"""What happens when a clock crosses a threshold: audit and escalation steps.

The sweep emits `sla.warning` / `sla.breached` into the outbox; the SLA app's subscriber
`sla.escalations` (`apps/sla/consumers.py`) calls `sla_clock_events_process` for the
clock, after commit, on a worker. It handles every pending event of that clock at once,
so the deliveries of that clock's other events find nothing left. Who is told is the
notifications app's business (it subscribes to the same events, and to `sla.escalated`
for the notify steps).
`sla_events_process` does the same for every pending event of the tenant (an operator's
catch-up, and the tests).

Escalation steps write tickets through the tickets services (a downward call: policy
check, audit and events as for anyone), as the system, and each is audited and emitted
as `sla.escalated`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.events.consumers import Deferred
from apps.events.services.emit import emit
from apps.policies.decisions import PolicyDenied
from apps.policies.services import policy_require
from apps.tickets.models import Ticket
from apps.tickets.selectors import priority_matrix_get
from apps.tickets.services import ticket_assign, ticket_update

from .. import conf
from ..actions import SLA_ESCALATE
from ..choices import PRIORITIES, ClockState, EscalationAction, EscalationOutcome, EventKind, StepMetric
from ..events import SlaEscalated
from ..models import SlaClock, SlaEscalation, SlaEscalationStep, SlaEvent

logger = logging.getLogger(__name__)


def _steps_for(policy_ids: Iterable[int]) -> dict[int, list[SlaEscalationStep]]:
    steps: dict[int, list[SlaEscalationStep]] = defaultdict(list)
    for step in (
        SlaEscalationStep.objects.filter(policy_id__in=set(policy_ids))
        .select_related("team")
        .order_by("at_percent", "position", "pk")
    ):
        steps[step.policy_id].append(step)
    return steps


def sla_events_process(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Audit each unprocessed event, run its escalation steps, mark it processed.

    Work is taken ticket by ticket, in the lock order of every ticket write: first the
    tickets with unprocessed events (FOR NO KEY UPDATE, as the tickets services lock
    them), then their clocks. Both with SKIP LOCKED, so concurrent workers never
    process an event twice, and a ticket someone is writing right now (or a clock the
    sweep holds) is left for the next run instead of waited for: an escalation step
    that writes the ticket never waits for the ticket while holding its clocks, which
    deadlocked with a writer holding the ticket and waiting for the clocks. The sweep
    enqueues processing again for events left unprocessed (`sla_sweep`).

    All pending events of one clock are handled together. Steps only run while the clock
    is still open: an event caught up after the ticket was resolved is recorded and
    audited, and its steps are recorded as skipped. Returns how many events were
    processed.
    """
    batch = int(batch or conf.get("WARDEN_SLA_PROCESS_BATCH"))
    total = 0
    while True:
        with transaction.atomic():
            pending = SlaEvent.objects.filter(processed_at__isnull=True)
            ticket_ids = list(
                Ticket.objects.filter(pk__in=Subquery(pending.values("ticket_id")))
                .select_for_update(skip_locked=True, no_key=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ticket_ids:
                break
            clock_ids = list(
                SlaClock.objects.filter(ticket_id__in=ticket_ids, pk__in=Subquery(pending.values("clock_id")))
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            events = list(
                SlaEvent.objects.filter(clock_id__in=clock_ids, processed_at__isnull=True)
                .select_for_update(of=("self",))
                .select_related("clock__policy", "ticket__assignee", "ticket__team__lead")
                .order_by("clock_id", "threshold")
            )
            steps = _steps_for(e.clock.policy_id for e in events if e.clock.policy_id)
            by_clock: dict[int, list[SlaEvent]] = defaultdict(list)
            for event in events:
                by_clock[event.clock_id].append(event)
            for clock_events in by_clock.values():
                _process_clock_events(clock_events, steps)
            if events:
                SlaEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=now or timezone.now())
        total += len(events)
        if len(ticket_ids) < batch or not events:
            break
    return total


def _process_clock_events(events: list[SlaEvent], steps: dict[int, list[SlaEscalationStep]]) -> None:
    """Audit each event, and run the policy's escalation steps for it while the clock is
    open (after the ticket was resolved they are recorded as skipped). Who is told is the
    notifications app's business: it subscribes to `sla.warning`, `sla.breached` and, for
    the notify steps, `sla.escalated`."""
    for event in sorted(events, key=lambda e: e.threshold):
        clock = event.clock
        audit_record(
            actor=None,
            action="sla.breached" if event.kind == EventKind.BREACH else "sla.warning",
            target=event.ticket,
            payload={
                "number": event.ticket.number,
                "metric": event.metric,
                "threshold": event.threshold,
                "crossed_at": event.crossed_at.isoformat(),
                "due_at": clock.due_at.isoformat() if clock.due_at else None,
                "policy": clock.policy_id,
                "event": event.pk,
            },
        )
        live = clock.stopped_at is None and clock.state != ClockState.CANCELLED
        for step in steps.get(clock.policy_id, []):
            if step.at_percent != event.threshold or step.metric not in (StepMetric.ANY, event.metric):
                continue
            if not live:
                _record_escalation(event, step, EscalationOutcome.SKIPPED, "the clock had stopped before processing")
                continue
            sla_escalate(event=event, step=step)


def _record_escalation(event: SlaEvent, step: SlaEscalationStep, outcome: str, detail: str = "") -> SlaEscalation:
    row, _ = SlaEscalation.objects.get_or_create(
        event=event, step=step, defaults={"action": step.action, "outcome": outcome, "detail": detail[:300]}
    )
    return row


def _emit_escalated(event: SlaEvent, step: SlaEscalationStep, outcome: str) -> None:
    emit(SlaEscalated(ticket_id=event.ticket_id, sla_event_id=event.pk, step_id=step.pk, action=step.action,
                      outcome=str(outcome), metric=event.metric, threshold=event.threshold))


def sla_escalate(*, event: SlaEvent, step: SlaEscalationStep) -> SlaEscalation:
    """Run one escalation step for one event, as the system: policy `sla.escalate`
    first (a denial is recorded and audited by the policies app), the action in a
    savepoint (a failure is recorded, the other steps still run), then audited."""
    if SlaEscalation.objects.filter(event=event, step=step).exists():
        return SlaEscalation.objects.get(event=event, step=step)
    ticket = event.ticket
    context = {"step": step.action, "threshold": event.threshold, "metric": event.metric, "event": event.pk}
    try:
        policy_require(None, SLA_ESCALATE, ticket, context)
    except PolicyDenied as exc:
        row = _record_escalation(event, step, EscalationOutcome.DENIED, str(exc))
        _emit_escalated(event, step, EscalationOutcome.DENIED)
        return row
    try:
        with transaction.atomic():
            outcome, detail = _ESCALATIONS[step.action](ticket=ticket, step=step)
    except ApplicationError as exc:
        outcome, detail = EscalationOutcome.FAILED, exc.message
    except Exception as exc:  # a broken step must not block the others or the sweep
        logger.exception("SLA escalation %s for event %s failed", step.action, event.pk)
        outcome, detail = EscalationOutcome.FAILED, f"{type(exc).__name__}"
    if outcome == EscalationOutcome.DONE and step.action in (EscalationAction.REASSIGN_TEAM, EscalationAction.RAISE_PRIORITY):
        ticket.refresh_from_db()  # later steps of this event see the ticket as it now is
    row = _record_escalation(event, step, outcome, detail)
    _emit_escalated(event, step, outcome)
    audit_record(
        actor=None,
        action="sla.escalated",
        target=ticket,
        payload={
            "number": ticket.number,
            "event": event.pk,
            "step": step.pk,
            "action": step.action,
            "outcome": outcome,
            "detail": detail[:300],
            "threshold": event.threshold,
            "metric": event.metric,
        },
    )
    return row


def _notify_assignee(*, ticket, step) -> tuple[str, str]:
    """Done when there is someone to tell; the notifications app tells them (sla.escalated)."""
    if ticket.assignee is None or not ticket.assignee.is_active:
        return EscalationOutcome.SKIPPED, "no assignee"
    return EscalationOutcome.DONE, ticket.assignee.email


def _notify_team_lead(*, ticket, step) -> tuple[str, str]:
    lead = ticket.team.lead if ticket.team is not None else None
    if lead is None or not lead.is_active:
        return EscalationOutcome.SKIPPED, "no team lead"
    return EscalationOutcome.DONE, lead.email


def _reassign_team(*, ticket, step) -> tuple[str, str]:
    if step.team is None:
        return EscalationOutcome.FAILED, "no team configured"
    if ticket.team_id == step.team_id:
        return EscalationOutcome.SKIPPED, f"already with {step.team.name}"
    ticket_assign(actor=None, ticket=ticket, team=step.team)
    return EscalationOutcome.DONE, f"reassigned to {step.team.name}"


def _raise_priority(*, ticket, step) -> tuple[str, str]:
    """One level up (P3 -> P2) through `ticket_update`: the tickets app derives the
    priority from impact x urgency, so the smallest change of those that gives the
    next priority in the tenant's matrix is made (urgency first)."""
    index = PRIORITIES.index(ticket.priority) if ticket.priority in PRIORITIES else 0
    if index == 0:
        return EscalationOutcome.SKIPPED, f"already {ticket.priority}"
    wanted = PRIORITIES[index - 1]
    matrix = priority_matrix_get()
    choices = []
    for impact_key, row in matrix.items():
        for urgency_key, priority in row.items():
            if priority != wanted:
                continue
            impact, urgency = int(impact_key), int(urgency_key)
            cost = (impact != ticket.impact) + (urgency != ticket.urgency)
            choices.append(
                (cost, impact != ticket.impact, abs(impact - ticket.impact) + abs(urgency - ticket.urgency), impact, urgency)
            )
    if not choices:
        return EscalationOutcome.SKIPPED, f"the priority matrix never gives {wanted}"
    _, _, _, impact, urgency = min(choices)
    ticket_update(actor=None, ticket=ticket, impact=impact, urgency=urgency)
    return EscalationOutcome.DONE, f"{PRIORITIES[index]} -> {wanted}"


_ESCALATIONS = {
    EscalationAction.NOTIFY_ASSIGNEE: _notify_assignee,
    EscalationAction.NOTIFY_TEAM_LEAD: _notify_team_lead,
    EscalationAction.REASSIGN_TEAM: _reassign_team,
    EscalationAction.RAISE_PRIORITY: _raise_priority,
}



def sla_clock_events_process(
    *, clock_id: int, ticket_id: int, sla_event_id: int | None = None, now: datetime | None = None
) -> int:
    """Handle the pending events of one clock (the `sla.escalations` subscriber's work).

    `sla_event_id` is the event the delivery is about: when it was handled already
    (together with the other pending events of its clock), nothing is left to do and
    nothing is locked. Otherwise locks in the order of every ticket write, the ticket
    (FOR NO KEY UPDATE) and then the clock, and waits for neither: when a writer or the
    sweep holds one of them, the delivery is deferred (tried again shortly), never
    blocked behind it. Returns how many events were handled.
    """
    if sla_event_id is not None and not SlaEvent.objects.filter(pk=sla_event_id, processed_at__isnull=True).exists():
        return 0
    locked_ticket = Ticket.objects.filter(pk=ticket_id).select_for_update(skip_locked=True, no_key=True, of=("self",))
    if not locked_ticket.values_list("pk", flat=True):
        if not Ticket.objects.filter(pk=ticket_id).exists():
            return 0  # the ticket (and its clocks and events) no longer exist
        raise Deferred(f"ticket {ticket_id} is being written", seconds=2)
    locked_clock = SlaClock.objects.filter(pk=clock_id).select_for_update(skip_locked=True, of=("self",))
    if not locked_clock.values_list("pk", flat=True):
        if not SlaClock.objects.filter(pk=clock_id).exists():
            return 0
        raise Deferred(f"clock {clock_id} is being swept or synced", seconds=2)
    events = list(
        SlaEvent.objects.filter(clock_id=clock_id, processed_at__isnull=True)
        .select_for_update(of=("self",))
        .select_related("clock__policy", "ticket__assignee", "ticket__team__lead")
        .order_by("threshold")
    )
    if not events:
        return 0
    steps = _steps_for([events[0].clock.policy_id] if events[0].clock.policy_id else [])
    _process_clock_events(events, steps)
    SlaEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=now or timezone.now())
    return len(events)
