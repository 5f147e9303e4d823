"""Reads of the SLA app: policies in force, calendars as `calendar.Calendar`, the SLA
of a ticket, badges, and the dashboard widget's numbers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet, Value
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.tickets.tree import category_tree, descendants

from .calendar import Calendar, Shift
from .choices import ACTIVE_STATUSES, BREACH, Badge, ClockState, Metric
from .models import SlaCalendar, SlaClock, SlaEscalationStep, SlaPolicy
from .validation import PolicyShape

# --- Calendars ---------------------------------------------------------------------------------

_CACHE_SIZE = 256
_calendars: OrderedDict[tuple[str, int], tuple[datetime, Calendar]] = OrderedDict()
_calendars_lock = threading.Lock()


def calendar_build(calendar: SlaCalendar, *, shifts=None, holidays=None) -> Calendar:
    """The pure calendar of a stored one (shifts and holidays read unless given)."""
    if shifts is None:
        shifts = list(calendar.shifts.all())
    if holidays is None:
        holidays = list(calendar.extra_holidays.all())
    return Calendar(
        timezone=calendar.timezone,
        shifts=tuple(Shift(s.weekday, s.start, s.end) for s in shifts),
        always_open=calendar.always_open,
        country=calendar.holiday_country,
        subdivision=calendar.holiday_subdivision,
        extra_holidays=frozenset(h.date if not isinstance(h, date) else h for h in holidays),
    )


def calendar_for(calendar: SlaCalendar) -> Calendar:
    """The pure calendar for `calendar`, cached per process and tenant until the stored
    calendar's `updated_at` changes (every change goes through the service, which bumps it)."""
    key = (connection.schema_name, calendar.pk)
    with _calendars_lock:
        hit = _calendars.get(key)
        if hit is not None and hit[0] == calendar.updated_at:
            _calendars.move_to_end(key)
            return hit[1]
    built = calendar_build(calendar)
    with _calendars_lock:
        _calendars[key] = (calendar.updated_at, built)
        _calendars.move_to_end(key)
        while len(_calendars) > _CACHE_SIZE:
            _calendars.popitem(last=False)
    return built


def calendar_for_id(calendar_id: int | None) -> Calendar | None:
    if calendar_id is None:
        return None
    calendar = SlaCalendar.objects.filter(pk=calendar_id).first()
    return calendar_for(calendar) if calendar is not None else None


def calendar_list() -> QuerySet[SlaCalendar]:
    return SlaCalendar.objects.prefetch_related("shifts", "extra_holidays").order_by("name", "pk")


# --- Policies ----------------------------------------------------------------------------------


def policy_list(*, include_drafts: bool = True) -> QuerySet[SlaPolicy]:
    queryset = SlaPolicy.objects.select_related("calendar").prefetch_related("categories", "teams", "escalations__team")
    if not include_drafts:
        queryset = queryset.filter(active=True)
    return queryset.order_by("order", "pk")


def policy_shape(policy: SlaPolicy) -> PolicyShape:
    """The policy's matching conditions, from `with_condition_ids()` annotations when the
    queryset has them, else from its (prefetched) categories and teams."""
    category_ids = getattr(policy, "category_ids", None)
    team_ids = getattr(policy, "team_ids", None)
    return PolicyShape(
        pk=policy.pk,
        name=policy.name,
        order=policy.order,
        priorities=frozenset(p for p, row in (policy.targets or {}).items() if row and any(row.values())),
        category_ids=frozenset(c.pk for c in policy.categories.all()) if category_ids is None else frozenset(category_ids),
        team_ids=frozenset(t.pk for t in policy.teams.all()) if team_ids is None else frozenset(team_ids),
        active=policy.active,
    )


def with_condition_ids(queryset):
    """Policies with `category_ids` and `team_ids` (lists of pks) aggregated in the same
    query: matching a ticket needs only the ids, not the category and team rows."""
    return queryset.annotate(
        category_ids=ArrayAgg("categories", filter=Q(categories__isnull=False), distinct=True, default=Value([])),
        team_ids=ArrayAgg("teams", filter=Q(teams__isnull=False), distinct=True, default=Value([])),
    )


