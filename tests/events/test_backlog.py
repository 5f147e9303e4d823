"""A large backlog is worked off in bounded, committed batches; no task reaches its time
limit.

Seen on this machine before the outbox: on a 100k-ticket tenant with 455,000 unprocessed
SLA events, `sla.process_events` ran into its 240 s soft time limit twice, and lost its
work each time. Now:

* the relay task, facing 500,000 pending deliveries, works for its budget, commits every
  batch as it goes, and hands over to a fresh task;
* the SLA sweep, facing thousands of overdue clocks, commits batch by batch and hands
  over the same way;
* the SLA consumer (`sla.escalations`) works its deliveries through the same relay
  batches.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.events.models import Delivery, OutboxEvent

pytestmark = pytest.mark.slow

BACKLOG = 500_000
BUDGET = 2.0


def _done() -> int:
    return Delivery.objects.filter(status="done").count()


def test_500k_pending_deliveries_are_worked_off_in_bounded_committed_batches(
    fresh_tenant, subscribe, no_kick, settings, capsys
):
    from django.core.management import call_command

    from apps.events import tasks

    subscribe("probe.noop", lambda event, delivery: None)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_outboxevent (event_type, version, payload, actor_label, request_id, trail, occurred_at) "
            "SELECT 'probe.happened', 1, jsonb_build_object('thing_id', g), 'system', '', '{}', now() "
            "FROM generate_series(1, %s) AS g",
            [BACKLOG],
        )
        cursor.execute(
            "INSERT INTO events_delivery (event_id, subscriber, status, attempts, next_attempt_at, last_error, "
            "created_at, updated_at) SELECT id, 'probe.noop', 'pending', 0, now(), '', now(), now() FROM events_outboxevent"
        )
        cursor.execute("ANALYZE events_delivery")
    assert Delivery.objects.filter(status="pending").count() == BACKLOG

    settings.WARDEN_EVENTS_RELAY_BUDGET_SECONDS = BUDGET
    settings.WARDEN_EVENTS_RELAY_BATCH = 500
    progress = []
    for _ in range(2):
        started = time.monotonic()
        outcome = tasks.relay.run()
        took = time.monotonic() - started
        assert outcome["more"] is True
        # The budget plus the batch that was running when it ran out (500 no-op deliveries:
        # well under a second, more on a machine running the suite on every core).
        assert took < BUDGET + 5, f"a relay run took {took:.1f} s with a {BUDGET} s budget"
        progress.append(_done())  # committed: read back outside the run
    assert no_kick == [fresh_tenant.schema_name] * 2  # each run handed over to a fresh one
    assert 500 <= progress[0] < progress[1] < BACKLOG
    assert progress[1] - progress[0] == outcome["delivered"]

    call_command("outbox_status", "--tenant", fresh_tenant.slug)
    import json

    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == BACKLOG - progress[1]
    assert (status["failed"], status["dead_lettered"], status["running"]) == (0, 0, 0)
    assert status["lag_seconds"] > 0


def test_the_sweep_and_the_sla_consumer_commit_their_backlog_in_bounded_batches(fresh_tenant, no_kick, settings):
    """500 tickets hours past every threshold of both clocks: 4,000 crossings."""
    from apps.accounts.models import Role, User
    from apps.events.services.relay import relay_run
    from apps.sla import services
    from apps.sla.models import SlaEvent
    from apps.sla.validation import CalendarInput, PolicyInput

    now = timezone.now()
    calendar = services.sla_calendar_save(actor=None, data=CalendarInput(name="24x7", always_open=True))
    policy = services.sla_policy_save(
        actor=None, data=PolicyInput(name="Backlog", calendar=calendar, targets={"P3": {"first_response": 60, "resolution": 240}})
    )
    requester = User.objects.get(role=Role.ADMIN).pk
    started = now - timedelta(hours=6)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tickets_ticket (number, title, description, description_html, requester_id, impact, urgency, "
            "priority, status, resolution_code, resolution_note, source, reopen_count, created_at, updated_at) "
            "SELECT g, 'Backlog ' || g, '', '', %s, 2, 2, 'P3', 'open', '', '', 'portal', 0, %s, %s "
            "FROM generate_series(1, 500) AS g",
            [requester, started, started],
        )
    from apps.tickets.models import Ticket

    services.sla_attach_many(list(Ticket.objects.all()), now=started)

    # The sweep: small batches and no budget left after the first: it stops and says so.
    first = services.sla_sweep(now=now, batch=100, budget_seconds=0)
    assert first.more
    assert first.statements == 1
    assert first.events == 100 * 4
    assert SlaEvent.objects.count() == first.events  # committed
    rest = services.sla_sweep(now=now, batch=100)
    assert not rest.more
    assert SlaEvent.objects.count() == 500 * 2 * 4
    assert Delivery.objects.filter(subscriber="sla.escalations").count() == 4_000

    # The consumer: each relay run stops at its budget, its batches committed. With no
    # budget a run works exactly one batch (a wall-clock bound would fail on a busy machine).
    runs = 0
    while Delivery.objects.filter(subscriber="sla.escalations").exclude(status="done").exists():
        result = relay_run(budget_seconds=0, batch=100)
        assert result.batches == 1
        assert 0 < result.claimed <= 100
        assert result.more == (result.claimed == 100)  # a full batch: there may be more
        assert result.failed == result.dead == 0
        runs += 1
        assert runs < 200, "the backlog is not shrinking"
    assert runs > 1  # it took several bounded runs, not one long one
    assert not SlaEvent.objects.filter(processed_at__isnull=True).exists()
    assert OutboxEvent.objects.filter(event_type="sla.breached").count() == 500 * 2
    assert policy.pk  # (the policy the clocks followed)
