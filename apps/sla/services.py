"""Every write of the SLA app.

* Ticket hooks (`sla_on_ticket_created`, `sla_on_ticket_changed`,
  `sla_on_status_changed`, `sla_on_first_response`): the tickets services call them
  inside their own transaction, after saving the ticket. They all reconcile the
  ticket's clocks with the ticket (`sla_sync`), so calling one twice changes nothing.
  Clocks are derived state of a ticket write that was already policy-checked and
  audited by the tickets service, so the hooks add no decision or audit of their own.
* The sweep (`sla_sweep`): set-based, one statement per batch, emits each warning and
  breach once (unique clock+threshold), stamped with the true crossing time.
* Event processing (`sla_events_process`): audit, escalation steps (policy-checked with
  `sla.escalate`, audited) and notifications, after the sweep commits.
* Configuration (`sla_policy_save`, `sla_calendar_save`, ...): policy `sla.configure`,
  validation (`validation.py`), audit, re-targeting of open clocks after commit.
"""

from __future__ import annotations

import functools
import logging
import time as _time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, PermissionDenied

from . import conf, selectors
from .actions import SLA_CONFIGURE, SLA_ESCALATE
from .calendar import Calendar
from .choices import (
    ACTIVE_STATUSES,
    BREACH,
    PRIORITIES,
    ClockState,
    EscalationAction,
    EscalationOutcome,
    EventKind,
    Metric,
    StepMetric,
)
from .models import (
    SlaCalendar,
    SlaCalendarHoliday,
    SlaCalendarShift,
    SlaClock,
    SlaEscalation,
    SlaEscalationStep,
    SlaEvent,
    SlaPolicy,
)
from .validation import CalendarInput, PolicyInput, calendar_problems, policy_problems, targets_clean

logger = logging.getLogger(__name__)

METRICS = tuple(Metric.values)
RESOLVED = "resolved"
CLOSED = "closed"
CANCELLED = "cancelled"


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _problem(errors: dict[str, list[str]], what: str) -> ApplicationError:
    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
    return ApplicationError(f"{what}: {detail}", errors=errors)


# --- Clock arithmetic ------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _levels(thresholds: tuple[int, ...]) -> list[int]:
    return sorted({int(t) for t in thresholds if 0 < int(t) < BREACH}) + [BREACH]