def policy_shapes(*, exclude_pk: int | None = None) -> list[PolicyShape]:
    queryset = SlaPolicy.objects.prefetch_related("categories", "teams").order_by("order", "pk")
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return [policy_shape(p) for p in queryset]


@dataclass(frozen=True)
class PolicyMatcher:
    """Active policies in order, with category conditions expanded to their subtrees."""

    policies: tuple[tuple[SlaPolicy, frozenset[str], frozenset[int] | None, frozenset[int] | None], ...]

    def match(self, *, priority: str, category_id: int | None, team_id: int | None) -> SlaPolicy | None:
        for policy, priorities, categories, teams in self.policies:
            if priority not in priorities:
                continue
            if categories is not None and category_id not in categories:
                continue
            if teams is not None and team_id not in teams:
                continue
            return policy
        return None


def policy_matcher(*, policies: list[SlaPolicy] | None = None) -> PolicyMatcher:
    if policies is None:
        active = SlaPolicy.objects.filter(active=True).select_related("calendar")
        policies = list(with_condition_ids(active).order_by("order", "pk"))
    tree = None
    compiled = []
    for policy in policies:
        shape = policy_shape(policy)
        categories = None
        if shape.category_ids:
            tree = category_tree() if tree is None else tree
            categories = frozenset(descendants(shape.category_ids, tree))
        compiled.append((policy, shape.priorities, categories, shape.team_ids or None))
    return PolicyMatcher(policies=tuple(compiled))


def policy_match(ticket, *, matcher: PolicyMatcher | None = None) -> SlaPolicy | None:
    """The first active policy (by order) that matches the ticket, or None."""
    matcher = matcher or policy_matcher()
    return matcher.match(priority=ticket.priority, category_id=ticket.category_id, team_id=ticket.team_id)


# --- Clocks of a ticket ------------------------------------------------------------------------


def clock_prefetch(lookup: str = "sla_clocks") -> Prefetch:
    """Prefetch a ticket's clocks with what badges and `TicketSlaSerializer` read."""
    return Prefetch(lookup, queryset=SlaClock.objects.select_related("policy", "calendar").order_by("metric"))


# What a badge and the queue's Due column read of a clock (`clock_badge`, `clock_remaining`,
# `running_due`, `ticket_next_due`); the history, marks and the policy are left in the database.
BADGE_FIELDS = ("ticket", "metric", "calendar", "target_seconds", "state", "started_at", "paused_at", "pauses",
                "due_at", "risk_at", "stopped_at", "breached_at")


def badge_clock_prefetch(lookup: str = "sla_clocks") -> Prefetch:
    """Prefetch a ticket's clocks with only what its badge reads: for lists, which show a
    badge per row (a queue page's clocks with their policies and `marks` arrays cost more
    to build than the rest of the page's rows)."""
    return Prefetch(lookup, queryset=SlaClock.objects.select_related("calendar").only(*BADGE_FIELDS).order_by("metric"))


def ticket_clocks(ticket) -> list[SlaClock]:
    cache = getattr(ticket, "_prefetched_objects_cache", {})
    if "sla_clocks" in cache:
        return list(cache["sla_clocks"])
    return list(SlaClock.objects.filter(ticket_id=ticket.pk).select_related("policy", "calendar").order_by("metric"))


def pauses_of(clock: SlaClock, *, include_open: bool = True) -> list[tuple[datetime, datetime | None]]:
    pairs: list[tuple[datetime, datetime | None]] = [(parse_datetime(a), parse_datetime(b)) for a, b in (clock.pauses or [])]
    if include_open and clock.paused_at is not None:
        pairs.append((clock.paused_at, None))
    return pairs


def clock_remaining(clock: SlaClock, *, now: datetime | None = None) -> timedelta | None:
    """Business time left before the due time (negative once overdue); None once the
    clock stopped or when it has no calendar any more."""
    if clock.stopped_at is not None or clock.state == ClockState.CANCELLED or clock.calendar is None:
        return None
    calendar = calendar_for(clock.calendar)
    now = now or timezone.now()
    if clock.paused_at is not None:
        used = calendar.active_between(clock.started_at, clock.paused_at, pauses_of(clock, include_open=False))
        return timedelta(seconds=clock.target_seconds) - used
    if clock.due_at is None:
        return None
    return calendar.between(now, clock.due_at)


