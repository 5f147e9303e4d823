"""Outage and recovery with a REAL Celery worker.

Worker and beat are down while several tickets' clocks pass their thresholds (the
tickets were opened over two hours ago). Then a worker starts and the sweep is sent the
way beat sends it: `tenants.dispatch` from the public schema fans `sla.sweep` out to
every tenant. Every warning and breach is emitted exactly once, stamped with the instant
it was crossed, and its notification is recorded once; a second sweep changes nothing.

The worker gets a private Redis on a free port as its broker, so no other test session's
worker can take these tasks (nor this worker theirs).
"""

from __future__ import annotations

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
from django.utils import timezone

from apps.sla import services
from apps.sla.models import SlaClock, SlaEvent, SlaNotification

from .factories import make_calendar, make_policy, make_ticket

ROOT = Path(__file__).resolve().parents[2]
M = timedelta(minutes=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_broker(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
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


def _start_worker(broker: str, log: Path) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "WARDEN_WORKER_METRICS_PORT": str(_free_port()),
    }
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--pool",
                "solo",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"sla-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 40
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    assert "ready" in log.read_text(), log.read_text()
    return proc


def _send_beat_dispatch(broker: str) -> None:
    """What beat sends every 30 s for the "sla-sweep" entry (apps.core.periodic)."""
    from config.celery import app

    connection.set_schema_to_public()
    with app.connection_for_write(broker) as conn:
        app.send_task(
            "tenants.dispatch",
            kwargs={"task_name": "sla.sweep", "jitter_seconds": 0},
            headers={"_schema_name": "public"},
            connection=conn,
        )


def _sweeps_done(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if "Task sla.sweep[" in line and "succeeded" in line)


def _wait(predicate, seconds: float, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("timed out; worker log:\n" + log.read_text()[-6000:])


def test_the_sweep_is_on_beat_every_30_seconds_as_a_public_dispatcher(tenant):
    """(Also makes selecting this module alone create the test database.)"""
    import json

    from django_celery_beat.models import PeriodicTask

    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "sla-sweep")
    assert (entry.tenant_task, entry.every_seconds, entry.jitter_seconds) == ("sla.sweep", 30, 5)
    periodic.sync()
    row = PeriodicTask.objects.get(name="warden:sla-sweep")
    assert row.task == "tenants.dispatch"
    assert row.interval.every == 30
    assert json.loads(row.kwargs) == {"task_name": "sla.sweep", "jitter_seconds": 5}


@pytest.mark.slow
def test_worker_down_for_hours_then_every_event_once_at_its_true_time(fresh_tenant, private_broker, tmp_path):
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    tenant = fresh_tenant
    now = timezone.now()
    with transaction.atomic():
        requester = User.objects.get(role=Role.ADMIN)
        agent = user_create(email="agent@outage.test", role=Role.AGENT, password=None, validate=False)
        calendar = make_calendar(name="Always")
        make_policy(
            calendar=calendar,
            targets={"P3": {"first_response": 30, "resolution": 120}},
            escalations=[{"at_percent": 100, "action": "notify_assignee"}],
        )
        tickets = []
        # Opened between 2 h 10 min and 2 h 40 min ago: all first-response marks and the
        # resolution's 50/75/90/100 % lie in the past, each at a different instant.
        for i in range(6):
            ticket = make_ticket(requester=requester, created_at=now - (130 + 5 * i) * M, assignee=agent)
            services.sla_on_ticket_created(ticket)
            tickets.append(ticket)
    expected = {
        (c.ticket_id, c.metric, t, mark)
        for c in SlaClock.objects.all()
        for t, mark in zip(c.thresholds, c.marks, strict=True)
        if mark is not None and mark <= now
    }
    assert len(expected) == 6 * 8
    assert SlaEvent.objects.count() == 0  # nothing happened while the worker was down

    log = tmp_path / "worker.log"
    worker = _start_worker(private_broker, log)
    try:
        started = timezone.now()
        _send_beat_dispatch(private_broker)
        connection.set_tenant(tenant)
        _wait(lambda: SlaEvent.objects.filter(processed_at__isnull=False).count() == len(expected), 60, log)
        emitted = {(e.ticket_id, e.metric, e.threshold, e.crossed_at) for e in SlaEvent.objects.all()}
        assert emitted == expected  # every mark once, with the instant it was crossed
        assert all(e.emitted_at >= started for e in SlaEvent.objects.all())
        notes = SlaNotification.objects.all()
        # One per clock (both breached; the breach step names the assignee).
        assert notes.count() == 12
        assert {n.recipient_id for n in notes} == {agent.pk}

        # Beat's next tick: nothing new.
        _send_beat_dispatch(private_broker)
        first_round = _sweeps_done(log)
        _wait(lambda: _sweeps_done(log) >= 2 * first_round, 30, log)
        time.sleep(0.5)
        connection.set_tenant(tenant)
        assert SlaEvent.objects.count() == len(expected)
        assert SlaNotification.objects.count() == 12
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        connection.set_tenant(tenant)
