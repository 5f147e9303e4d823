"""Outage and recovery with a REAL Celery beat and worker.

Beat runs django-celery-beat's DatabaseScheduler on the entries `periodic.sync()` (what
`manage.py sync_periodic_tasks` writes) with the sweep's interval shortened to 2 s; it
sends the public dispatcher `tenants.dispatch`, which fans `sla.sweep` out to every
tenant, and a worker runs it; what a crossing sets off (audit, escalation, notification)
is the outbox's: the sweep writes `sla.warning` / `sla.breached` with their deliveries and
kicks the relay, and beat's relay sweep (also every 2 s) catches up whatever a kick
missed. The test watches one sweep happen, stops beat and worker,
moves every clock hours into the past (past several thresholds, two hours past most),
starts both again and waits until the backlog is emitted: every warning and breach
exactly once, with the crossing instant the test computes itself (24x7 calendar: start
+ percent x target), notified once per breached clock, and nothing again on the next
ticks.

Beat and worker share a private Redis on a free port as their broker (tests/workers.py),
so no other test session's worker can take these tasks (nor this worker theirs). redis-server is
installed by `make test` (scripts/services.sh): without it the test fails, it does not
skip.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.events.models import Delivery
from apps.notifications.models import Notification
from apps.sla import services
from apps.sla.models import SlaClock, SlaEvent
from tests.workers import RedisServer, celery_env, count_lines, start_beat, start_worker, stop, wait

from .factories import make_calendar, make_policy, make_ticket, set_status

ROOT = Path(__file__).resolve().parents[2]
M = timedelta(minutes=1)
BEAT_SECONDS = 2


def _sweeps_sent(log: Path) -> int:
    """How many `sla.sweep` tasks the dispatcher sent ("dispatched sla.sweep to N tenant(s)")."""
    return sum(
        int(line.split("dispatched sla.sweep to ")[1].split()[0])
        for line in log.read_text().splitlines()
        if "dispatched sla.sweep to " in line
    )


def _up(redis: RedisServer, tmp: Path, round_: int) -> tuple[subprocess.Popen, subprocess.Popen, Path, Path]:
    worker_log, beat_log = tmp / f"worker-{round_}.log", tmp / f"beat-{round_}.log"
    env = celery_env(redis.url(0), REDIS_URL=redis.url(1))
    worker = start_worker(env, worker_log, name="sla")
    try:
        beat = start_beat(env, beat_log, tmp)
    except BaseException:
        stop(worker)
        raise
    return worker, beat, worker_log, beat_log


def test_the_sweep_is_on_beat_every_30_seconds_as_a_public_dispatcher(tenant):
    """(Also makes selecting this module alone create the test database.)"""
    from django_celery_beat.models import PeriodicTask

    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "sla-sweep")
    assert (entry.tenant_task, entry.every_seconds, entry.jitter_seconds) == ("sla.sweep", 30, 5)
    periodic.sync()
    row = PeriodicTask.objects.get(name="warden:sla-sweep")
    assert row.task == "tenants.dispatch"
    assert row.interval.every == 30
    assert json.loads(row.kwargs) == {"task_name": "sla.sweep", "jitter_seconds": 5}


def _crossings(created, targets: dict[str, int], thresholds=(50, 75, 90, 100)) -> dict[tuple[str, int], object]:
    """When each threshold is crossed on a 24x7 calendar without pauses: the start plus
    that share of the target (computed here, not read from the clocks)."""
    return {
        (metric, pct): created + timedelta(minutes=minutes) * pct / 100
        for metric, minutes in targets.items()
        for pct in thresholds
    }


@pytest.mark.slow
def test_beat_and_worker_down_for_hours_then_every_event_once_at_its_true_time(
    fresh_tenant, private_redis, beat_schedule, tmp_path
):
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    tenant = fresh_tenant
    beat_schedule({"sla-sweep": BEAT_SECONDS, "events-relay": BEAT_SECONDS})
    targets = {"first_response": 30, "resolution": 120}
    now0 = timezone.now()
    # Opened: a 20 min ago (its first-response 50 % passed 5 min ago); b, c, d, e, f a few
    # minutes ago (nothing crossed yet).
    opened = {"a": 20, "b": 3, "c": 6, "d": 9, "e": 5, "f": 4}
    with transaction.atomic():
        requester = User.objects.get(role=Role.ADMIN)
        agent = user_create(email="agent@outage.test", role=Role.AGENT, password=None, validate=False)
        make_policy(
            calendar=make_calendar(name="Always"),
            targets={"P3": targets},
            escalations=[{"at_percent": 100, "action": "notify_assignee"}],
        )
        tickets = {}
        for key, minutes in opened.items():
            tickets[key] = make_ticket(requester=requester, created_at=now0 - minutes * M, assignee=agent, title=key)
            services.sla_on_ticket_created(tickets[key])
    a_first_half = tickets["a"].created_at + 15 * M

    # 1. Beat and worker up: beat's sweep emits (and processing handles) a's 50 %.
    worker, beat, worker_log, beat_log = _up(private_redis, tmp_path, 1)
    try:
        wait(
            lambda: SlaEvent.objects.filter(processed_at__isnull=False).exists(),
            30, worker_log, beat_log, what="the first sweep",
        )
    finally:
        stop(beat, worker)
    assert count_lines(beat_log, "Sending due task warden:sla-sweep (tenants.dispatch)") >= 1
    assert count_lines(worker_log, "Task sla.sweep[", "succeeded") >= 1
    connection.set_tenant(tenant)
    assert list(SlaEvent.objects.values_list("ticket_id", "metric", "threshold", "crossed_at")) == [
        (tickets["a"].pk, "first_response", 50, a_first_half)
    ]

    # 2. Down. Hours pass: every ticket is now four hours old (e: 100 minutes), and f went
    # to pending 10 minutes after it was opened, before any of its thresholds.
    shift = {"a": 240, "b": 240, "c": 240, "d": 240, "e": 95, "f": 240}
    from apps.tickets.models import Ticket

    created = {}
    with transaction.atomic():
        for key, ticket in tickets.items():
            Ticket.objects.filter(pk=ticket.pk).update(created_at=F("created_at") - shift[key] * M)
            SlaClock.objects.filter(ticket=ticket).update(started_at=F("started_at") - shift[key] * M)
            ticket.refresh_from_db()
            created[key] = ticket.created_at
        services.sla_tickets_resync(ticket_ids=[t.pk for t in tickets.values()])
        set_status(tickets["f"], "pending", created["f"] + 10 * M)
    restarted = timezone.now()
    expected = set()
    for key in "abcde":
        for (metric, pct), at in _crossings(created[key], targets).items():
            if at <= restarted:
                expected.add((tickets[key].pk, metric, pct, at))
    expected.discard((tickets["a"].pk, "first_response", 50, created["a"] + 15 * M))
    expected.add((tickets["a"].pk, "first_response", 50, a_first_half))  # emitted before the outage, kept
    # a-d: all 8 each; e: first response 4, resolution 50 % and 75 % (90 % is due later); f: none.
    assert len(expected) == 4 * 8 + 4 + 2
    # a-d were left two hours past their breach (and every warning) before the restart.
    assert max(at for (tid, _m, _p, at) in expected if tid != tickets["e"].pk and at != a_first_half) < restarted - 2 * 60 * M
    assert SlaEvent.objects.count() == 1  # nothing happened while beat and worker were down

    # 3. Up again: the backlog is emitted by beat's next sweep and processed.
    worker, beat, worker_log, beat_log = _up(private_redis, tmp_path, 2)
    try:
        done = lambda: (  # noqa: E731
            SlaEvent.objects.filter(processed_at__isnull=False).count() >= len(expected)
            and not Delivery.objects.filter(subscriber="notifications.fanout").exclude(status="done").exists()
        )
        wait(done, 40, worker_log, beat_log, what="the backlog")
        # Two more of beat's rounds, each swept in every tenant: nothing new.
        rounds = count_lines(worker_log, "dispatched sla.sweep to")
        wait(
            lambda: count_lines(worker_log, "dispatched sla.sweep to") >= rounds + 2
            and count_lines(worker_log, "Task sla.sweep[", "succeeded") >= _sweeps_sent(worker_log),
            30, worker_log, beat_log, what="two more rounds of sweeps",
        )
    finally:
        stop(beat, worker)
    connection.set_tenant(tenant)
    events = list(SlaEvent.objects.all())
    emitted = {(e.ticket_id, e.metric, e.threshold, e.crossed_at) for e in events}
    assert len(events) == len(expected)  # each once
    assert emitted == expected  # at the instant it was crossed, not when the sweep saw it
    assert all(e.emitted_at >= restarted for e in events if (e.ticket_id, e.threshold) != (tickets["a"].pk, 50))
    assert {e.kind for e in events if e.threshold == 100} == {"breach"}
    assert all(e.processed_at is not None for e in events)
    # The notifications app told the assignee once per breached clock, about the breach
    # (not about each warning the outage piled up), and of the worst warning of the clock
    # that had not breached (e's resolution, 75 %), besides a's 50 % told before the outage.
    told = list(Notification.objects.filter(kind__in=["sla_warning", "sla_breached"]))
    breached = {(tid, m) for (tid, m, pct, _at) in expected if pct == 100}
    assert len(breached) == 9
    assert {(n.ticket_id, n.context["metric"]) for n in told if n.kind == "sla_breached"} == breached
    warned = sorted((n.ticket_id, n.context["metric"], n.context["threshold"]) for n in told if n.kind == "sla_warning")
    assert warned == sorted([(tickets["a"].pk, "first_response", 50), (tickets["e"].pk, "resolution", 75)])
    assert {n.recipient_id for n in told} == {agent.pk}
    assert len(told) == 11
