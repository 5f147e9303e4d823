"""What-if: how would the tickets of the last N days have fared under a (draft) policy?

Read only. For each ticket created in the window that the policy's conditions match
(its order is ignored: the question is "this policy instead"), each metric with a target
is replayed from the ticket's creation with the policy's calendar, target and pause
statuses:

* the ticket's recorded status history (kept on its actual clocks) and its first response
  are fed, in order, through the same clock arithmetic the engine applies to every ticket
  change (`clockmath.reconcile`: the one stop rule, pause rule and reopen rule), with the
  draft's calendar, target and pause statuses. Replaying the policy in force therefore
  gives exactly the clocks the engine keeps;
* a ticket that never had clocks has no recorded history: it is replayed from its
  creation and, if finished, its resolution, without pauses (counted in `without_history`).

The outcome (met / breached / running) is compared with what actually happened (the
ticket's clock: met / breached / running, or none when no SLA applied).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import pgettext_lazy

from apps.tickets import workflow
from apps.tickets.models import Ticket
from apps.tickets.tree import category_tree, descendants

from . import conf, selectors
from .calendar import Calendar
from .choices import ClockState, Metric
from .clockmath import FINISHED, ReplayClock, reconcile
from .models import SlaClock, SlaPolicy

MET, BREACHED, RUNNING, NONE = "met", "breached", "running", "none"
OUTCOMES = (MET, BREACHED, RUNNING)
ACTUALS = (MET, BREACHED, RUNNING, NONE)
# What the what-if table shows for each outcome (the codes stay the data).
OUTCOME_LABELS = {
    MET: pgettext_lazy("SLA outcome", "met"),
    BREACHED: pgettext_lazy("SLA outcome", "breached"),
    RUNNING: pgettext_lazy("SLA outcome", "running"),
    NONE: pgettext_lazy("SLA outcome", "none"),
}


@dataclass
class MetricResult:
    metric: str
    label: str
    draft: Counter = field(default_factory=Counter)
    actual: Counter = field(default_factory=Counter)
    matrix: Counter = field(default_factory=Counter)  # (actual, draft) -> count

    def draft_totals(self) -> list[int]:
        return [self.draft[d] for d in OUTCOMES]

    def rows(self) -> list[dict]:
        """One row per actual outcome, with counts per draft outcome (for templates)."""
        return [
            {"actual": a, "actual_label": OUTCOME_LABELS[a], "cells": [self.matrix[(a, d)] for d in OUTCOMES],
             "total": self.actual[a]}
            for a in ACTUALS
        ]


@dataclass
class Flip:
    number: int
    priority: str
    metric: str
    actual: str
    draft: str
    draft_due: datetime | None

    @property
    def actual_label(self) -> str:
        return str(OUTCOME_LABELS.get(self.actual, self.actual))

    @property
    def draft_label(self) -> str:
        return str(OUTCOME_LABELS.get(self.draft, self.draft))


@dataclass
class SimulationResult:
    policy: str
    days: int
    since: datetime
    tickets: int = 0
    matched: int = 0
    without_history: int = 0
    truncated: bool = False
    metrics: list[MetricResult] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)
    flip_count: int = 0


def _actual(clock: SlaClock | None) -> str:
    if clock is None or clock.state == ClockState.CANCELLED:
        return NONE
    if clock.state == ClockState.MET:
        return MET
    if clock.state == ClockState.BREACHED or clock.breached_at is not None:
        return BREACHED
    return RUNNING


def _history(clocks: list[SlaClock]) -> list[tuple[str, datetime]]:
    longest = max((c.history or [] for c in clocks), key=len, default=[])
    return [(status, parse_datetime(since)) for status, since in longest]


def _synthetic_history(ticket) -> list[tuple[str, datetime]]:
    """For a ticket that never had clocks: its creation and, if finished, its finish."""
    history = [(workflow.NEW, ticket.created_at)]
    if ticket.status in FINISHED:
        history.append((ticket.status, ticket.resolved_at or ticket.closed_at or ticket.updated_at))
    return history


class _TicketAt:
    """The ticket as the engine saw it at `at`: its status then, its first response if it
    had come, its resolution and closure times as they stood."""

    def __init__(self, ticket, history: list[tuple[str, datetime]], at: datetime) -> None:
        current = [(status, since) for status, since in history if since <= at]
        self.status = current[-1][0] if current else workflow.NEW
        self.first_response_at = ticket.first_response_at if ticket.first_response_at and ticket.first_response_at <= at else None
        resolved = [since for status, since in current if status == workflow.RESOLVED]
        closed = [since for status, since in current if status == workflow.CLOSED]
        self.resolved_at = resolved[-1] if resolved and self.status in FINISHED else None
        self.closed_at = closed[-1] if closed and self.status == workflow.CLOSED else None
        self.updated_at = at


def replay(
    ticket,
    history: list[tuple[str, datetime]],
    metric: str,
    *,
    target_minutes: int,
    pause_statuses,
    calendar: Calendar,
    thresholds,
    now: datetime,
) -> ReplayClock:
    """The clock `metric` of `ticket` would have had under a policy with this target,
    calendar and pause statuses: every recorded change, in order, through the engine's
    own rules."""
    clock = ReplayClock(ticket_id=ticket.pk, metric=metric, started_at=ticket.created_at, target_seconds=1)
    moments = sorted({since for _, since in history} | ({ticket.first_response_at} if ticket.first_response_at else set()))
    for at in moments:
        reconcile(
            clock,
            _TicketAt(ticket, history, at),
            metric,
            target_minutes=target_minutes,
            pause_statuses=pause_statuses,
            calendar=calendar,
            thresholds=thresholds,
            at=at,
            now=now,
            risk_percent=int(conf.get("WARDEN_SLA_AT_RISK_PERCENT")),
        )
    return clock


def _outcome(clock: ReplayClock) -> str:
    if clock.state == ClockState.MET:
        return MET
    if clock.state == ClockState.BREACHED or clock.breached_at is not None:
        return BREACHED
    return RUNNING


def sla_simulate(*, policy: SlaPolicy, days: int, now: datetime | None = None, max_flips: int = 50) -> SimulationResult:
    now = now or timezone.now()
    days = max(1, min(int(days), int(conf.get("WARDEN_SLA_SIMULATION_MAX_DAYS"))))
    limit = int(conf.get("WARDEN_SLA_SIMULATION_MAX_TICKETS"))
    since = now - timedelta(days=days)
    result = SimulationResult(policy=policy.name, days=days, since=since)
    calendar = selectors.calendar_for(policy.calendar)
    shape = selectors.policy_shape(policy)
    categories = descendants(shape.category_ids, category_tree()) if shape.category_ids else None
    pause_statuses = set(policy.pause_statuses)
    metrics = {m: MetricResult(metric=m, label=str(Metric(m).label)) for m in Metric.values}
    tickets = list(
        Ticket.objects.filter(created_at__gte=since, created_at__lte=now)
        .exclude(status=workflow.CANCELLED)
        .order_by("-created_at", "-pk")
        .prefetch_related(selectors.clock_prefetch())[: limit + 1]
    )
    if len(tickets) > limit:
        result.truncated, tickets = True, tickets[:limit]
    result.tickets = len(tickets)
    for ticket in tickets:
        if ticket.priority not in shape.priorities:
            continue
        if categories is not None and ticket.category_id not in categories:
            continue
        if shape.team_ids and ticket.team_id not in shape.team_ids:
            continue
        result.matched += 1
        clocks = selectors.ticket_clocks(ticket)
        history = _history(clocks)
        if not history:
            result.without_history += 1
            history = _synthetic_history(ticket)
        by_metric = {c.metric: c for c in clocks}
        for metric in Metric.values:
            minutes = policy.target_minutes(ticket.priority, metric)
            if minutes is None:
                continue
            clock = replay(
                ticket, history, metric, target_minutes=minutes, pause_statuses=pause_statuses, calendar=calendar,
                thresholds=policy.warning_thresholds, now=now,
            )
            draft, due = _outcome(clock), clock.due_at
            actual = _actual(by_metric.get(metric))
            bucket = metrics[metric]
            bucket.draft[draft] += 1
            bucket.actual[actual] += 1
            bucket.matrix[(actual, draft)] += 1
            if actual != draft and actual in (MET, BREACHED) and draft in (MET, BREACHED):
                result.flip_count += 1
                if len(result.flips) < max_flips:
                    result.flips.append(Flip(ticket.number, ticket.priority, str(Metric(metric).label), actual, draft, due))
    result.metrics = list(metrics.values())
    return result