def clock_paused_seconds(clock: SlaClock, *, now: datetime | None = None) -> int:
    """Business seconds the clock has spent paused so far, the pause in progress
    included (the stored `paused_seconds` counts finished pauses only: it is derived
    when the clock is written, and a pause in progress grows without a write)."""
    total = int(clock.paused_seconds or 0)
    if clock.paused_at is None or clock.stopped_at is not None or clock.calendar is None:
        return total
    now = now or timezone.now()
    return total + int(calendar_for(clock.calendar).between(clock.paused_at, max(now, clock.paused_at)).total_seconds())


def clock_badge(clock: SlaClock | None, *, now: datetime | None = None) -> str:
    if clock is None or clock.state == ClockState.CANCELLED:
        return Badge.NONE
    now = now or timezone.now()
    if clock.breached_at is not None or (clock.stopped_at is None and clock.due_at is not None and clock.due_at <= now):
        return Badge.BREACHED
    if clock.stopped_at is not None:
        return Badge.MET
    if clock.paused_at is not None:
        return Badge.PAUSED
    if clock.risk_at is not None and clock.risk_at <= now:
        return Badge.AT_RISK
    return Badge.ON_TRACK


_BADGE_RANK = {Badge.NONE: 0, Badge.MET: 1, Badge.ON_TRACK: 2, Badge.PAUSED: 3, Badge.AT_RISK: 4, Badge.BREACHED: 5}


def ticket_badge(ticket, *, now: datetime | None = None) -> tuple[str, SlaClock | None]:
    """The most urgent badge among the ticket's clocks, and that clock."""
    now = now or timezone.now()
    best: tuple[str, SlaClock | None] = (Badge.NONE, None)
    for clock in ticket_clocks(ticket):
        badge = clock_badge(clock, now=now)
        if _BADGE_RANK[badge] > _BADGE_RANK[best[0]] or (
            badge == best[0] and best[1] is not None and clock.due_at and best[1].due_at and clock.due_at < best[1].due_at
        ):
            best = (badge, clock)
    return best


def ticket_clock(ticket, metric: str) -> SlaClock | None:
    for clock in ticket_clocks(ticket):
        if clock.metric == metric:
            return clock
    return None


# --- Dashboard -----------------------------------------------------------------------------------

_DASHBOARD_SQL = """
WITH per_ticket AS (
    SELECT t.id, t.team_id,
           max(CASE
                 WHEN c.id IS NULL OR c.state = 'cancelled' THEN 0
                 WHEN c.breached_at IS NOT NULL OR (c.stopped_at IS NULL AND c.due_at <= %(now)s) THEN 5
                 WHEN c.stopped_at IS NOT NULL THEN 1
                 WHEN c.paused_at IS NOT NULL THEN 3
                 WHEN c.risk_at <= %(now)s THEN 4
                 ELSE 2
               END) AS rank
    FROM {ticket} t
    LEFT JOIN {clock} c ON c.ticket_id = t.id
    WHERE t.status = ANY(%(statuses)s)
    GROUP BY t.id, t.team_id
)
SELECT p.team_id, tm.name, p.rank, count(*)
FROM per_ticket p LEFT JOIN {team} tm ON tm.id = p.team_id
GROUP BY p.team_id, tm.name, p.rank
"""

_RANK_BADGE = {0: Badge.NONE, 1: Badge.ON_TRACK, 2: Badge.ON_TRACK, 3: Badge.PAUSED, 4: Badge.AT_RISK, 5: Badge.BREACHED}
DASHBOARD_COLUMNS = (Badge.ON_TRACK, Badge.AT_RISK, Badge.PAUSED, Badge.BREACHED, Badge.NONE)


