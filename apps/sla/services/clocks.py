"""Clocks follow their tickets: `sla_sync` reconciles a ticket's clocks with the ticket
(idempotent), and the hooks below call it for each kind of change.

The hooks run inside the transaction that changed the ticket: the tickets services emit
their domain events, and the SLA app's in-transaction handler (`apps/sla/consumers.py`)
calls them. Clocks are derived state of a ticket write that was already policy-checked
and audited by the tickets service, so they add no decision or audit of their own; they
emit `sla.paused` and `sla.resumed` when a change stops or restarts a clock.

Bulk paths (an import, a category merge, a policy change) work through the same
`sla_sync` (`sla_tickets_resync`, `sla_clocks_recompute`) or the same clock arithmetic
(`sla_attach_many`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.core.tasks import enqueue_on_commit
from apps.events.services.emit import emit
from apps.tickets.models import Ticket

from .. import conf, selectors
from ..calendar import Calendar
from ..choices import ACTIVE_STATUSES, Metric
from ..clockmath import ReplayClock, clock_compute, iso, reconcile, stop_instant
from ..events import SlaPaused, SlaResumed
from ..models import SlaClock, SlaPolicy

METRICS = tuple(Metric.values)

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


def _risk_percent() -> int:
    return int(conf.get("WARDEN_SLA_AT_RISK_PERCENT"))


def _reconcile(clock: SlaClock, ticket, policy: SlaPolicy | None, metric: str, *, at: datetime, now: datetime) -> SlaClock:
    """`clockmath.reconcile` for a stored clock: with the policy's target, pauses and
    calendar, and the policy and calendar set on the clock."""
    minutes = policy.target_minutes(ticket.priority, metric) if policy is not None else None

    def follow_policy(target) -> None:
        target.policy, target.calendar = policy, policy.calendar

    return reconcile(
        clock,
        ticket,
        metric,
        target_minutes=minutes,
        pause_statuses=policy.pause_statuses if policy is not None else (),
        calendar=selectors.calendar_for(policy.calendar) if policy is not None and minutes is not None else None,
        thresholds=policy.warning_thresholds if policy is not None else (),
        at=at,
        now=now,
        risk_percent=_risk_percent(),
        on_target=follow_policy,
    )


def sla_sync(ticket, *, at: datetime | None = None, now: datetime | None = None, matcher=None) -> list[SlaClock]:
    """Bring the ticket's clocks in line with the ticket. Idempotent.

    `at` is when the change happened (default: now): a pause starts or ends there.
    Call inside the transaction that changed the ticket; the clock rows are locked.
    A clock that starts or ends a pause emits `sla.paused` / `sla.resumed`. New clocks
    (a new ticket's two) are written in one INSERT.
    """
    now = now or timezone.now()
    at = at or now
    existing = {
        c.metric: c
        for c in SlaClock.objects.select_for_update(of=("self",)).filter(ticket_id=ticket.pk).select_related("calendar")
    }
    policy = selectors.policy_match(ticket, matcher=matcher)
    result = []
    inserts: list[SlaClock] = []
    changes: list[tuple[SlaClock, bool]] = []
    for metric in Metric.values:
        clock = existing.get(metric)
        if clock is None:
            if policy is None or policy.target_minutes(ticket.priority, metric) is None:
                continue
            if ticket.status not in ACTIVE_STATUSES and stop_instant(ticket, metric) is None:
                continue
            clock = SlaClock(ticket_id=ticket.pk, metric=metric, started_at=ticket.created_at, target_seconds=1, history=[])
        was_paused = clock.pk is not None and clock.paused_at is not None
        _reconcile(clock, ticket, policy, metric, at=at, now=now)
        clock.updated_at = now
        if clock.pk is None:
            inserts.append(clock)  # written below, all in one statement
        else:
            clock.save(update_fields=_CLOCK_FIELDS)
        changes.append((clock, was_paused))
        result.append(clock)
    if inserts:
        SlaClock.objects.bulk_create(inserts)  # sets their primary keys (RETURNING)
    for clock, was_paused in changes:  # in metric order, as the clocks were synced
        _emit_pause_change(ticket, clock, was_paused=was_paused)
    return result


def _emit_pause_change(ticket, clock: SlaClock, *, was_paused: bool) -> None:
    """`sla.paused` / `sla.resumed` when the sync started or ended a pause."""
    is_paused = clock.paused_at is not None
    if is_paused and not was_paused:
        emit(SlaPaused(ticket_id=ticket.pk, clock_id=clock.pk, metric=clock.metric))
    elif was_paused and not is_paused:
        emit(SlaResumed(ticket_id=ticket.pk, clock_id=clock.pk, metric=clock.metric))


# --- Hooks: what each kind of ticket change does to the clocks ---------------------------------


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


def sla_tickets_resync(*, ticket_ids: Sequence[int], now: datetime | None = None) -> int:
    """Re-match and re-target these tickets' clocks now (after a bulk change of their
    category, team or priority: a category merge or move, a deleted policy)."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        matcher = selectors.policy_matcher()
        tickets = Ticket.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=list(ticket_ids))
        for ticket in tickets.order_by("pk"):
            sla_sync(ticket, at=now, now=now, matcher=matcher)
            done += 1
    return done


def sla_clocks_recompute(
    *, policy_id: int | None = None, calendar_id: int | None = None, now: datetime | None = None, chunk: int = 500
) -> int:
    """Re-match and re-target the clocks of open tickets after a policy or calendar
    changed (run by the `sla.recompute` task after the change commits)."""
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


# --- Bulk attach (imports, benchmarks) ------------------------------------------------------------

COPY_COLUMNS = (
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


def sla_attach_many(tickets: Sequence, *, now: datetime | None = None) -> int:
    """Create the clocks of many NEW tickets at once (an import): one policy lookup, one
    calendar per policy, rows streamed with binary COPY into a staging table and
    inserted in one statement. Tickets that already have clocks are left alone (ON
    CONFLICT DO NOTHING). Returns how many clocks were computed."""
    now = now or timezone.now()
    matcher = selectors.policy_matcher()
    risk_percent = _risk_percent()
    calendars: dict[int, Calendar] = {}
    rows: list[ReplayClock] = []
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
            row = ReplayClock(
                ticket_id=ticket.pk,
                metric=metric,
                policy_id=policy.pk,
                calendar_id=policy.calendar_id,
                target_seconds=minutes * 60,
                started_at=ticket.created_at,
                history=[[ticket.status, iso(ticket.created_at)]],
                updated_at=now,
                paused_at=ticket.created_at if paused else None,
            )
            stop = stop_instant(ticket, metric)
            if stop is not None:
                row.stopped_at = max(stop, ticket.created_at)
            clock_compute(row, calendar, thresholds=policy.warning_thresholds, now=now, risk_percent=risk_percent)
            rows.append(row)
    if rows:
        _copy_clocks(rows)
    return len(rows)


@transaction.atomic
def _copy_clocks(rows: Sequence[ReplayClock]) -> None:
    """Binary COPY into a temporary table shaped like the clocks, then one INSERT ...
    SELECT with ON CONFLICT DO NOTHING (COPY itself cannot skip conflicts)."""
    from psycopg.types.json import Jsonb

    quote = connection.ops.quote_name
    table = quote(SlaClock._meta.db_table)
    names = COPY_COLUMNS
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


def sla_on_tickets_changed(ticket_ids: Iterable[int]) -> None:
    """After a bulk change of many tickets' category, team or priority: re-match and
    re-target their clocks in a task, after commit."""
    ids = sorted(set(ticket_ids))
    if ids:
        enqueue_on_commit("sla.resync", ticket_ids=ids)
