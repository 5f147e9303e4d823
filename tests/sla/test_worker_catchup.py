"""Outage and recovery with a REAL Celery beat and worker.

Beat runs django-celery-beat's DatabaseScheduler on the entries `periodic.sync()` (what
`manage.py sync_periodic_tasks` writes) with the sweep's interval shortened to 2 s; it
sends the public dispatcher `tenants.dispatch`, which fans `sla.sweep` out to every
tenant, and a worker runs it. The test watches one sweep happen, stops beat and worker,
moves every clock hours into the past (past several thresholds, two hours past most),
starts both again and waits until the backlog is emitted: every warning and breach
exactly once, with the crossing instant the test computes itself (24x7 calendar: start
+ percent x target), notified once per breached clock, and nothing again on the next
ticks.

Beat and worker share a private Redis on a free port as their broker, so no other test
session's worker can take these tasks (nor this worker theirs). redis-server is
installed by `make test` (scripts/services.sh): without it the test fails, it does not
skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.sla import services
from apps.sla.models import SlaClock, SlaEvent, SlaNotification

from .factories import make_calendar, make_policy, make_ticket, set_status

ROOT = Path(__file__).resolve().parents[2]
M = timedelta(minutes=1)
BEAT_SECONDS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_broker(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (`make test` installs it through scripts/services.sh)")
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def fast_beat_schedule(fresh_tenant):
    """The real periodic entries (committed, as `sync_periodic_tasks` writes them) with
    the SLA sweep every BEAT_SECONDS and every other entry disabled; the rows are put
    back as they were afterwards (they live in the public schema of this session's
    test database)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.core import periodic

    before = {row.pk: (row.enabled, row.interval_id, row.kwargs, row.last_run_at) for row in PeriodicTask.objects.all()}
    assert "sla-sweep" in periodic.sync()
    fast, _ = IntervalSchedule.objects.get_or_create(every=BEAT_SECONDS, period=IntervalSchedule.SECONDS)
    sweep = PeriodicTask.objects.get(name="warden:sla-sweep")
    kwargs = json.loads(sweep.kwargs)
    assert (sweep.task, kwargs["task_name"]) == ("tenants.dispatch", "sla.sweep")
    sweep.interval, sweep.kwargs, sweep.last_run_at = fast, json.dumps({**kwargs, "jitter_seconds": 1}), None
    sweep.save()
    for other in PeriodicTask.objects.exclude(pk=sweep.pk).filter(enabled=True):
        other.enabled = False
        other.save()
    try:
        yield sweep
    finally:
        connection.set_schema_to_public()
        PeriodicTask.objects.exclude(pk__in=list(before)).delete()
        for pk, (enabled, interval_id, kwargs, last_run_at) in before.items():
            PeriodicTask.objects.filter(pk=pk).update(
                enabled=enabled, interval_id=interval_id, kwargs=kwargs, last_run_at=last_run_at
            )
        connection.set_tenant(fresh_tenant)


def _env(broker: str) -> dict:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "WARDEN_WORKER_METRICS_PORT": str(_free_port()),
    }


def _start(args: list[str], broker: str, log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=_env(broker),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _start_worker(broker: str, log: Path) -> subprocess.Popen:
    args = ["worker", "-l", "info", "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip"]
    return _start([*args, "-n", f"sla-{uuid.uuid4().hex[:6]}@%h"], broker, log)


def _start_beat(broker: str, log: Path, tmp: Path) -> subprocess.Popen:
    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    return _start(["beat", "-l", "info", "-S", scheduler, "--pidfile", str(tmp / "beat.pid")], broker, log)


def _stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _count(log: Path, *needles: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if all(n in line for n in needles))


def _sweeps_sent(log: Path) -> int:
    """How many `sla.sweep` tasks the dispatcher sent ("dispatched sla.sweep to N tenant(s)")."""
    return sum(
        int(line.split("dispatched sla.sweep to ")[1].split()[0])
        for line in log.read_text().splitlines()
        if "dispatched sla.sweep to " in line
    )


def _logs(*logs: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-5000:]}" for log in logs if log.exists())


def _wait(predicate, seconds: float, *logs: Path, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n" + _logs(*logs))


def _up(broker: str, tmp: Path, round_: int) -> tuple[subprocess.Popen, subprocess.Popen, Path, Path]:
    worker_log, beat_log = tmp / f"worker-{round_}.log", tmp / f"beat-{round_}.log"
    worker, beat = _start_worker(broker, worker_log), _start_beat(broker, beat_log, tmp)
    try:
        _wait(lambda: "ready" in worker_log.read_text() and worker.poll() is None, 40, worker_log, what="the worker")
        _wait(lambda: "beat: Starting" in beat_log.read_text() and beat.poll() is None, 40, beat_log, what="beat")
    except BaseException:
        _stop(worker, beat)
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
    fresh_tenant, private_broker, fast_beat_schedule, tmp_path
):
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    tenant = fresh_tenant
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
    worker, beat, worker_log, beat_log = _up(private_broker, tmp_path, 1)
    try:
        _wait(
            lambda: SlaEvent.objects.filter(processed_at__isnull=False).exists(),
            30, worker_log, beat_log, what="the first sweep",
        )
    finally:
        _stop(beat, worker)
    assert _count(beat_log, "Sending due task warden:sla-sweep (tenants.dispatch)") >= 1
    assert _count(worker_log, "Task sla.sweep[", "succeeded") >= 1
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
    worker, beat, worker_log, beat_log = _up(private_broker, tmp_path, 2)
    try:
        done = lambda: SlaEvent.objects.filter(processed_at__isnull=False).count() >= len(expected)  # noqa: E731
        _wait(done, 40, worker_log, beat_log, what="the backlog")
        # Two more of beat's rounds, each swept in every tenant: nothing new.
        rounds = _count(worker_log, "dispatched sla.sweep to")
        _wait(
            lambda: _count(worker_log, "dispatched sla.sweep to") >= rounds + 2
            and _count(worker_log, "Task sla.sweep[", "succeeded") >= _sweeps_sent(worker_log),
            30, worker_log, beat_log, what="two more rounds of sweeps",
        )
    finally:
        _stop(beat, worker)
    connection.set_tenant(tenant)
    events = list(SlaEvent.objects.all())
    emitted = {(e.ticket_id, e.metric, e.threshold, e.crossed_at) for e in events}
    assert len(events) == len(expected)  # each once
    assert emitted == expected  # at the instant it was crossed, not when the sweep saw it
    assert all(e.emitted_at >= restarted for e in events if (e.ticket_id, e.threshold) != (tickets["a"].pk, 50))
    assert {e.kind for e in events if e.threshold == 100} == {"breach"}
    assert all(e.processed_at is not None for e in events)
    # One notification per breached clock, about the breach, to the assignee.
    notes = {
        (n.event.ticket_id, n.event.metric, n.event.threshold, n.recipient_id)
        for n in SlaNotification.objects.select_related("event")
    }
    breached = {(tid, m) for (tid, m, pct, _at) in expected if pct == 100}
    assert notes == {(tid, m, 100, agent.pk) for (tid, m) in breached}
    assert len(breached) == 9
    assert SlaNotification.objects.count() == 9
