"""The SLA sweep at scale: one million open clocks across 10 tenants, 1 % crossing.

    .venv/bin/python bench/sla_sweep.py [--tenants 10] [--tickets 50000] [--rounds 3]

Per tenant: `--tickets` open tickets with a first-response and a resolution clock each
(100k clocks by default) on a 24x7 calendar; 1 % of the clocks crossed their 50 % mark
ten seconds ago, the others have their next mark in the future. Prints, as medians of
`--rounds` runs (state reset in between, not timed):

* one full sweep of all tenants (`services.sla_sweep`, what the beat task runs): target
  under 5 s in all, and the events it emitted (must be exactly the crossings);
* the sweep's cost per 100k clocks (one tenant) next to ONE raw SQL UPDATE that makes
  the same state change to the clocks (without emitting events) - the ratio is the
  figure to watch.
"""

from __future__ import annotations

import argparse
import statistics
import time

from environment import describe  # noqa: E402
from sla_common import bench_database, provision

TICKETS_SQL = """
INSERT INTO tickets_ticket (number, title, description, description_html, requester_id, impact, urgency, priority,
                            status, resolution_code, resolution_note, source, reopen_count, created_at, updated_at)
SELECT g, 'Bench ticket ' || g, '', '', %(requester)s, 2, 2, 'P3', 'open', '', '', 'portal', 0, %(now)s, %(now)s
FROM generate_series(1, %(n)s) AS g
"""

CLOCKS_SQL = """
INSERT INTO sla_slaclock (ticket_id, metric, policy_id, calendar_id, target_seconds, state, started_at, pauses,
                          paused_seconds, history, due_at, risk_at, thresholds, marks, next_mark_at, updated_at)
SELECT c.ticket_id, c.metric, %(policy)s, %(calendar)s, c.target, 'running', c.started, '[]'::jsonb, 0, '[]'::jsonb,
       c.started + make_interval(secs => c.target), c.started + make_interval(secs => c.target * 0.75),
       ARRAY[50, 75, 90, 100]::smallint[],
       ARRAY[c.started + make_interval(secs => c.target * 0.5), c.started + make_interval(secs => c.target * 0.75),
             c.started + make_interval(secs => c.target * 0.9), c.started + make_interval(secs => c.target)],
       c.started + make_interval(secs => c.target * 0.5), %(now)s
FROM (
    SELECT t.id AS ticket_id, m.metric, m.target,
           CASE WHEN (t.id * 2 + m.idx) %% 100 = 0 THEN %(now)s - make_interval(secs => m.target * 0.5 + 10)
                ELSE %(now)s - make_interval(secs => random() * m.target * 0.45) END AS started
    FROM tickets_ticket t
    CROSS JOIN (VALUES ('first_response', 3600, 0), ('resolution', 14400, 1)) AS m(metric, target, idx)
) AS c
"""

RESET_SQL = """
UPDATE sla_slaclock SET next_mark_at = marks[1], state = 'running', breached_at = NULL
WHERE next_mark_at IS DISTINCT FROM marks[1] OR state <> 'running'
"""

RAW_UPDATE_SQL = """
UPDATE sla_slaclock c
SET next_mark_at = (SELECT min(x) FROM unnest(c.marks) AS x WHERE x > %(now)s),
    state = CASE WHEN c.state IN ('running', 'paused') AND c.due_at <= %(now)s THEN 'breached' ELSE c.state END,
    breached_at = CASE WHEN c.state IN ('running', 'paused') AND c.due_at <= %(now)s THEN c.due_at ELSE c.breached_at END,
    updated_at = %(now)s
WHERE c.next_mark_at <= %(now)s
"""


