"""The outbox with real processes: a Celery worker and beat on a Redis of the test's own.

* Redis stopped: a ticket created through the API is still a 201, its event and delivery
  pending; Redis back: beat's relay sweep delivers it within two relay periods, once.
* A worker killed with SIGKILL while a subscriber runs: the subscriber's write is rolled
  back with its transaction, the delivery is claimed again once its lease runs out, and
  the effect happens exactly once.

The workers run `tests.events.probe_app` (Warden's app plus the probe subscriber of
tests/events/probe.py, whose effect is an audit event written in the delivery's
transaction).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from apps.events.models import Delivery, OutboxEvent
from tests.workers import celery_env, count_lines, start_beat, start_worker, stop, tails, wait

from . import probe

RELAY_SECONDS = 3

pytestmark = pytest.mark.slow


@pytest.fixture
def probe_subscriber():
    probe.register()
    yield probe
    probe.remove()


def _delivery(event_id: int) -> Delivery:
    return Delivery.objects.get(event_id=event_id, subscriber=probe.NAME)


def test_redis_down_the_ticket_is_created_and_delivered_once_when_redis_is_back(
    fresh_tenant, private_redis, beat_schedule, probe_subscriber, tmp_path, settings
):
    from apps.accounts.models import Role, User
    from apps.accounts.services import token_issue
    from apps.tenants.services import tenant_domain

    beat_schedule({"events-relay": RELAY_SECONDS})
    env = celery_env(private_redis.url(0), REDIS_URL=private_redis.url(1))
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = start_worker(env, worker_log, app="tests.events.probe_app", name="outbox")
    beat = start_beat(env, beat_log, tmp_path)
    try:
        connection.set_tenant(fresh_tenant)
        admin = User.objects.get(role=Role.ADMIN)
        token = token_issue(user=admin).key
        # This process talks to the same Redis as the worker (cache, rate limits, the kick).
        settings.REDIS_URL = private_redis.url(1)
        settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": private_redis.url(1)}}

        private_redis.stop()
        client = APIClient(HTTP_HOST=tenant_domain(fresh_tenant.slug))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        started = time.monotonic()
        response = client.post("/api/v1/tickets/", {"title": "Printer on fire", "description": "Really."}, format="json")
        took = time.monotonic() - started
        assert response.status_code == 201, response.content
        assert took < 5, f"the request waited {took:.1f} s for Redis"
        event = OutboxEvent.objects.get(event_type="ticket.created")
        assert event.payload["source"] == "api"
        assert _delivery(event.pk).status == "pending"
        time.sleep(RELAY_SECONDS)  # a relay period without Redis: nothing can run
        assert _delivery(event.pk).status == "pending"

        private_redis.start()
        back = time.monotonic()
        wait(lambda: _delivery(event.pk).status == "done", 60, worker_log, beat_log, what="the delivery")
        delivered_after = time.monotonic() - back
        # Two more relay rounds: nothing runs twice.
        rounds = count_lines(worker_log, "Task events.relay[", "succeeded")
        wait(lambda: count_lines(worker_log, "Task events.relay[", "succeeded") >= rounds + 2, 30, worker_log, beat_log,
             what="two more relay rounds")
    finally:
        stop(beat, worker)
    connection.set_tenant(fresh_tenant)
    delivery = _delivery(event.pk)
    assert (delivery.status, delivery.attempts) == ("done", 1)
    assert probe.effects(event.pk) == [1]  # once
    assert delivered_after <= 2 * RELAY_SECONDS + 4, (  # two relay periods, plus the worker's reconnection
        f"delivered {delivered_after:.1f} s after Redis came back\n" + tails(worker_log, beat_log)
    )


def test_a_worker_killed_mid_subscriber_leaves_the_effect_to_happen_exactly_once(
    fresh_tenant, private_redis, beat_schedule, probe_subscriber, no_kick, tmp_path
):
    from apps.accounts.models import Role, User
    from apps.tickets.services import ticket_create

    beat_schedule({"events-relay": RELAY_SECONDS})
    env = celery_env(private_redis.url(0), REDIS_URL=private_redis.url(1), PROBE_SLEEP_ON_ATTEMPT="1",
                     WARDEN_EVENTS_LEASE_SECONDS="4")
    first_log, second_log, beat_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log", tmp_path / "beat.log"
    connection.set_tenant(fresh_tenant)
    with transaction.atomic():
        ticket = ticket_create(actor=User.objects.get(role=Role.ADMIN), title="Kill me softly")
    event = OutboxEvent.objects.get(event_type="ticket.created", payload__ticket_id=ticket.pk)
    worker = start_worker(env, first_log, app="tests.events.probe_app", name="doomed")
    beat = start_beat(env, beat_log, tmp_path)
    second = None
    try:
        wait(lambda: "wrote its effect and now hangs" in first_log.read_text(), 40, first_log, beat_log,
             what="the probe to start its first attempt")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        connection.set_tenant(fresh_tenant)
        # The attempt's transaction died with its connection: no effect, the claim stays.
        wait(lambda: probe.effects(event.pk) == [] and _delivery(event.pk).status == "running", 10,
             what="the killed attempt to be rolled back")
        assert _delivery(event.pk).attempts == 1
        second = start_worker(env, second_log, app="tests.events.probe_app", name="survivor")
        wait(lambda: _delivery(event.pk).status == "done", 60, second_log, beat_log, what="the retried delivery")
    finally:
        stop(*(p for p in (beat, second, worker) if p is not None))
    connection.set_tenant(fresh_tenant)
    delivery = _delivery(event.pk)
    assert (delivery.status, delivery.attempts) == ("done", 2)
    assert probe.effects(event.pk) == [2]  # exactly once, by the second attempt