def clock_compute(
    clock: SlaClock,
    calendar: Calendar | None,
    *,
    thresholds: Sequence[int],
    now: datetime,
    risk_percent: int | None = None,
) -> SlaClock:
    """Fill the derived fields of `clock` (due_at, risk_at, marks, next_mark_at, state,
    met_at, breached_at, paused_seconds) from its start, target, pauses and stop. No I/O."""
    if clock.state == ClockState.CANCELLED:
        clock.thresholds, clock.marks, clock.next_mark_at = [], [], None
        clock.due_at = clock.risk_at = clock.met_at = clock.breached_at = None
        return clock
    target_us = clock.target_seconds * 1_000_000
    levels = _levels(tuple(thresholds))
    if risk_percent is None:
        risk_percent = int(conf.get("WARDEN_SLA_AT_RISK_PERCENT"))
    wanted = [target_us * level // BREACH for level in levels]
    wanted.append(target_us * risk_percent // BREACH)
    closed = selectors.pauses_of(clock, include_open=False) if clock.pauses else []
    pauses = closed + [(clock.paused_at, None)] if clock.paused_at is not None else closed
    found = calendar.deadlines_us(clock.started_at, wanted, pauses)
    marks, risk = found[:-1], found[-1]
    due = marks[-1]
    stopped = clock.stopped_at
    if stopped is not None:
        # Only what was crossed before the clock stopped can still be emitted.
        marks = [m if m is not None and m < stopped else None for m in marks]
        risk = None
    clock.thresholds, clock.marks = list(levels), marks
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


def _close_pause(clock: SlaClock, end: datetime) -> None:
    if clock.paused_at is None:
        return
    clock.pauses = [*(clock.pauses or []), [_iso(clock.paused_at), _iso(max(end, clock.paused_at))]]
    clock.paused_at = None


def _stop_instant(ticket, metric: str) -> datetime | None:
    """When the metric was satisfied according to the ticket, or None while it runs."""
    finished = None
    if ticket.status in (RESOLVED, CLOSED):
        finished = ticket.resolved_at or ticket.closed_at or ticket.updated_at
    if metric == Metric.FIRST_RESPONSE:
        # A resolution answers the requester too: it satisfies a missing first response.
        candidates = [m for m in (ticket.first_response_at, finished) if m is not None]
        return min(candidates) if candidates else None
    return finished


_CLOCK_FIELDS = [
    "policy",
    "calendar",
    "target_seconds",
    "state",
    "started_at",
    "paused_at",
    "pauses",
    "paused_seconds",
    "history",
    "due_at",
    "risk_at",
    "stopped_at",
    "met_at",
    "breached_at",
    "thresholds",
    "marks",
    "next_mark_at",
    "updated_at",
]


def _reconcile(clock: SlaClock, ticket, policy: SlaPolicy | None, metric: str, *, at: datetime, now: datetime) -> SlaClock:
    """Apply the ticket's current state to one clock (no I/O besides the calendar cache)."""
    status = ticket.status
    if not clock.history or clock.history[-1][0] != status:
        clock.history = [*(clock.history or []), [status, _iso(at)]]
    stop = _stop_instant(ticket, metric)
    reopened = (
        clock.stopped_at is not None
        and metric == Metric.RESOLUTION
        and status in ACTIVE_STATUSES
        and stop is None
        and clock.state != ClockState.CANCELLED
    )
    if clock.stopped_at is not None and not reopened:
        return clock  # a finished clock keeps its outcome, whatever changes later
    minutes = policy.target_minutes(ticket.priority, metric) if policy is not None else None
    if minutes is None:
        # No policy (or no target for this metric) applies any more: the clock is set
        # aside; it comes back, re-targeted from its start, if one applies again.
        _close_pause(clock, at)
        clock.state = ClockState.CANCELLED
        return clock_compute(clock, None, thresholds=[], now=now)
    clock.policy, clock.calendar = policy, policy.calendar
    clock.target_seconds = minutes * 60
    if clock.state == ClockState.CANCELLED:
        clock.state = ClockState.RUNNING
    if reopened:
        # The time it spent resolved does not count.
        clock.pauses = [*(clock.pauses or []), [_iso(clock.stopped_at), _iso(max(at, clock.stopped_at))]]
        clock.stopped_at = None
    if status == CANCELLED:
        _close_pause(clock, at)
        clock.stopped_at = max(at, clock.started_at)
        clock.state = ClockState.CANCELLED
    elif stop is not None:
        _close_pause(clock, stop)
        clock.stopped_at = max(stop, clock.started_at)
    else:
        pause = status in set(policy.pause_statuses)
        if pause and clock.paused_at is None:
            clock.paused_at = max(at, clock.started_at)
        elif not pause and clock.paused_at is not None:
            _close_pause(clock, at)
    return clock_compute(clock, selectors.calendar_for(policy.calendar), thresholds=policy.warning_thresholds, now=now)


def sla_sync(ticket, *, at: datetime | None = None, now: datetime | None = None, matcher=None) -> list[SlaClock]:
    """Bring the ticket's clocks in line with the ticket. Idempotent.

    `at` is when the change happened (default: now): a pause starts or ends there.
    Call inside the transaction that changed the ticket; the clock rows are locked.
    """
    now = now or timezone.now()
    at = at or now
    existing = {
        c.metric: c
        for c in SlaClock.objects.select_for_update(of=("self",)).filter(ticket_id=ticket.pk).select_related("calendar")
    }
    policy = selectors.policy_match(ticket, matcher=matcher)
    result = []
    for metric in Metric.values:
        clock = existing.get(metric)
        if clock is None:
            if policy is None or policy.target_minutes(ticket.priority, metric) is None:
                continue
            if ticket.status not in ACTIVE_STATUSES and _stop_instant(ticket, metric) is None:
                continue
            clock = SlaClock(ticket_id=ticket.pk, metric=metric, started_at=ticket.created_at, target_seconds=1, history=[])
        _reconcile(clock, ticket, policy, metric, at=at, now=now)
        clock.updated_at = now
        if clock.pk is None:
            clock.save(force_insert=True)
        else:
            clock.save(update_fields=_CLOCK_FIELDS)
        result.append(clock)
    return result


# --- Hooks the tickets services call ------------------------------------------------------------


def sla_on_ticket_created(ticket) -> list[SlaClock]:
    """After `ticket_create` saved the ticket: start its clocks at `created_at`."""
    return sla_sync(ticket, at=ticket.created_at)


RETARGET_FIELDS = frozenset({"priority", "category", "team", "impact", "urgency"})


def sla_on_ticket_changed(ticket, changed_fields: Iterable[str] = (), at: datetime | None = None) -> list[SlaClock]:
    """After a priority, category or team change: re-match the policy and re-target the
    clocks from their ORIGINAL start (pauses kept). Other fields are ignored."""
    fields = set(changed_fields)
    if fields and not fields & RETARGET_FIELDS:
        return []
    return sla_sync(ticket, at=at or ticket.updated_at)


def sla_on_status_changed(ticket, old: str, new: str, at: datetime | None = None) -> list[SlaClock]:
    """After a status change (`old` -> `new`, the ticket already saved with `new`):
    pause, resume, stop, reopen or cancel the clocks at `at`."""
    if old == new:
        return []
    return sla_sync(ticket, at=at or ticket.updated_at)


def sla_on_first_response(ticket, at: datetime | None = None) -> list[SlaClock]:
    """After the first public agent reply set `ticket.first_response_at`."""
    return sla_sync(ticket, at=at or ticket.first_response_at)


def sla_on_tickets_changed(ticket_ids: Iterable[int]) -> None:
    """After a bulk change of many tickets' category, team or priority (e.g. a category
    merge): re-match and re-target their clocks in a task, after commit."""
    ids = sorted(set(ticket_ids))
    if ids:
        _enqueue_resync(ids)


# --- Bulk attach (imports, benchmarks) ------------------------------------------------------------


class _ClockRow:
    """A clock to be COPYed: the attributes `clock_compute` reads and writes, without a
    Django model instance's cost (imports create hundreds of thousands). Unset
    attributes read as the class defaults."""

    COLUMNS = (
        "ticket_id",
        "metric",
        "policy_id",
        "calendar_id",
        "target_seconds",
        "state",
        "started_at",
        "paused_at",
        "pauses",
        "paused_seconds",
        "history",
        "due_at",
        "risk_at",
        "stopped_at",
        "met_at",
        "breached_at",
        "thresholds",
        "marks",
        "next_mark_at",
        "updated_at",
    )
    state = ClockState.RUNNING
    paused_at = stopped_at = due_at = risk_at = met_at = breached_at = next_mark_at = None
    pauses: list = []
    paused_seconds = 0

    def __init__(self, **values) -> None:
        self.__dict__.update(values)


def sla_attach_many(tickets: Sequence, *, now: datetime | None = None) -> int:
    """Create the clocks of many NEW tickets at once (an import): one policy lookup, one
    calendar per policy, rows streamed with binary COPY into a staging table and
    inserted in one statement. Tickets that already have clocks are left alone (ON
    CONFLICT DO NOTHING). Returns how many clocks were computed."""
    now = now or timezone.now()
    matcher = selectors.policy_matcher()
    risk_percent = int(conf.get("WARDEN_SLA_AT_RISK_PERCENT"))
    calendars: dict[int, Calendar] = {}
    rows: list[_ClockRow] = []
    for ticket in tickets:
        policy = matcher.match(priority=ticket.priority, category_id=ticket.category_id, team_id=ticket.team_id)
        if policy is None:
            continue
        calendar = calendars.get(policy.calendar_id)
        if calendar is None:
            calendar = calendars[policy.calendar_id] = selectors.calendar_for(policy.calendar)
        paused = ticket.status in policy.pause_statuses
        for metric in METRICS:
            minutes = policy.target_minutes(ticket.priority, metric)
            if minutes is None:
                continue
            row = _ClockRow(
                ticket_id=ticket.pk,
                metric=metric,
                policy_id=policy.pk,
                calendar_id=policy.calendar_id,
                target_seconds=minutes * 60,
                started_at=ticket.created_at,
                history=[[ticket.status, _iso(ticket.created_at)]],
                updated_at=now,
                paused_at=ticket.created_at if paused else None,
            )
            stop = _stop_instant(ticket, metric)
            if stop is not None:
                row.stopped_at = max(stop, ticket.created_at)
            clock_compute(row, calendar, thresholds=policy.warning_thresholds, now=now, risk_percent=risk_percent)
            rows.append(row)
    if rows:
        _copy_clocks(rows)
    return len(rows)


@transaction.atomic
def _copy_clocks(rows: Sequence[_ClockRow]) -> None:
    """Binary COPY into a temporary table shaped like the clocks, then one INSERT ...
    SELECT with ON CONFLICT DO NOTHING (COPY itself cannot skip conflicts)."""
    from psycopg.types.json import Jsonb

    quote = connection.ops.quote_name
    table = quote(SlaClock._meta.db_table)
    names = _ClockRow.COLUMNS
    columns = ", ".join(names)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE sla_clock_stage ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.execute(
            "SELECT atttypid::int FROM pg_attribute "
            "WHERE attrelid = 'sla_clock_stage'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        types = [row[0] for row in cursor.fetchall()]
        json_columns = {i for i, name in enumerate(names) if name in ("pauses", "history")}
        with cursor.copy(f"COPY sla_clock_stage ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                values = [getattr(row, name) for name in names]
                for i in json_columns:
                    values[i] = Jsonb(values[i] or [])
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM sla_clock_stage ON CONFLICT (ticket_id, metric) DO NOTHING"
        )
        cursor.execute("DROP TABLE sla_clock_stage")


def sla_clocks_recompute(
    *, policy_id: int | None = None, calendar_id: int | None = None, now: datetime | None = None, chunk: int = 500
) -> int:
    """Re-match and re-target the clocks of open tickets after a policy or calendar
    changed (run by the `sla.recompute` task after the change commits)."""
    from apps.tickets.models import Ticket

    now = now or timezone.now()
    clocks = SlaClock.objects.filter(stopped_at__isnull=True)
    if policy_id is not None:
        clocks = clocks.filter(policy_id=policy_id)
    if calendar_id is not None:
        clocks = clocks.filter(calendar_id=calendar_id)
    ticket_ids = sorted(set(clocks.values_list("ticket_id", flat=True)))
    if policy_id is not None:
        # Tickets no policy matched before may match this one now.
        ticket_ids = sorted(
            set(ticket_ids)
            | set(Ticket.objects.filter(status__in=sorted(ACTIVE_STATUSES), sla_clocks__isnull=True).values_list("pk", flat=True))
        )
    done = 0
    for start in range(0, len(ticket_ids), chunk):
        with transaction.atomic():
            matcher = selectors.policy_matcher()
            tickets = Ticket.objects.select_for_update(of=("self",), no_key=True).filter(
                pk__in=ticket_ids[start : start + chunk]
            )
            for ticket in tickets.order_by("pk"):
                sla_sync(ticket, at=now, now=now, matcher=matcher)
                done += 1
    return done


# --- The sweep -------------------------------------------------------------------------------------

_SWEEP_SQL = """
WITH due AS (
    SELECT id, ticket_id, metric, thresholds, marks
    FROM {clock}
    WHERE next_mark_at <= %(now)s
    ORDER BY next_mark_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
),
crossed AS (
    SELECT d.id AS clock_id, d.ticket_id, d.metric, m.threshold, m.at
    FROM due d CROSS JOIN LATERAL unnest(d.thresholds, d.marks) AS m(threshold, at)
    WHERE m.at <= %(now)s
),
inserted AS (
    INSERT INTO {event} (clock_id, ticket_id, metric, threshold, kind, crossed_at, emitted_at)
    SELECT clock_id, ticket_id, metric, threshold,
           CASE WHEN threshold >= {breach} THEN 'breach' ELSE 'warning' END, at, %(now)s
    FROM crossed
    ORDER BY clock_id, threshold
    ON CONFLICT (clock_id, threshold) DO NOTHING
    RETURNING 1
),
moved AS (
    UPDATE {clock} c
    SET next_mark_at = (SELECT min(x) FROM unnest(c.marks) AS x WHERE x > %(now)s),
        state = CASE WHEN c.state IN ('running', 'paused') AND c.due_at <= %(now)s THEN 'breached' ELSE c.state END,
        breached_at = CASE WHEN c.state IN ('running', 'paused') AND c.due_at <= %(now)s THEN c.due_at
                           ELSE c.breached_at END,
        updated_at = %(now)s
    FROM due d
    WHERE c.id = d.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved)
"""


@dataclass
class SweepResult:
    events: int = 0
    clocks: int = 0
    statements: int = 0
    seconds: float = 0.0
    backlog: bool = False
    extra: dict = field(default_factory=dict)


def _sweep_sql() -> str:
    quote = connection.ops.quote_name
    return _SWEEP_SQL.format(clock=quote(SlaClock._meta.db_table), event=quote(SlaEvent._meta.db_table), breach=BREACH)


def sla_sweep(*, now: datetime | None = None, batch: int | None = None, enqueue: bool = True) -> SweepResult:
    """Emit every warning and breach whose instant is <= now and was not emitted yet.

    Set-based: each statement locks a batch of due clocks (SKIP LOCKED, so concurrent
    sweeps split the work instead of waiting), inserts their crossed thresholds with
    ON CONFLICT DO NOTHING on (clock, threshold), and moves each clock's next mark.
    Events carry the mark's instant as `crossed_at`. Processing (audit, escalations,
    notifications) is enqueued after commit.
    """
    started = _time.perf_counter()
    now = now or timezone.now()
    batch = int(batch or conf.get("WARDEN_SLA_SWEEP_BATCH"))
    sql = _sweep_sql()
    result = SweepResult()
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, {"now": now, "batch": batch})
                events, clocks = cursor.fetchone()
            if events and enqueue:
                _enqueue_processing()
        result.events += int(events)
        result.clocks += int(clocks)
        result.statements += 1
        if clocks < batch:
            break
    if enqueue and not result.events:
        # A worker that died between the sweep's commit and the processing leaves
        # unprocessed events behind: pick them up.
        stale = SlaEvent.objects.filter(processed_at__isnull=True, emitted_at__lt=now - timedelta(seconds=60)).exists()
        if stale:
            result.backlog = True
            _enqueue_processing()  # outside any transaction: on_commit sends at once
    result.seconds = _time.perf_counter() - started
    return result


def _enqueue_processing() -> None:
    from apps.core.tasks import enqueue_on_commit

    from .tasks import process_events as process_events_task

    enqueue_on_commit(process_events_task)


# --- Processing events: audit, escalations, notifications ------------------------------------------


def _steps_for(policy_ids: Iterable[int]) -> dict[int, list[SlaEscalationStep]]:
    steps: dict[int, list[SlaEscalationStep]] = defaultdict(list)
    for step in (
        SlaEscalationStep.objects.filter(policy_id__in=set(policy_ids))
        .select_related("team")
        .order_by("at_percent", "position", "pk")
    ):
        steps[step.policy_id].append(step)
    return steps


def sla_events_process(*, now: datetime | None = None, batch: int | None = None, notifier=None) -> int:
    """Audit each unprocessed event, run its escalation steps, notify, mark it processed.

    Work is taken ticket by ticket, in the lock order of every ticket write: first the
    tickets with unprocessed events (FOR NO KEY UPDATE, as the tickets services lock
    them), then their clocks. Both with SKIP LOCKED, so concurrent workers never
    process an event twice, and a ticket someone is writing right now (or a clock the
    sweep holds) is left for the next run instead of waited for: an escalation step
    that writes the ticket never waits for the ticket while holding its clocks, which
    deadlocked with a writer holding the ticket and waiting for the clocks. The sweep
    enqueues processing again for events left unprocessed (`sla_sweep`).

    All pending events of one clock are handled together (after an outage its
    recipients get one notification, about the most severe event, not one per
    threshold). Steps and notifications only run while the clock is still open: an
    event caught up after the ticket was resolved is recorded and audited, nobody is
    bothered. Returns how many events were processed.
    """
    from django.db.models import Subquery

    from apps.tickets.models import Ticket

    from .notify import get_notifier

    batch = int(batch or conf.get("WARDEN_SLA_PROCESS_BATCH"))
    notifier = notifier or get_notifier()
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
                _process_clock_events(clock_events, steps, notifier)
            if events:
                SlaEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=now or timezone.now())
        total += len(events)
        if len(ticket_ids) < batch or not events:
            break
    return total


def _process_clock_events(events: list[SlaEvent], steps: dict[int, list[SlaEscalationStep]], notifier) -> None:
    from apps.audit.services import audit_record

    recipients: dict[int, object] = {}
    top: SlaEvent | None = None
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
        named = False  # whether the policy says whom to notify at this threshold
        for step in steps.get(clock.policy_id, []):
            if step.at_percent != event.threshold or step.metric not in (StepMetric.ANY, event.metric):
                continue
            named = named or step.action in NOTIFY_ACTIONS
            if not live:
                _record_escalation(event, step, EscalationOutcome.SKIPPED, "the clock had stopped before processing")
                continue
            sla_escalate(event=event, step=step, recipients=recipients)
        if live and not named and event.threshold in default_notify_thresholds(clock.thresholds):
            _notify_by_default(event=event, recipients=recipients)
        if live:
            top = event
    if recipients and top is not None:
        notifier.notify(recipients=list(recipients.values()), event=top)


NOTIFY_ACTIONS = frozenset({EscalationAction.NOTIFY_ASSIGNEE, EscalationAction.NOTIFY_TEAM_LEAD})
DEFAULT_NOTIFY_STEP = "default_notify"


def default_notify_thresholds(thresholds: Sequence[int]) -> frozenset[int]:
    """The thresholds at which someone is notified although the policy names nobody
    (WARDEN_SLA_DEFAULT_NOTIFY): "breach" (the default), "last_warning" (the highest
    warning threshold and the breach) or "off"."""
    mode = conf.get("WARDEN_SLA_DEFAULT_NOTIFY")
    if mode == "off":
        return frozenset()
    wanted = {BREACH}
    warnings = [int(t) for t in thresholds or () if int(t) < BREACH]
    if mode == "last_warning" and warnings:
        wanted.add(max(warnings))
    return frozenset(wanted)


def _notify_by_default(*, event: SlaEvent, recipients: dict) -> None:
    """Name the assignee, or the team lead of an unassigned ticket, as a recipient of
    `event`, so that a breach never goes unnoticed because a policy has no notify
    step. Asked of the policies like a step (`sla.escalate`, step "default_notify",
    so a governance rule can turn it off) and audited (`sla.notified_by_default`)."""
    from apps.audit.services import audit_record
    from apps.policies.decisions import PolicyDenied
    from apps.policies.services import policy_require

    ticket = event.ticket
    context = {"step": DEFAULT_NOTIFY_STEP, "threshold": event.threshold, "metric": event.metric, "event": event.pk}
    try:
        policy_require(None, SLA_ESCALATE, ticket, context)
    except PolicyDenied:
        return  # recorded and audited by the policies app
    person, role = ticket.assignee, "assignee"
    if person is None or not person.is_active:
        lead = ticket.team.lead if ticket.team is not None else None
        person, role = (lead, "team_lead") if lead is not None and lead.is_active else (None, "")
    audit_record(
        actor=None,
        action="sla.notified_by_default",
        target=ticket,
        payload={
            "number": ticket.number,
            "event": event.pk,
            "threshold": event.threshold,
            "metric": event.metric,
            "recipient": getattr(person, "pk", None),
            "as": role or "nobody: no active assignee or team lead",
        },
    )
    if person is not None:
        recipients[person.pk] = person


def _record_escalation(event: SlaEvent, step: SlaEscalationStep, outcome: str, detail: str = "") -> SlaEscalation:
    row, _ = SlaEscalation.objects.get_or_create(
        event=event, step=step, defaults={"action": step.action, "outcome": outcome, "detail": detail[:300]}
    )
    return row


def sla_escalate(*, event: SlaEvent, step: SlaEscalationStep, recipients: dict | None = None) -> SlaEscalation:
    """Run one escalation step for one event, as the system: policy `sla.escalate`
    first (a denial is recorded and audited by the policies app), the action in a
    savepoint (a failure is recorded, the other steps still run), then audited."""
    from apps.audit.services import audit_record
    from apps.policies.decisions import PolicyDenied
    from apps.policies.services import policy_require

    if SlaEscalation.objects.filter(event=event, step=step).exists():
        return SlaEscalation.objects.get(event=event, step=step)
    ticket = event.ticket
    context = {"step": step.action, "threshold": event.threshold, "metric": event.metric, "event": event.pk}
    try:
        policy_require(None, SLA_ESCALATE, ticket, context)
    except PolicyDenied as exc:
        return _record_escalation(event, step, EscalationOutcome.DENIED, str(exc))
    recipients = recipients if recipients is not None else {}
    try:
        with transaction.atomic():
            outcome, detail = _ESCALATIONS[step.action](ticket=ticket, step=step, recipients=recipients)
    except ApplicationError as exc:
        outcome, detail = EscalationOutcome.FAILED, exc.message
    except Exception as exc:  # a broken step must not block the others or the sweep
        logger.exception("SLA escalation %s for event %s failed", step.action, event.pk)
        outcome, detail = EscalationOutcome.FAILED, f"{type(exc).__name__}"
    if outcome == EscalationOutcome.DONE and step.action in (EscalationAction.REASSIGN_TEAM, EscalationAction.RAISE_PRIORITY):
        ticket.refresh_from_db()  # later steps of this event see the ticket as it now is
    row = _record_escalation(event, step, outcome, detail)
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


def _notify_assignee(*, ticket, step, recipients) -> tuple[str, str]:
    if ticket.assignee is None or not ticket.assignee.is_active:
        return EscalationOutcome.SKIPPED, "no assignee"
    recipients[ticket.assignee.pk] = ticket.assignee
    return EscalationOutcome.DONE, ticket.assignee.email


def _notify_team_lead(*, ticket, step, recipients) -> tuple[str, str]:
    lead = ticket.team.lead if ticket.team is not None else None
    if lead is None or not lead.is_active:
        return EscalationOutcome.SKIPPED, "no team lead"
    recipients[lead.pk] = lead
    return EscalationOutcome.DONE, lead.email


def _reassign_team(*, ticket, step, recipients) -> tuple[str, str]:
    from apps.tickets.services import ticket_assign

    if step.team is None:
        return EscalationOutcome.FAILED, "no team configured"
    if ticket.team_id == step.team_id:
        return EscalationOutcome.SKIPPED, f"already with {step.team.name}"
    ticket_assign(actor=None, ticket=ticket, team=step.team)
    return EscalationOutcome.DONE, f"reassigned to {step.team.name}"


def _raise_priority(*, ticket, step, recipients) -> tuple[str, str]:
    """One level up (P3 -> P2) through `ticket_update`: the tickets app derives the
    priority from impact x urgency, so the smallest change of those that gives the
    next priority in the tenant's matrix is made (urgency first)."""
    from apps.tickets.selectors import priority_matrix_get
    from apps.tickets.services import ticket_update

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


# --- Configuration: calendars ------------------------------------------------------------------------


def _calendar_snapshot(calendar: SlaCalendar) -> dict:
    return {
        "name": calendar.name,
        "timezone": calendar.timezone,
        "always_open": calendar.always_open,
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": calendar.holiday_subdivision,
        "shifts": [[s.weekday, s.start.strftime("%H:%M:%S"), s.end.strftime("%H:%M:%S")] for s in calendar.shifts.all()],
        "holidays": [[h.date.isoformat(), h.name] for h in calendar.extra_holidays.all()],
    }


@transaction.atomic
def sla_calendar_save(*, actor, data: CalendarInput, calendar: SlaCalendar | None = None) -> SlaCalendar:
    """Create or replace a calendar (hours and custom holidays included)."""
    from apps.audit.services import audit_record
    from apps.policies.services import policy_require

    creating = calendar is None or calendar.pk is None
    policy_require(
        actor,
        SLA_CONFIGURE,
        None if creating else calendar,
        {"object": "calendar", "operation": "create" if creating else "update"},
    )
    errors = calendar_problems(data)
    name = (data.name or "").strip()
    clash = SlaCalendar.objects.filter(name__iexact=name)
    if not creating:
        clash = clash.exclude(pk=calendar.pk)
    if name and clash.exists():
        errors.setdefault("name", []).append(f"A calendar named “{name}” already exists.")
    if errors:
        raise _problem(errors, "The calendar is not valid")
    before = None if creating else _calendar_snapshot(SlaCalendar.objects.get(pk=calendar.pk))
    calendar = calendar or SlaCalendar()
    calendar.name = name
    calendar.timezone = data.timezone
    calendar.always_open = bool(data.always_open)
    calendar.holiday_country = (data.holiday_country or "").strip()
    calendar.holiday_subdivision = (data.holiday_subdivision or "").strip()
    calendar.updated_at = timezone.now()
    calendar.save()
    calendar.shifts.all().delete()
    SlaCalendarShift.objects.bulk_create(
        SlaCalendarShift(calendar=calendar, weekday=int(s.weekday), start=s.start, end=s.end) for s in data.shifts
    )
    calendar.extra_holidays.all().delete()
    SlaCalendarHoliday.objects.bulk_create(
        SlaCalendarHoliday(calendar=calendar, date=h.date, name=(h.name or "")[:100]) for h in data.holidays
    )
    after = _calendar_snapshot(calendar)
    audit_record(
        actor=actor,
        action="sla.calendar_created" if creating else "sla.calendar_updated",
        target=calendar,
        payload={"calendar": calendar.pk, "before": before, "after": after},
    )
    if not creating and before != after:
        calendar_id = calendar.pk
        _enqueue_recompute(calendar_id=calendar_id)
    return calendar


# --- Configuration: policies -----------------------------------------------------------------------


def _policy_snapshot(policy: SlaPolicy) -> dict:
    return {
        "name": policy.name,
        "description": policy.description,
        "order": policy.order,
        "active": policy.active,
        "targets": policy.targets,
        "calendar": policy.calendar_id,
        "categories": sorted(c.pk for c in policy.categories.all()),
        "teams": sorted(t.pk for t in policy.teams.all()),
        "pause_statuses": list(policy.pause_statuses),
        "warning_thresholds": list(policy.warning_thresholds),
        "escalations": [
            {"metric": s.metric, "at_percent": s.at_percent, "action": s.action, "team": s.team_id, "position": s.position}
            for s in policy.escalations.order_by("at_percent", "position", "pk")
        ],
    }


def sla_policy_problems(data: PolicyInput, *, policy: SlaPolicy | None = None) -> dict[str, list[str]]:
    """What is wrong with `data` as the new content of `policy` (None: a new policy)."""
    exclude = policy.pk if policy is not None and policy.pk else None
    others = selectors.policy_shapes(exclude_pk=exclude)
    tree = selectors.category_tree() if any(o.category_ids for o in others) or data.categories else {}
    errors = policy_problems(data, others=others, category_tree=tree)
    name = (data.name or "").strip()
    if name and any(o.name.lower() == name.lower() for o in others):
        errors.setdefault("name", []).append(f"A policy named “{name}” already exists.")
    return errors


@transaction.atomic
def sla_policy_save(*, actor, data: PolicyInput, policy: SlaPolicy | None = None) -> SlaPolicy:
    """Create or replace a policy (conditions, targets and escalation steps included).

    Open clocks of the changed policy (and tickets without clocks, which it may now
    match) are re-targeted after commit by the `sla.recompute` task.
    """
    from apps.audit.services import audit_record
    from apps.policies.services import policy_require

    creating = policy is None or policy.pk is None
    policy_require(
        actor, SLA_CONFIGURE, None if creating else policy, {"object": "policy", "operation": "create" if creating else "update"}
    )
    # Serialise configuration changes of this tenant, so two admins cannot each pass
    # the overlap check and together create an overlap.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sla.configure:{connection.schema_name}"])
    errors = sla_policy_problems(data, policy=policy)
    if errors:
        raise _problem(errors, "The policy is not valid")
    targets, _ = targets_clean(data.targets)
    before = None if creating else _policy_snapshot(SlaPolicy.objects.get(pk=policy.pk))
    policy = policy or SlaPolicy()
    policy.name = data.name.strip()
    policy.description = data.description or ""
    policy.order = data.order
    policy.active = bool(data.active)
    policy.targets = targets
    policy.calendar = data.calendar
    policy.pause_statuses = list(dict.fromkeys(data.pause_statuses))
    policy.warning_thresholds = sorted(set(data.warning_thresholds))
    policy.updated_at = timezone.now()
    policy.save()
    policy.categories.set(list(data.categories))
    policy.teams.set(list(data.teams))
    policy.escalations.all().delete()
    SlaEscalationStep.objects.bulk_create(
        SlaEscalationStep(
            policy=policy,
            metric=step.metric,
            at_percent=step.at_percent,
            action=step.action,
            team=step.team,
            position=step.position if step.position else index,
        )
        for index, step in enumerate(data.escalations)
    )
    after = _policy_snapshot(policy)
    audit_record(
        actor=actor,
        action="sla.policy_created" if creating else "sla.policy_updated",
        target=policy,
        payload={"policy": policy.pk, "before": before, "after": after},
    )
    if before != after and (policy.active or (before or {}).get("active")):
        policy_id = policy.pk
        _enqueue_recompute(policy_id=policy_id)
    return policy


@transaction.atomic
def sla_policy_delete(*, actor, policy: SlaPolicy) -> None:
    """Delete a policy. Its clocks keep their deadlines and events; their tickets are
    re-matched against the remaining policies after commit."""
    from apps.audit.services import audit_record
    from apps.policies.services import policy_require

    policy_require(actor, SLA_CONFIGURE, policy, {"object": "policy", "operation": "delete"})
    snapshot = _policy_snapshot(policy)
    ticket_ids = list(SlaClock.objects.filter(policy=policy, stopped_at__isnull=True).values_list("ticket_id", flat=True))
    audit_record(actor=actor, action="sla.policy_deleted", target=policy, payload={"policy": policy.pk, "before": snapshot})
    policy.delete()
    if ticket_ids:
        _enqueue_resync(ticket_ids)


def _enqueue_recompute(**kwargs) -> None:
    """Recompute after commit, in the tenant current now."""
    from apps.core.tasks import enqueue_on_commit

    from .tasks import recompute as recompute_task

    enqueue_on_commit(recompute_task, **kwargs)


def _enqueue_resync(ticket_ids: list[int]) -> None:
    """Re-sync these tickets' clocks after commit, in the tenant current now."""
    from apps.core.tasks import enqueue_on_commit

    from .tasks import resync as resync_task

    enqueue_on_commit(resync_task, ticket_ids=ticket_ids)


def sla_tickets_resync(*, ticket_ids: Sequence[int], now: datetime | None = None) -> int:
    from apps.tickets.models import Ticket

    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        matcher = selectors.policy_matcher()
        tickets = Ticket.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=list(ticket_ids))
        for ticket in tickets.order_by("pk"):
            sla_sync(ticket, at=now, now=now, matcher=matcher)
            done += 1
    return done


