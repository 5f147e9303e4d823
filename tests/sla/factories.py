"""Builders for the SLA tests. Tickets are written directly (not through the tickets
services) so a test controls every timestamp; calendars and policies go through the
SLA services like the admin and the API do."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Max
from django.utils import timezone

from apps.sla import services
from apps.sla.validation import CalendarInput, PolicyInput, ShiftInput, StepInput


def make_calendar(
    *,
    actor=None,
    name: str = "24x7",
    timezone_name: str = "UTC",
    always_open: bool = True,
    hours: tuple[time, time] | None = None,
    weekdays=range(5),
    shifts=None,
    country: str = "",
    subdivision: str = "",
    holidays=(),
):
    if shifts is None and hours is not None:
        shifts = [ShiftInput(d, hours[0], hours[1]) for d in weekdays]
    return services.sla_calendar_save(
        actor=actor,
        data=CalendarInput(
            name=name,
            timezone=timezone_name,
            always_open=always_open if shifts is None else False,
            holiday_country=country,
            holiday_subdivision=subdivision,
            shifts=shifts or [],
            holidays=list(holidays),
        ),
    )


def make_policy(
    *,
    calendar,
    actor=None,
    name: str = "Standard",
    order: int = 100,
    active: bool = True,
    targets=None,
    categories=(),
    teams=(),
    pause_statuses=("pending",),
    thresholds=(50, 75, 90),
    escalations=(),
):
    if targets is None:
        targets = {p: {"first_response": 60, "resolution": 240} for p in ("P1", "P2", "P3", "P4")}
    return services.sla_policy_save(
        actor=actor,
        data=PolicyInput(
            name=name,
            calendar=calendar,
            targets=targets,
            order=order,
            active=active,
            categories=list(categories),
            teams=list(teams),
            pause_statuses=list(pause_statuses),
            warning_thresholds=list(thresholds),
            escalations=[s if isinstance(s, StepInput) else StepInput(**s) for s in escalations],
        ),
    )


def make_ticket(
    *,
    requester,
    created_at: datetime | None = None,
    priority: str = "P3",
    status: str = "new",
    title: str = "SLA test ticket",
    **fields,
):
    from apps.tickets.models import Ticket, TicketCounter

    number = (Ticket.objects.aggregate(m=Max("number"))["m"] or 0) + 1
    TicketCounter.objects.update(last_number=number)
    when = created_at or timezone.now()
    return Ticket.objects.create(
        number=number,
        title=title,
        requester=requester,
        priority=priority,
        status=status,
        created_at=when,
        updated_at=when,
        **fields,
    )


def set_status(ticket, to: str, at: datetime):
    """Change the status like the tickets service does (timestamps), then call the hook."""
    old = ticket.status
    ticket.status = to
    ticket.updated_at = at
    if to == "resolved":
        ticket.resolved_at = at
    if to == "closed":
        ticket.closed_at = at
    if old == "resolved" and to == "open":
        ticket.resolved_at = None
    ticket.save()
    return services.sla_on_status_changed(ticket, old, to, at=at)


def clocks(ticket) -> dict:
    from apps.sla.models import SlaClock

    return {c.metric: c for c in SlaClock.objects.filter(ticket=ticket)}
