"""Auto-close with a REAL Celery beat and worker: beat runs django-celery-beat's
DatabaseScheduler on the entries `periodic.sync()` writes (the auto-close shortened to
every 2 s), sends the public dispatcher `tenants.dispatch`, which fans `tickets.autoclose`
out to every tenant, and a worker closes the ticket resolved eight days ago, as the
system, once; the one resolved yesterday stays resolved.

Beat and worker share a private Redis (tests/workers.py); redis-server is installed by
`make test`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.workers import celery_env, count_lines, start_beat, start_worker, stop, wait

pytestmark = pytest.mark.slow


def test_beat_and_a_worker_close_a_ticket_resolved_eight_days_ago(fresh_tenant, private_redis, beat_schedule,
                                                                  tmp_path):
    from apps.accounts.models import Role, User
    from apps.audit.models import AuditEvent
    from apps.tickets import services
    from apps.tickets.models import Ticket

    beat_schedule({"tickets-autoclose": 2})
    with transaction.atomic():
        admin = User.objects.get(role=Role.ADMIN)
        tickets = {}
        for key, days in {"old": 8, "recent": 1}.items():
            ticket = services.ticket_create(actor=admin, title=f"Resolved {days} day(s) ago")
            services.ticket_transition(actor=admin, ticket=ticket, to="resolved", resolution_code="fixed",
                                       resolution_note="Done.")
            Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=days))
            tickets[key] = ticket

    env = celery_env(private_redis.url(0), REDIS_URL=private_redis.url(1))
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = start_worker(env, worker_log, name="autoclose")
    try:
        beat = start_beat(env, beat_log, tmp_path)
        try:
            wait(lambda: Ticket.objects.get(pk=tickets["old"].pk).status == "closed", 40, worker_log, beat_log,
                 what="the auto-close")
            runs = count_lines(worker_log, "Task tickets.autoclose[", "succeeded")
            wait(lambda: count_lines(worker_log, "Task tickets.autoclose[", "succeeded") >= runs + 2, 30,
                 worker_log, beat_log, what="two more runs")
        finally:
            stop(beat)
    finally:
        stop(worker)
    connection.set_tenant(fresh_tenant)
    assert count_lines(beat_log, "Sending due task warden:tickets-autoclose (tenants.dispatch)") >= 1
    assert Ticket.objects.get(pk=tickets["recent"].pk).status == "resolved"
    closes = [e for e in AuditEvent.objects.filter(action="ticket.transitioned", target_id=str(tickets["old"].pk))
              if e.payload_data["to"] == "closed"]
    assert len(closes) == 1  # once, however many runs followed
    assert closes[0].actor_id is None
    assert closes[0].payload_data["reason"] == "Closed automatically 7 days after resolution."