# --- Notifications -------------------------------------------------------------------------------


@transaction.atomic
def sla_notification_mark_read(*, actor, notification_ids: Sequence[int]) -> int:
    """Mark the actor's own in-app SLA notifications read."""
    from .models import SlaNotification

    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("Only a signed-in user has notifications.")
    return SlaNotification.objects.filter(recipient=actor, pk__in=list(notification_ids), read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- Inputs from ids (API) ------------------------------------------------------------------------


def policy_input_from_data(data: dict, *, base: SlaPolicy | None = None) -> PolicyInput:
    """A PolicyInput from API-shaped data (ids for calendar, categories, teams and step
    teams). With `base`, missing keys keep the stored values (PATCH). Unknown ids are
    refused with field errors."""
    from apps.accounts.models import Team
    from apps.tickets.models import Category

    from .validation import StepInput

    current = _policy_snapshot(base) if base is not None else {}
    merged = {**current, **data}
    errors: dict[str, list[str]] = {}

    def objects(model, ids, key, label):
        ids = list(dict.fromkeys(int(i) for i in ids or []))
        found = {o.pk: o for o in model.objects.filter(pk__in=ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            errors.setdefault(key, []).append(f"Unknown {label}: {', '.join(map(str, missing))}.")
        return [found[i] for i in ids if i in found]

    calendar = None
    if merged.get("calendar") is not None:
        calendar = SlaCalendar.objects.filter(pk=merged["calendar"]).first()
        if calendar is None:
            errors.setdefault("calendar", []).append(f"Unknown calendar {merged['calendar']}.")
    categories = objects(Category, merged.get("categories"), "categories", "categories")
    teams = objects(Team, merged.get("teams"), "teams", "teams")
    step_teams = {
        t.pk: t for t in Team.objects.filter(pk__in=[s.get("team") for s in merged.get("escalations") or [] if s.get("team")])
    }
    steps = []
    for index, raw in enumerate(merged.get("escalations") or []):
        team = None
        if raw.get("team"):
            team = step_teams.get(int(raw["team"]))
            if team is None:
                errors.setdefault(f"escalations.{index}", []).append(f"Unknown team {raw['team']}.")
        steps.append(
            StepInput(
                at_percent=raw["at_percent"],
                action=raw["action"],
                metric=raw.get("metric") or StepMetric.ANY,
                team=team,
                position=index,
            )
        )
    if errors:
        raise _problem(errors, "The policy is not valid")
    return PolicyInput(
        name=merged.get("name", ""),
        description=merged.get("description", "") or "",
        order=merged.get("order", 100),
        active=merged.get("active", True),
        calendar=calendar,
        targets=merged.get("targets") or {},
        categories=categories,
        teams=teams,
        pause_statuses=list(merged.get("pause_statuses", ["pending"])),
        warning_thresholds=list(merged.get("warning_thresholds", [50, 75, 90])),
        escalations=steps,
    )