def sla_dashboard_by_team(*, now: datetime | None = None) -> list[dict]:
    """Open tickets (new, open, pending) by SLA state per team, in one query.

    Each row: {"team_id", "team", "on_track", "at_risk", "paused", "breached", "none",
    "total"}; a ticket counts once, under its most urgent clock (a met first response
    with nothing else running counts as on track). Teamless tickets come last.
    """
    from apps.accounts.models import Team
    from apps.tickets.models import Ticket

    quote = connection.ops.quote_name
    sql = _DASHBOARD_SQL.format(
        ticket=quote(Ticket._meta.db_table), clock=quote(SlaClock._meta.db_table), team=quote(Team._meta.db_table)
    )
    rows: dict[int | None, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now or timezone.now(), "statuses": sorted(ACTIVE_STATUSES)})
        for team_id, team_name, rank, count in cursor.fetchall():
            row = rows.setdefault(
                team_id, {"team_id": team_id, "team": team_name or "", **{b.value: 0 for b in DASHBOARD_COLUMNS}, "total": 0}
            )
            row[_RANK_BADGE[rank].value] += count
            row["total"] += count
    return sorted(rows.values(), key=lambda r: (r["team_id"] is None, r["team"].lower()))


# --- Events --------------------------------------------------------------------------------------


def ticket_events(ticket):
    from .models import SlaEvent

    return SlaEvent.objects.filter(ticket=ticket).order_by("crossed_at", "threshold")


def metric_label(metric: str) -> str:
    return Metric(metric).label


def threshold_label(threshold: int) -> str:
    return "breach" if threshold >= BREACH else f"{threshold}%"


# --- Lists: SLA state filter, next due time, due-time preview (agent desk, portal) ------------
#
# A ticket's state is its most urgent clock's badge (`ticket_badge`), ranked
# none 0 < met 1 < on track 2 < paused 3 < at risk 4 < breached 5. In SQL a ticket "has
# rank k" when one of its clocks ranks k or more and none ranks k + 1 or more; each
# "ranks at least" is an EXISTS over the ticket's clocks, so the filter is a semi-join
# on the clocks table rather than a per-ticket aggregate.


def _clock_at_least(rank: int, now: datetime):
    from django.db.models import Q

    live = ~Q(state=ClockState.CANCELLED)
    breached = live & (Q(breached_at__isnull=False) | Q(stopped_at__isnull=True, due_at__lte=now))
    if rank >= 5:
        return breached
    if rank == 4:
        return breached | (live & Q(stopped_at__isnull=True, paused_at__isnull=True, risk_at__lte=now))
    if rank == 3:
        return (
            breached
            | (live & Q(stopped_at__isnull=True, paused_at__isnull=True, risk_at__lte=now))
            | (live & Q(stopped_at__isnull=True, paused_at__isnull=False))
        )
    if rank == 2:
        return breached | (live & Q(stopped_at__isnull=True))
    return live


_STATE_RANK = {Badge.NONE: 0, Badge.MET: 1, Badge.ON_TRACK: 2, Badge.PAUSED: 3, Badge.AT_RISK: 4, Badge.BREACHED: 5}


def ticket_sla_state_q(states, *, now: datetime | None = None):
    """A `Q` on tickets: their SLA badge is one of `states` (Badge values) at `now`.

    Unknown states are ignored; no known state gives a Q that matches nothing.
    """
    from django.db.models import Exists, OuterRef, Q

    now = now or timezone.now()

    def has(rank: int):
        return Exists(SlaClock.objects.filter(_clock_at_least(rank, now), ticket_id=OuterRef("pk")))

    wanted = sorted({_STATE_RANK[Badge(s)] for s in states if s in Badge.values})
    if not wanted:
        return Q(pk__in=[])
    # Neighbouring ranks make one range (on track + paused: ranks 2..3), so one state, or
    # neighbouring ones, is one EXISTS and at most one NOT EXISTS, which PostgreSQL runs
    # as joins. Separate ranges (on track + breached) are an OR of such pairs, checked
    # ticket by ticket (slower on large tenants: see docs/agent-ui.md).
    ranges: list[list[int]] = []
    for rank in wanted:
        if ranges and ranges[-1][1] == rank - 1:
            ranges[-1][1] = rank
        else:
            ranges.append([rank, rank])
    condition = Q()
    for index, (low, high) in enumerate(ranges):
        if low == 0:
            part = ~has(high + 1) if high < 5 else Q()
        elif high == 5:
            part = has(low)
        else:
            part = has(low) & ~has(high + 1)
        condition = part if index == 0 else condition | part
    return condition


# A ticket in one of these states has a running clock, so a due time (`ticket_next_due`).
STATES_WITH_DUE_TIME = frozenset({Badge.ON_TRACK.value, Badge.AT_RISK.value})


