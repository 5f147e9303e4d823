"""Clock arithmetic: the one set of rules for when an SLA clock runs, pauses, stops,
comes back, and what it is due. Pure: no ORM, no I/O (the calendar is passed in).

Both the engine (`services.clocks.sla_sync`, applying each ticket change as it happens)
and the what-if simulator (`simulation.py`, replaying a ticket's recorded history
against a draft policy) apply these functions, so the two cannot disagree.

A "clock" here is anything with the SlaClock attributes (the model, the bulk importer's
rows, the simulator's replay clock). A "ticket state" is anything with `status`,
`first_response_at`, `resolved_at`, `closed_at` and `updated_at`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime

from apps.tickets import workflow

from .calendar import Calendar
from .choices import BREACH, ClockState, Metric

# The status vocabulary is the workflow's: clocks run while a ticket is active (new,
# open, pending), are met when it is resolved or closed, and are set aside when it is
# cancelled.
ACTIVE = workflow.ACTIVE
FINISHED = frozenset({workflow.RESOLVED, workflow.CLOSED})
CANCELLED = workflow.CANCELLED


@functools.lru_cache(maxsize=256)
def levels(thresholds: tuple[int, ...]) -> list[int]:
    """The warning thresholds a clock emits, in order, then the breach (100)."""
    return sorted({int(t) for t in thresholds if 0 < int(t) < BREACH}) + [BREACH]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def pauses_of(clock, *, include_open: bool = True) -> list[tuple[datetime, datetime | None]]:
    """The clock's pauses as (start, end) pairs; the open one (end None) last."""
    pairs: list[tuple[datetime, datetime | None]] = [(parse_datetime(a), parse_datetime(b)) for a, b in (clock.pauses or [])]
    if include_open and clock.paused_at is not None:
        pairs.append((clock.paused_at, None))
    return pairs


def stop_instant(ticket, metric: str) -> datetime | None:
    """The clock stop rule: when `metric` was satisfied according to the ticket's state,
    or None while it still runs. A resolution (or a closure) satisfies both metrics: it
    answers the requester too, so it stops a first-response clock that had no reply."""
    finished = None
    if ticket.status in FINISHED:
        finished = ticket.resolved_at or ticket.closed_at or ticket.updated_at
    if metric == Metric.FIRST_RESPONSE:
        candidates = [m for m in (ticket.first_response_at, finished) if m is not None]
        return min(candidates) if candidates else None
    return finished


def close_pause(clock, end: datetime) -> None:
    if clock.paused_at is None:
        return
    clock.pauses = [*(clock.pauses or []), [iso(clock.paused_at), iso(max(end, clock.paused_at))]]
    clock.paused_at = None


