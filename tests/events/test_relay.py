"""The relay: deliveries run once, failures back off and end dead-lettered, an admin retries
them (audited), a worker that died is taken over after its lease, concurrent relays split
the work, and a run stops at its budget and hands over."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.events.consumers import Deferred, unregister
from apps.events.models import Delivery
from apps.events.services.emit import emit
from apps.events.services.relay import relay_run
from apps.tickets.models import Tag

from .conftest import ProbeHappened


def _emit(*thing_ids: int) -> list[int]:
    with transaction.atomic():
        return [emit(ProbeHappened(thing_id=thing_id)) for thing_id in thing_ids]


def _due_now(**filters) -> None:
    """Let the clock run on: what waits for a retry is due now."""
    Delivery.objects.filter(**filters).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_delivery_runs_once_and_its_writes_commit_with_it(tenant, subscribe):
    subscribe("probe.tag", lambda event, delivery: Tag.objects.create(name=f"seen-{event.thing_id}"))
    (event_id,) = _emit(1)
    result = relay_run(budget_seconds=5)
    assert (result.claimed, result.delivered, result.failed) == (1, 1, 0)
    delivery = Delivery.objects.get(event_id=event_id, subscriber="probe.tag")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("done", 1, "")
    assert delivery.done_at is not None
    assert relay_run(budget_seconds=5).claimed == 0  # nothing runs twice
    assert Tag.objects.filter(name="seen-1").count() == 1


def test_a_failure_undoes_the_subscribers_writes_and_backs_off(tenant, subscribe):
    def fail(event, delivery):
        Tag.objects.create(name="half-done")
        raise RuntimeError("the remote end said no")

    subscribe("probe.fail", fail)
    subscribe("probe.fine", lambda e, d: None)
    (event_id,) = _emit(2)
    before = timezone.now()
    result = relay_run(budget_seconds=5)
    assert (result.delivered, result.failed) == (1, 1)  # one subscriber failing never blocks another
    failed = Delivery.objects.get(event_id=event_id, subscriber="probe.fail")
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "RuntimeError: the remote end said no"
    assert before + timedelta(seconds=3) <= failed.next_attempt_at <= timezone.now() + timedelta(seconds=7)
    assert not Tag.objects.filter(name="half-done").exists()
    assert relay_run(budget_seconds=5).claimed == 0  # not due yet


def test_an_always_failing_subscriber_is_dead_lettered_then_retried_from_the_admin(tenant, subscribe, admin_user, web_as):
    healthy = {"now": False}

    def flaky(event, delivery):
        if not healthy["now"]:
            raise ConnectionError("still down")
        Tag.objects.create(name="finally")

    subscribe("probe.flaky", flaky, max_attempts=3)
    (event_id,) = _emit(3)
    for attempt in range(1, 4):
        relay_run(budget_seconds=5)
        delivery = Delivery.objects.get(event_id=event_id, subscriber="probe.flaky")
        assert delivery.attempts == attempt
        _due_now(pk=delivery.pk)
    assert delivery.status == "dead"
    assert relay_run(budget_seconds=5).claimed == 0  # dead letters stay put

    client = web_as(admin_user)
    page = client.get("/admin/events/delivery/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "probe.flaky" in html
    assert "still down" in html

    healthy["now"] = True
    response = client.post(
        "/admin/events/delivery/", {"action": "retry", "_selected_action": [delivery.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 delivery queued again." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    retried = AuditEvent.objects.filter(action="outbox.retried").latest("seq")
    assert retried.actor_id == admin_user.pk
    assert retried.payload_data["deliveries"][0]["delivery"] == delivery.pk
    assert relay_run(budget_seconds=5).delivered == 1
    delivery.refresh_from_db()
    assert delivery.status == "done"
    assert Tag.objects.filter(name="finally").exists()


def test_agents_cannot_retry_deliveries(tenant, subscribe, agent_user):
    from apps.events.services.deliveries import delivery_retry
    from apps.policies.decisions import PolicyDenied

    subscribe("probe.dead", lambda e, d: 1 / 0, max_attempts=1)
    (event_id,) = _emit(4)
    relay_run(budget_seconds=5)
    delivery = Delivery.objects.get(event_id=event_id)
    assert delivery.status == "dead"
    with pytest.raises(PolicyDenied):
        delivery_retry(actor=agent_user, delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == "dead"


def test_a_deferred_delivery_waits_without_using_an_attempt(tenant, subscribe):
    calls = []

    def busy(event, delivery):
        calls.append(delivery.attempt)
        if len(calls) == 1:
            raise Deferred("the row is locked", seconds=30)

    subscribe("probe.busy", busy, max_attempts=1)
    (event_id,) = _emit(5)
    relay_run(budget_seconds=5)
    delivery = Delivery.objects.get(event_id=event_id)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
    _due_now(pk=delivery.pk)
    relay_run(budget_seconds=5)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, calls) == ("done", 1, [1, 1])


def test_a_subscriber_that_knows_retrying_cannot_help_abandons_at_once(tenant, subscribe):
    from apps.events.consumers import Abandon

    def revoked(event, delivery):
        Tag.objects.create(name="not-kept")
        raise Abandon("the token was revoked")

    subscribe("probe.revoked", revoked, max_attempts=8)
    (event_id,) = _emit(9)
    assert relay_run(budget_seconds=5).dead == 1
    delivery = Delivery.objects.get(event_id=event_id)
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert delivery.last_error == "abandoned: the token was revoked"
    assert not Tag.objects.filter(name="not-kept").exists()


def test_a_delivery_for_a_subscriber_that_no_longer_exists_is_dead_lettered(tenant, subscribe):
    subscribe("probe.gone", lambda e, d: None)
    (event_id,) = _emit(6)
    unregister("probe.gone")
    relay_run(budget_seconds=5)
    delivery = Delivery.objects.get(event_id=event_id)
    assert (delivery.status, delivery.last_error) == ("dead", "no such subscriber")


def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(tenant, subscribe):
    """The claim commits on its own (the attempt counts); the worker dies before its batch
    commits; once the lease runs out another run claims the delivery again."""
    import uuid

    from apps.events.services import relay

    ran = []
    subscribe("probe.lease", lambda e, d: ran.append(d.attempt), max_attempts=2)
    (event_id,) = _emit(7)
    claimed = relay._claim(token=uuid.uuid4(), batch=10, lease=60)  # ... and then the worker died
    assert [c.event_id for c in claimed] == [event_id]
    assert relay_run(budget_seconds=5).claimed == 0  # leased
    _due_now(event_id=event_id)  # the lease runs out
    relay_run(budget_seconds=5)
    delivery = Delivery.objects.get(event_id=event_id)
    assert (delivery.status, delivery.attempts, ran) == ("done", 2, [2])


def test_a_delivery_that_kills_every_worker_ends_dead_lettered(tenant, subscribe):
    import uuid

    from apps.events.services import relay

    subscribe("probe.poison", lambda e, d: None, max_attempts=2)
    (event_id,) = _emit(8)
    for _ in range(2):
        relay._claim(token=uuid.uuid4(), batch=10, lease=60)  # each attempt's worker dies
        _due_now(event_id=event_id)
    relay_run(budget_seconds=5)
    delivery = Delivery.objects.get(event_id=event_id)
    assert delivery.status == "dead"
    assert "worker stopped" in delivery.last_error


def test_a_run_stops_at_its_budget_and_the_task_hands_over(tenant, subscribe, settings, monkeypatch):
    from apps.events import tasks
    from apps.events.services import kick

    kick.flush()
    handed_over = []  # the task's own hand-over (force=True), whatever kick threads do meanwhile
    monkeypatch.setattr(kick, "send_relay", lambda schema, **options: handed_over.append((schema, options)) or True)
    subscribe("probe.slow", lambda e, d: None)
    _emit(*range(10, 17))
    result = relay_run(budget_seconds=0, batch=3)
    assert (result.claimed, result.batches, result.more) == (3, 1, True)
    settings.WARDEN_EVENTS_RELAY_BUDGET_SECONDS = 0
    settings.WARDEN_EVENTS_RELAY_BATCH = 3
    outcome = tasks.relay.run()
    assert outcome["more"] is True
    assert outcome["delivered"] == 3
    assert [schema for schema, options in handed_over if options.get("force")] == [tenant.schema_name]  # goes on


def _relay_in(tenant, results, index, barrier) -> None:
    try:
        connection.set_tenant(tenant)
        barrier.wait(timeout=30)
        results[index] = relay_run(budget_seconds=30, batch=7)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        results[index] = exc
    finally:
        connections.close_all()


def test_two_relays_at_once_run_each_delivery_once(fresh_tenant, subscribe):
    lock = threading.Lock()
    seen: list[int] = []

    def count(event, delivery):
        with lock:
            seen.append(event.thing_id)
        Tag.objects.create(name=f"t{event.thing_id}")

    subscribe("probe.count", count)
    with transaction.atomic():
        for thing_id in range(200):
            emit(ProbeHappened(thing_id=thing_id))
    results: list = [None, None]
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_relay_in, args=(fresh_tenant, results, i, barrier)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    connection.set_tenant(fresh_tenant)
    assert not any(isinstance(r, BaseException) for r in results), results
    assert sorted(seen) == list(range(200))  # each once
    assert sum(r.delivered for r in results) == 200
    assert Delivery.objects.filter(status="done").count() == 200
    assert Tag.objects.filter(name__startswith="t").count() == 200