def tickets_with_sla_state(queryset, *, states, now: datetime | None = None):
    """`queryset` (of tickets) narrowed to those whose SLA badge is one of `states`."""
    return queryset.filter(ticket_sla_state_q(states, now=now))


def ticket_next_due(ticket) -> datetime | None:
    """The soonest due time of the ticket's running clocks (not paused, not stopped, not
    cancelled), from the prefetched clocks; None when none runs. In SQL: the `due_at` of
    the ticket's row in `next_due_clocks()`."""
    dues = [
        c.due_at
        for c in ticket_clocks(ticket)
        if c.stopped_at is None and c.paused_at is None and c.due_at is not None and c.state != ClockState.CANCELLED
    ]
    return min(dues) if dues else None


def sla_preview(
    *,
    priority: str,
    category_id: int | None = None,
    team_id: int | None = None,
    start: datetime | None = None,
    matcher: PolicyMatcher | None = None,
) -> list[tuple[str, datetime | None]]:
    """The due times a ticket with these fields, created at `start` (default now), would get:
    `[(metric, due_at), ...]` in metric order, `[]` when no active policy matches. A due
    time is None when the policy pauses on "new" (the clock waits for the first change).

    Read only and without a ticket: the same matching (`policy_matcher`) and business-time
    arithmetic (`Calendar.add`) the clocks use.
    """
    matcher = matcher or policy_matcher()
    policy = matcher.match(priority=priority, category_id=category_id, team_id=team_id)
    if policy is None:
        return []
    start = start or timezone.now()
    calendar = calendar_for(policy.calendar)
    paused = "new" in (policy.pause_statuses or [])
    result: list[tuple[str, datetime | None]] = []
    for metric in Metric.values:
        minutes = policy.target_minutes(priority, metric)
        if minutes is None:
            continue
        result.append((metric, None if paused else calendar.add(start, timedelta(minutes=minutes))))
    return result



def _running_clock_q():
    from django.db.models import Q

    return Q(stopped_at__isnull=True, paused_at__isnull=True, due_at__isnull=False) & ~Q(state=ClockState.CANCELLED)


def ticket_running_clock_exists():
    """EXISTS a running clock (not paused, not stopped, not cancelled) of the ticket
    (OuterRef "pk"): the tickets `ticket_next_due` gives a time for."""
    from django.db.models import Exists, OuterRef

    return Exists(SlaClock.objects.filter(_running_clock_q(), ticket_id=OuterRef("pk")))


def next_due_clocks(tickets=None) -> QuerySet[SlaClock]:
    """Each ticket's soonest running clock, one row per ticket that has a running clock
    (its `due_at` is `ticket_next_due(ticket)`), only for `tickets` (a Ticket queryset)
    if given.

    Ordered by "due_at", this walks tickets by time to breach from the partial index on
    open clocks' due times and stops after a page: a page costs what page 1 costs,
    however many tickets have clocks (an ORDER BY on a per-ticket subquery would compute
    it for every one of them first).
    """
    from django.db.models import Exists, OuterRef, Q

    sooner = SlaClock.objects.filter(_running_clock_q(), ticket_id=OuterRef("ticket_id")).filter(
        Q(due_at__lt=OuterRef("due_at")) | Q(due_at=OuterRef("due_at"), pk__lt=OuterRef("pk"))
    )
    clocks = SlaClock.objects.filter(_running_clock_q()).filter(~Exists(sooner))
    if tickets is not None:
        clocks = clocks.filter(ticket_id__in=tickets.values("pk"))
    return clocks


def team_policy_references(team) -> list[str]:
    """Why `team` must stay (accounts.references): SLA policies limited to it, and
    escalation steps that reassign to it."""
    problems = []
    policies = sorted(SlaPolicy.objects.filter(teams=team).values_list("name", flat=True))
    if policies:
        problems.append(_("SLA policies apply to it: %(names)s") % {"names": ", ".join(policies)})
    steps = sorted(set(SlaEscalationStep.objects.filter(team=team).values_list("policy__name", flat=True)))
    if steps:
        problems.append(_("escalation steps of these SLA policies reassign to it: %(names)s") % {"names": ", ".join(steps)})
    return problems