def seed(tenant, n: int, now) -> int:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.accounts.models import Role, User
    from apps.sla import services
    from apps.sla.models import SlaClock
    from apps.sla.validation import CalendarInput, PolicyInput

    with tenant_context(tenant):
        if SlaClock.objects.exists():
            return SlaClock.objects.count()
        calendar = services.sla_calendar_save(actor=None, data=CalendarInput(name="24x7", always_open=True))
        policy = services.sla_policy_save(
            actor=None,
            data=PolicyInput(name="Bench", calendar=calendar, targets={"P3": {"first_response": 60, "resolution": 240}}),
        )
        requester = User.objects.filter(role=Role.ADMIN).values_list("pk", flat=True).first()
        with connection.cursor() as cursor:
            cursor.execute(TICKETS_SQL, {"requester": requester, "now": now, "n": n})
            cursor.execute(CLOCKS_SQL, {"policy": policy.pk, "calendar": calendar.pk, "now": now})
            cursor.execute("VACUUM ANALYZE tickets_ticket")
            cursor.execute("VACUUM ANALYZE sla_slaclock")
        return SlaClock.objects.count()


def reset(tenants) -> None:
    from django.db import connection
    from django_tenants.utils import tenant_context

    for tenant in tenants:
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute("TRUNCATE sla_slaevent CASCADE")
            cursor.execute(RESET_SQL)
            cursor.execute("VACUUM ANALYZE sla_slaclock")
            cursor.execute("VACUUM ANALYZE sla_slaevent")


def sweep_all(tenants, now) -> tuple[float, list[float], int]:
    from django_tenants.utils import tenant_context

    from apps.sla import services

    per_tenant, events = [], 0
    started = time.perf_counter()
    for tenant in tenants:
        with tenant_context(tenant):
            result = services.sla_sweep(now=now, enqueue=False)
        per_tenant.append(result.seconds)
        events += result.events
    return time.perf_counter() - started, per_tenant, events


def raw_all(tenants, now) -> tuple[float, list[float], int]:
    from django.db import connection, transaction
    from django_tenants.utils import tenant_context

    per_tenant, rows = [], 0
    started = time.perf_counter()
    for tenant in tenants:
        with tenant_context(tenant):
            one = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(RAW_UPDATE_SQL, {"now": now})
                rows += cursor.rowcount
            per_tenant.append(time.perf_counter() - one)
    return time.perf_counter() - started, per_tenant, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=50_000, help="per tenant; two clocks each")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with bench_database():
        print(describe())
        from django.utils import timezone

        now = timezone.now()
        started = time.perf_counter()
        tenants = [provision(f"bench-sla-{i}") for i in range(args.tenants)]
        clocks = sum(seed(t, args.tickets, now) for t in tenants)
        print(f"seeded {args.tenants} tenants, {clocks:,} open clocks in {time.perf_counter() - started:.1f} s", flush=True)
        expected = clocks // 100
        sweeps, raws = [], []
        for _ in range(args.rounds):
            reset(tenants)
            total, per_tenant, events = sweep_all(tenants, now)
            assert events == expected, (events, expected)
            sweeps.append((total, statistics.median(per_tenant)))
            reset(tenants)
            total, per_tenant, rows = raw_all(tenants, now)
            assert rows == expected, (rows, expected)
            raws.append((total, statistics.median(per_tenant)))
        sweep_total = statistics.median(s[0] for s in sweeps)
        sweep_100k = statistics.median(s[1] for s in sweeps) * 100_000 / (clocks / args.tenants)
        raw_total = statistics.median(r[0] for r in raws)
        raw_100k = statistics.median(r[1] for r in raws) * 100_000 / (clocks / args.tenants)
        print(f"\n{clocks:,} open clocks in {args.tenants} tenants, {expected:,} crossing (1 %), medians of {args.rounds} rounds")
        verdict = "ok" if sweep_total < 5 else "OVER TARGET"
        print(
            f"  full sweep, all tenants:      {sweep_total:7.3f} s   ({expected:,} events emitted, each once)   "
            f"target < 5 s: {verdict}"
        )
        print(f"  one raw UPDATE, all tenants:  {raw_total:7.3f} s   (same clock state change, no events)")
        print(
            f"  per 100k clocks: sweep {sweep_100k * 1000:7.1f} ms   raw UPDATE {raw_100k * 1000:7.1f} ms   "
            f"ratio {sweep_100k / raw_100k:5.2f}x"
        )


if __name__ == "__main__":
    main()
