"""Computing due times for 100k tickets (target: under 5 s).

    .venv/bin/python bench/sla_due.py [--tickets 100000]

Two figures:

* computing (`clockmath.clock_compute` over `calendar.py`, no I/O): for each ticket both
  clocks with everything derived (due time, the 50/75/90 % marks, the at-risk instant,
  the state), on a business-hours calendar (Europe/Warsaw, Mon-Fri 09:00-17:00, Polish
  holidays; first response 4 h, resolution 3 business days) with start times spread
  over a year, and on a 24x7 calendar. Wall and CPU time: the machine may be shared;
* the service path (`services.sla_attach_many`, as an import would use it): read the
  tickets, match the policy, compute, and bulk-INSERT the clocks, in one tenant of a
  throwaway database.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from environment import describe  # noqa: E402
from sla_common import bench_database, provision

LEVELS = (50, 75, 90, 100, 75)  # thresholds, breach, at-risk


def pure(n: int) -> None:
    from apps.sla.calendar import Calendar, Shift
    from apps.sla.clockmath import clock_compute
    from apps.sla.models import SlaClock

    office = Calendar(
        timezone="Europe/Warsaw",
        shifts=tuple(Shift(d, clock_time(9), clock_time(17)) for d in range(5)),
        country="PL",
    )
    always = Calendar(always_open=True)
    rng = random.Random(7)  # noqa: S311  (reproducible test data)
    origin = datetime(2030, 1, 1, tzinfo=UTC)
    now = origin + timedelta(days=400)
    starts = [origin + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(n)]
    for name, calendar in (("business hours", office), ("24x7", always)):
        clocks = [
            SlaClock(ticket_id=i, metric=metric, target_seconds=target, started_at=start, history=[])
            for i, start in enumerate(starts)
            for metric, target in (("first_response", 4 * 3600), ("resolution", 24 * 3600))
        ]
        wall, cpu = time.perf_counter(), time.process_time()
        for clock in clocks:
            clock_compute(clock, calendar, thresholds=(50, 75, 90), now=now, risk_percent=75)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        # Not timed: the due times are right (each sampled clock against Calendar.add).
        for clock in rng.sample(clocks, min(500, len(clocks))):
            assert clock.due_at == calendar.add(clock.started_at, timedelta(seconds=clock.target_seconds)), clock.started_at
        verdict = "ok" if wall < 5 else "OVER TARGET"
        print(
            f"  clock_compute, {name:15s} {n:,} tickets x 2 clocks (due, 3 warnings, at-risk, state): "
            f"{wall:5.2f} s wall, {cpu:5.2f} s CPU   target < 5 s: {verdict}",
            flush=True,
        )


def service(n: int) -> None:
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.accounts.models import Role, User
    from apps.sla import services
    from apps.sla.models import SlaClock
    from apps.sla.validation import CalendarInput, PolicyInput, ShiftInput
    from apps.tickets.models import Ticket

    tenant = provision("bench-sla-due")
    now = timezone.now()
    with tenant_context(tenant):
        calendar = services.sla_calendar_save(
            actor=None,
            data=CalendarInput(
                name="Warsaw office",
                timezone="Europe/Warsaw",
                holiday_country="PL",
                shifts=[ShiftInput(d, clock_time(9), clock_time(17)) for d in range(5)],
            ),
        )
        services.sla_policy_save(
            actor=None,
            data=PolicyInput(name="Office", calendar=calendar, targets={"P3": {"first_response": 240, "resolution": 1440}}),
        )
        requester = User.objects.filter(role=Role.ADMIN).values_list("pk", flat=True).first()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tickets_ticket (number, title, description, description_html, requester_id, impact, urgency,"
                " priority, status, resolution_code, resolution_note, source, reopen_count, created_at, updated_at)"
                " SELECT g, 'Imported ' || g, '', '', %(r)s, 2, 2, 'P3', 'open', '', '', 'api', 0,"
                " %(now)s - random() * interval '30 days', %(now)s FROM generate_series(1, %(n)s) AS g",
                {"r": requester, "now": now, "n": n},
            )
            cursor.execute("VACUUM ANALYZE tickets_ticket")
        started, cpu = time.perf_counter(), time.process_time()
        tickets = list(
            Ticket.objects.only(
                "pk",
                "priority",
                "category_id",
                "team_id",
                "status",
                "created_at",
                "first_response_at",
                "resolved_at",
                "closed_at",
                "updated_at",
            )
        )
        loaded = time.perf_counter() - started
        created = services.sla_attach_many(tickets, now=now)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert created == SlaClock.objects.count() == 2 * n
    print(
        f"  service path (load {n:,} tickets, match, compute, COPY + INSERT {2 * n:,} clocks, commit): "
        f"{seconds:5.2f} s wall, {cpu:5.2f} s CPU in this process (loading the tickets {loaded:.2f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    print(f"due times for {args.tickets:,} tickets")
    with bench_database():
        print(describe())
        pure(args.tickets)
        service(args.tickets)


if __name__ == "__main__":
    main()
