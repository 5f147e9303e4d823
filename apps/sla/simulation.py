"""What-if: how would the tickets of the last N days have fared under a (draft) policy?

Read only. For each ticket created in the window that the policy's conditions match
(its order is ignored: the question is "this policy instead"), each metric with a target
is replayed from the ticket's creation with the policy's calendar, target and pause
statuses:

* stop: the first response (or the resolution, which answers too) for first response;
  the resolution for resolution;
* pauses: from the status history recorded on the ticket's actual clocks (the intervals
  spent in the draft's pause statuses, plus time spent resolved before a reopen). A
  ticket that never had clocks has no recorded history: it is replayed without pauses
  (counted in `without_history`).

The outcome (met / breached / running) is compared with what actually happened (the
ticket's clock: met / breached / running, or none when no SLA applied).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import conf, selectors
from .calendar import Calendar
from .choices import ClockState, Metric
from .models import SlaClock, SlaPolicy
from .validation import descendants

MET, BREACHED, RUNNING, NONE = "met", "breached", "running", "none"
OUTCOMES = (MET, BREACHED, RUNNING)
ACTUALS = (MET, BREACHED, RUNNING, NONE)


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
        return [{"actual": a, "cells": [self.matrix[(a, d)] for d in OUTCOMES], "total": self.actual[a]} for a in ACTUALS]


@dataclass
class Flip:
    number: int
    priority: str
    metric: str
    actual: str
    draft: str
    draft_due: datetime | None


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


def _pauses(history: list[tuple[str, datetime]], pause_statuses: set[str], metric: str) -> list[tuple[datetime, datetime | None]]:
    pauses: list[tuple[datetime, datetime | None]] = []
    for index, (status, since) in enumerate(history):
        until = history[index + 1][1] if index + 1 < len(history) else None
        paused = status in pause_statuses
        if metric == Metric.RESOLUTION and status == "resolved" and until is not None:
            paused = True  # resolved, then reopened: that time did not count
        if paused:
            pauses.append((since, until))
    return pauses


def _stop(ticket, metric: str) -> datetime | None:
    finished = ticket.resolved_at if ticket.status in ("resolved", "closed") else None
    if ticket.status == "closed" and finished is None:
        finished = ticket.closed_at
    if metric == Metric.FIRST_RESPONSE:
        found = [m for m in (ticket.first_response_at, finished) if m is not None]
        return min(found) if found else None
    return finished


def _replay(calendar: Calendar, ticket, minutes: int, pauses, metric: str, now: datetime) -> tuple[str, datetime | None]:
    stop = _stop(ticket, metric)
    if stop is not None:
        pauses = [(a, b if b is not None else stop) for a, b in pauses if a < stop]
    due = calendar.deadlines(ticket.created_at, [timedelta(minutes=minutes)], pauses)[0]
    if stop is not None:
        return (MET if due is None or stop <= due else BREACHED), due
    if ticket.status == "cancelled":
        return RUNNING, due
    if due is not None and due <= now:
        return BREACHED, due
    return RUNNING, due


def sla_simulate(*, policy: SlaPolicy, days: int, now: datetime | None = None, max_flips: int = 50) -> SimulationResult:
    from apps.tickets.models import Ticket

    now = now or timezone.now()
    days = max(1, min(int(days), int(conf.get("WARDEN_SLA_SIMULATION_MAX_DAYS"))))
    limit = int(conf.get("WARDEN_SLA_SIMULATION_MAX_TICKETS"))
    since = now - timedelta(days=days)
    result = SimulationResult(policy=policy.name, days=days, since=since)
    calendar = selectors.calendar_for(policy.calendar)
    shape = selectors.policy_shape(policy)
    categories = descendants(shape.category_ids, selectors.category_tree()) if shape.category_ids else None
    pause_statuses = set(policy.pause_statuses)
    metrics = {m: MetricResult(metric=m, label=str(Metric(m).label)) for m in Metric.values}
    tickets = list(
        Ticket.objects.filter(created_at__gte=since, created_at__lte=now)
        .exclude(status="cancelled")
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
        by_metric = {c.metric: c for c in clocks}
        for metric in Metric.values:
            minutes = policy.target_minutes(ticket.priority, metric)
            if minutes is None:
                continue
            draft, due = _replay(calendar, ticket, minutes, _pauses(history, pause_statuses, metric), metric, now)
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
