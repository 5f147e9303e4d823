"""emit(): the event, its deliveries and the business write commit together or not at all;
in-transaction handlers run in the write's transaction; the relay is kicked once, after
commit, in the tenant that wrote; a subscriber never receives what it caused."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from apps.events.models import Delivery, OutboxEvent
from apps.events.services.emit import OutsideTenant, OutsideTransaction, emit, emit_many
from apps.events.services.kick import flush
from apps.events.types import EventInvalid

from .conftest import ProbeEchoed, ProbeHappened


def test_emit_writes_the_event_and_one_delivery_per_subscriber(tenant, admin_user, subscribe):
    subscribe("probe.one", lambda e, d: None)
    subscribe("probe.two", lambda e, d: None)
    subscribe("probe.other", lambda e, d: None, types=("probe.echoed",))
    with transaction.atomic():
        event_id = emit(ProbeHappened(thing_id=7), actor=admin_user)
    row = OutboxEvent.objects.get(pk=event_id)
    assert (row.event_type, row.version, row.payload) == ("probe.happened", 1, {"thing_id": 7})
    assert (row.actor_id, row.actor_label) == (admin_user.pk, f"user:{admin_user.pk}")
    assert row.causation_id is None
    assert row.trail == []
    deliveries = Delivery.objects.filter(event_id=event_id).order_by("subscriber")
    assert [(d.subscriber, d.status, d.attempts) for d in deliveries] == [
        ("probe.one", "pending", 0),
        ("probe.two", "pending", 0),
    ]


def test_emit_many_writes_each_event_with_its_deliveries_in_one_go(
    tenant, admin_user, subscribe, handle_in_transaction, django_capture_on_commit_callbacks
):
    subscribe("probe.one", lambda e, d: None)
    subscribe("probe.echoes", lambda e, d: None, types=("probe.echoed",))
    seen = []
    handle_in_transaction("probe.watch", lambda event, ctx: seen.append((event.thing_id, ctx.event_id)),
                          types=("probe.echoed",))
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        ids = emit_many([ProbeHappened(thing_id=1), ProbeHappened(thing_id=2), ProbeEchoed(thing_id=3)],
                        actor=admin_user)
    assert len(ids) == 3
    assert ids == sorted(ids)
    rows = {row.payload["thing_id"]: row for row in OutboxEvent.objects.filter(pk__in=ids)}
    assert {n: r.event_type for n, r in rows.items()} == {1: "probe.happened", 2: "probe.happened", 3: "probe.echoed"}
    assert {r.actor_id for r in rows.values()} == {admin_user.pk}
    deliveries = sorted(Delivery.objects.filter(event_id__in=ids).values_list("event__payload__thing_id", "subscriber"))
    assert deliveries == [(1, "probe.one"), (2, "probe.one"), (3, "probe.echoes")]
    assert seen == [(3, rows[3].pk)]  # the in-transaction handler still ran, with the event's id
    assert len(callbacks) >= 1  # the relay is kicked after commit
    with pytest.raises(EventInvalid), transaction.atomic():
        emit_many([ProbeHappened(thing_id=4), ProbeHappened(thing_id="four")])
    assert not OutboxEvent.objects.filter(payload__thing_id=4).exists()


def test_a_rollback_after_emit_leaves_no_outbox_row(tenant, subscribe):
    subscribe("probe.one", lambda e, d: None)
    before = (OutboxEvent.objects.count(), Delivery.objects.count())

    class Boom(Exception):
        pass

    inside = []

    def write_then_fail():
        with transaction.atomic():
            emit(ProbeHappened(thing_id=1))
            inside.append(OutboxEvent.objects.count())  # written, inside the transaction
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    assert inside == [before[0] + 1]
    assert (OutboxEvent.objects.count(), Delivery.objects.count()) == before


def test_emit_outside_a_transaction_or_tenant_is_refused(tenant):
    with schema_context("public"), pytest.raises(OutsideTenant), transaction.atomic():
        emit(ProbeHappened(thing_id=1))


def test_emit_in_autocommit_is_refused(fresh_tenant):
    """Outside a transaction the event could outlive a failed write, or exist without it."""
    assert not connection.in_atomic_block
    with pytest.raises(OutsideTransaction):
        emit(ProbeHappened(thing_id=1))
    assert not OutboxEvent.objects.exists()


def test_payloads_are_checked_against_their_declaration(tenant):
    with pytest.raises(EventInvalid), transaction.atomic():
        emit(ProbeHappened(thing_id="seven"))
    with pytest.raises(EventInvalid), transaction.atomic():
        emit(ProbeHappened(thing_id=True))


def test_an_in_transaction_handler_runs_in_the_write_and_can_fail_it(tenant, handle_in_transaction, admin_user):
    from apps.tickets.models import Tag

    seen = []

    def handler(event, ctx):
        seen.append((event.thing_id, ctx.event_id, ctx.actor))
        Tag.objects.create(name=f"derived-{event.thing_id}")  # derived state, same transaction
        if event.thing_id == 13:
            raise ValueError("unlucky")

    handle_in_transaction("probe.derive", handler)
    with transaction.atomic():
        event_id = emit(ProbeHappened(thing_id=12), actor=admin_user)
    assert seen == [(12, event_id, admin_user)]
    assert Tag.objects.filter(name="derived-12").exists()
    with pytest.raises(ValueError, match="unlucky"), transaction.atomic():
        emit(ProbeHappened(thing_id=13))
    assert not Tag.objects.filter(name="derived-13").exists()
    assert not OutboxEvent.objects.filter(payload__thing_id=13).exists()  # the write failed whole


def test_the_relay_is_kicked_once_per_transaction_after_commit_in_the_writers_tenant(
    tenant, subscribe, no_kick, django_capture_on_commit_callbacks
):
    subscribe("probe.one", lambda e, d: None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        emit(ProbeHappened(thing_id=1))
        emit(ProbeHappened(thing_id=2))
        emit(ProbeHappened(thing_id=3))
    assert no_kick == []  # nothing before commit
    assert len(callbacks) == 1
    with schema_context("public"):  # whatever is current when the commit fires
        callbacks[0]()
    assert flush()
    assert no_kick == [tenant.schema_name]


def test_no_kick_for_events_nobody_subscribes_to(tenant, no_kick, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit(ProbeHappened(thing_id=1))
    assert flush()
    assert no_kick == []


def test_a_kick_with_redis_down_is_logged_and_never_raises(tenant, settings, caplog):
    from apps.events.services.kick import send_relay
    from tests.workers import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert send_relay(tenant.schema_name) is False
    assert "the periodic relay will deliver" in caplog.text


def test_a_subscriber_never_receives_events_it_caused(tenant, subscribe):
    """probe.echo reacts to probe.happened by emitting probe.echoed, and probe.loop reacts
    to probe.echoed with probe.happened: without the trail the two would feed each other
    for ever. Each gets nothing that it caused itself, however indirectly."""
    from apps.events.services.relay import relay_run

    def echo(event, delivery):
        emit(ProbeEchoed(thing_id=event.thing_id))

    def loop(event, delivery):
        emit(ProbeHappened(thing_id=event.thing_id))

    subscribe("probe.echo", echo, types=("probe.happened",))
    subscribe("probe.loop", loop, types=("probe.echoed",))
    with transaction.atomic():
        first = emit(ProbeHappened(thing_id=5))
    for _ in range(5):
        relay_run(budget_seconds=5)
    events = list(OutboxEvent.objects.filter(payload__thing_id=5).order_by("id"))
    assert [(e.event_type, e.trail) for e in events] == [
        ("probe.happened", []),
        ("probe.echoed", ["probe.echo"]),
        ("probe.happened", ["probe.echo", "probe.loop"]),  # emitted, but delivered to nobody
    ]
    assert events[1].causation_id == first
    assert events[2].causation_id == events[1].pk
    assert not Delivery.objects.filter(event=events[2]).exists()
    assert Delivery.objects.filter(event__in=events[:2], status="done").count() == 2


def test_events_stay_in_their_tenant(tenant, other_tenant, subscribe):
    from apps.events.services.relay import relay_run

    ran = []
    subscribe("probe.one", lambda e, d: ran.append((connection.schema_name, e.thing_id)))
    with transaction.atomic():
        emit(ProbeHappened(thing_id=99))
    with schema_context(other_tenant.schema_name):
        assert not OutboxEvent.objects.filter(payload__thing_id=99).exists()
        assert relay_run(budget_seconds=5).delivered == 0
    assert ran == []
    connection.set_tenant(tenant)
    assert relay_run(budget_seconds=5).delivered >= 1
    assert ran == [(tenant.schema_name, 99)]


# --- The kick thread ---------------------------------------------------------------------------------------


def test_a_commit_hands_its_kick_to_the_thread_and_never_waits_for_the_broker(
    tenant, subscribe, monkeypatch, django_capture_on_commit_callbacks
):
    """The commit returns while the send is still blocked; the kick follows once the
    broker answers, and a tenant already waiting is kicked once for all its commits."""
    import threading

    from apps.events.services import kick

    kick.flush()
    release, started, sent = threading.Event(), threading.Event(), []

    def slow_send(schema, **options):
        started.set()
        assert release.wait(10)
        sent.append(schema)
        return True

    monkeypatch.setattr(kick, "send_relay", slow_send)
    subscribe("probe.one", lambda e, d: None)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit(ProbeHappened(thing_id=1))
    assert started.wait(5)  # the thread is sending the first kick, and blocked
    for _ in range(3):  # three more commits while it is (the test's own transaction never
        kick.sender.submit(tenant.schema_name)  # commits, so they hand over by hand): one kick covers them
    assert sent == []  # every commit returned without waiting
    assert flush(timeout=0.2) is False  # still held by the broker
    release.set()
    assert flush()
    assert sent == [tenant.schema_name, tenant.schema_name]


def test_the_kick_thread_outlives_a_send_that_raises(tenant, subscribe, monkeypatch, caplog):
    from apps.events.services import kick

    kick.flush()
    sent = []

    def send(schema, **options):
        sent.append(schema)
        if len(sent) == 1:
            raise RuntimeError("boom")
        return True

    monkeypatch.setattr(kick, "send_relay", send)
    kick.sender.submit("first")
    assert flush()
    kick.sender.submit("second")
    assert flush()
    assert sent == ["first", "second"]
    assert "the periodic relay will deliver" in caplog.text


def test_a_forked_child_sends_its_own_kicks(monkeypatch):
    """A thread does not survive fork: the child starts its own, and never waits on a lock
    the parent's thread held."""
    import os

    from apps.events.services import kick

    kick.sender.submit("parent")  # the parent's thread exists
    kick.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its kick was sent, then leave at once
        try:
            sent = []
            kick.send_relay = lambda schema, **options: sent.append(schema) or True
            kick.sender.submit("child")
            ok = kick.flush(5) and sent == ["child"]
            os.write(write, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 2) == b"ok"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