def clock_compute(
    clock, calendar: Calendar | None, *, thresholds: Sequence[int], now: datetime, risk_percent: int
):
    """Fill the derived fields of `clock` (due_at, risk_at, marks, next_mark_at, state,
    met_at, breached_at, paused_seconds) from its start, target, pauses and stop."""
    if clock.state == ClockState.CANCELLED:
        clock.thresholds, clock.marks, clock.next_mark_at = [], [], None
        clock.due_at = clock.risk_at = clock.met_at = clock.breached_at = None
        return clock
    target_us = clock.target_seconds * 1_000_000
    marks_levels = levels(tuple(thresholds))
    wanted = [target_us * level // BREACH for level in marks_levels]
    wanted.append(target_us * risk_percent // BREACH)
    closed = pauses_of(clock, include_open=False) if clock.pauses else []
    pauses = closed + [(clock.paused_at, None)] if clock.paused_at is not None else closed
    found = calendar.deadlines_us(clock.started_at, wanted, pauses)
    marks, risk = found[:-1], found[-1]
    due = marks[-1]
    stopped = clock.stopped_at
    if stopped is not None:
        # Only what was crossed before the clock stopped can still be emitted.
        marks = [m if m is not None and m < stopped else None for m in marks]
        risk = None
    clock.thresholds, clock.marks = list(marks_levels), marks
    clock.due_at, clock.risk_at = due, risk
    pending = [m for m in marks if m is not None]
    clock.next_mark_at = min(pending) if pending else None
    clock.paused_seconds = int(sum((calendar.between(a, b) for a, b in closed), timedelta(0)).total_seconds()) if closed else 0
    if stopped is not None:
        if due is not None and stopped > due:
            clock.state, clock.breached_at, clock.met_at = ClockState.BREACHED, due, None
        else:
            clock.state, clock.breached_at, clock.met_at = ClockState.MET, None, stopped
    elif due is not None and due <= now:
        clock.state, clock.breached_at, clock.met_at = ClockState.BREACHED, due, None
    else:
        clock.state = ClockState.PAUSED if clock.paused_at is not None else ClockState.RUNNING
        clock.breached_at = clock.met_at = None
    return clock


def reconcile(
    clock,
    ticket,
    metric: str,
    *,
    target_minutes: int | None,
    pause_statuses: Sequence[str],
    calendar: Calendar | None,
    thresholds: Sequence[int],
    at: datetime,
    now: datetime,
    risk_percent: int,
    on_target: Callable[[object], None] | None = None,
):
    """Apply the ticket's current state (as of `at`) to one clock of `metric`, under a
    policy that gives it `target_minutes` (None: no policy or no target applies).

    * A finished clock keeps its outcome, whatever changes later, except a resolution
      clock whose ticket was reopened: it runs again, the time spent resolved paused.
    * No target any more: the clock is set aside (cancelled); it comes back,
      re-targeted from its start, if a target applies again.
    * A cancelled ticket stops and sets aside its clocks.
    * Otherwise the clock pauses while the ticket is in one of `pause_statuses`.

    `on_target(clock)` is called when the clock takes the policy's target (the engine
    records which policy and calendar the clock follows).
    """
    status = ticket.status
    if not clock.history or clock.history[-1][0] != status:
        clock.history = [*(clock.history or []), [status, iso(at)]]
    stop = stop_instant(ticket, metric)
    reopened = (
        clock.stopped_at is not None
        and metric == Metric.RESOLUTION
        and status in ACTIVE
        and stop is None
        and clock.state != ClockState.CANCELLED
    )
    if clock.stopped_at is not None and not reopened:
        return clock
    if target_minutes is None:
        close_pause(clock, at)
        clock.state = ClockState.CANCELLED
        return clock_compute(clock, None, thresholds=[], now=now, risk_percent=risk_percent)
    clock.target_seconds = target_minutes * 60
    if on_target is not None:
        on_target(clock)
    if clock.state == ClockState.CANCELLED:
        clock.state = ClockState.RUNNING
    if reopened:
        # The time it spent resolved does not count.
        clock.pauses = [*(clock.pauses or []), [iso(clock.stopped_at), iso(max(at, clock.stopped_at))]]
        clock.stopped_at = None
    if status == CANCELLED:
        close_pause(clock, at)
        clock.stopped_at = max(at, clock.started_at)
        clock.state = ClockState.CANCELLED
    elif stop is not None:
        close_pause(clock, stop)
        clock.stopped_at = max(stop, clock.started_at)
    else:
        pause = status in set(pause_statuses)
        if pause and clock.paused_at is None:
            clock.paused_at = max(at, clock.started_at)
        elif not pause and clock.paused_at is not None:
            close_pause(clock, at)
    return clock_compute(clock, calendar, thresholds=thresholds, now=now, risk_percent=risk_percent)


class ReplayClock:
    """A clock in memory (the simulator's, the bulk importer's): the attributes the
    functions above read and write, without a model instance."""

    state = ClockState.RUNNING
    paused_at = stopped_at = due_at = risk_at = met_at = breached_at = next_mark_at = None
    paused_seconds = 0

    def __init__(self, **values) -> None:
        self.pauses: list = []
        self.history: list = []
        self.__dict__.update(values)
