"""The sweep: every warning and breach whose instant has come, emitted once.

Set-based, one statement per batch: it locks a batch of due clocks (SKIP LOCKED, so
concurrent sweeps split the work instead of waiting), records their crossed thresholds
(`SlaEvent`, unique per clock and threshold), emits the matching `sla.warning` /
`sla.breached` domain events into the outbox in the same statement, and moves each
clock's next mark. Events carry the mark's instant as `crossed_at`. What follows (audit,
escalation steps, notifications) is the outbox's subscribers' work, after commit.

A sweep stops after WARDEN_SLA_SWEEP_BUDGET_SECONDS with `more` set (its task then
queues the next one), so a backlog of any size never runs into a task's time limit;
every batch commits its progress.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from apps.events.services.emit import outbox_ctes
from apps.events.services.kick import kick_on_commit

from .. import conf
from ..choices import BREACH
from ..events import SlaBreached, SlaWarning
from ..models import SlaClock, SlaEvent

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
    RETURNING id, clock_id, ticket_id, metric, threshold, kind
),
{outbox},
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
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM moved), (SELECT count(*) FROM outbox_deliveries)
"""

# The events' payloads, from the recorded crossings (exactly the fields of SlaWarning and SlaBreached).
_TYPE_SQL = "CASE WHEN kind = 'breach' THEN 'sla.breached' ELSE 'sla.warning' END"
_PAYLOAD_SQL = (
    "CASE WHEN kind = 'breach' THEN jsonb_build_object('ticket_id', ticket_id, 'clock_id', clock_id, "
    "'sla_event_id', id, 'metric', metric) "
    "ELSE jsonb_build_object('ticket_id', ticket_id, 'clock_id', clock_id, 'sla_event_id', id, 'metric', metric, "
    "'threshold', threshold) END"
)


@dataclass
class SweepResult:
    events: int = 0
    clocks: int = 0
    statements: int = 0
    seconds: float = 0.0
    deliveries: int = 0
    more: bool = False  # stopped by its budget with clocks still due
    extra: dict = field(default_factory=dict)


def _sweep_sql() -> tuple[str, dict]:
    quote = connection.ops.quote_name
    outbox, params = outbox_ctes(
        source="inserted", type_sql=_TYPE_SQL, payload_sql=_PAYLOAD_SQL, event_classes=[SlaWarning, SlaBreached]
    )
    sql = _SWEEP_SQL.format(
        clock=quote(SlaClock._meta.db_table), event=quote(SlaEvent._meta.db_table), breach=BREACH, outbox=outbox
    )
    return sql, params


def sla_sweep(
    *, now: datetime | None = None, batch: int | None = None, enqueue: bool = True, budget_seconds: float | None = None
) -> SweepResult:
    """Emit every warning and breach whose instant is <= now and was not emitted yet.

    `enqueue=False` leaves the relay un-kicked (the events and their deliveries are
    written all the same; the periodic relay or a test delivers them)."""
    started = _time.perf_counter()
    now = now or timezone.now()
    batch = int(batch or conf.get("WARDEN_SLA_SWEEP_BATCH"))
    budget = float(budget_seconds if budget_seconds is not None else conf.get("WARDEN_SLA_SWEEP_BUDGET_SECONDS"))
    sql, params = _sweep_sql()
    result = SweepResult()
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, {**params, "now": now, "batch": batch})
                events, clocks, deliveries = cursor.fetchone()
            if deliveries and enqueue:
                kick_on_commit()
        result.events += int(events)
        result.clocks += int(clocks)
        result.deliveries += int(deliveries)
        result.statements += 1
        if clocks < batch:
            break
        if _time.perf_counter() - started >= budget:
            result.more = True
            break
    result.seconds = _time.perf_counter() - started
    return result
