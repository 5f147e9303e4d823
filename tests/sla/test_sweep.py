"""The beat sweep: set-based, each warning and breach once, true crossing times after an
outage, concurrent sweeps and processors never doing anything twice; then escalations
and notifications."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection, connections, transaction

from apps.notifications.models import Notification
from apps.sla import services
from apps.sla.choices import ClockState, EscalationOutcome
from apps.sla.models import SlaClock, SlaEscalation, SlaEvent

from .factories import clocks, make_calendar, make_policy, make_ticket, set_status

M = timedelta(minutes=1)
T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)


def _events(ticket=None) -> set[tuple[str, int, datetime]]:
    queryset = SlaEvent.objects.all() if ticket is None else SlaEvent.objects.filter(ticket=ticket)
    return {(e.metric, e.threshold, e.crossed_at) for e in queryset}


def _expected(now: datetime) -> set[tuple[int, str, int, datetime]]:
    """(ticket, metric, threshold, instant) of every stored mark at or before `now`."""
    found = set()
    for clock in SlaClock.objects.all():
        for threshold, mark in zip(clock.thresholds, clock.marks, strict=True):
            if mark is not None and mark <= now:
                found.add((clock.ticket_id, clock.metric, threshold, mark))
    return found


def _emitted() -> set[tuple[int, str, int, datetime]]:
    return {(e.ticket_id, e.metric, e.threshold, e.crossed_at) for e in SlaEvent.objects.all()}


@pytest.mark.django_db
def test_each_threshold_is_emitted_once_with_its_crossing_time(standard_policy, requester_user):
    ticket = make_ticket(requester=requester_user, created_at=T0)
    services.sla_on_ticket_created(ticket)
    now = T0 + 150 * M
    result = services.sla_sweep(now=now, enqueue=False)
    assert result.events == 5
    assert result.clocks == 2
    assert _events(ticket) == {
        ("first_response", 50, T0 + 30 * M),
        ("first_response", 75, T0 + 45 * M),
        ("first_response", 90, T0 + 54 * M),
        ("first_response", 100, T0 + 60 * M),
        ("resolution", 50, T0 + 120 * M),
    }
    assert {e.emitted_at for e in SlaEvent.objects.filter(ticket=ticket)} == {now}
    assert {e.kind for e in SlaEvent.objects.filter(ticket=ticket, threshold=100)} == {"breach"}
    found = clocks(ticket)
    assert found["first_response"].state == ClockState.BREACHED
    assert found["first_response"].breached_at == T0 + 60 * M
    assert found["first_response"].next_mark_at is None
    assert found["resolution"].next_mark_at == T0 + 180 * M
    # Again at the same time: nothing; later: only what was crossed since.
    assert services.sla_sweep(now=now, enqueue=False).events == 0
    assert services.sla_sweep(now=T0 + 200 * M, enqueue=False).events == 1
    assert SlaEvent.objects.filter(ticket=ticket).count() == 6


@pytest.mark.django_db
def test_after_an_outage_the_sweep_catches_up_with_true_crossing_times(always_open, office, requester_user, admin_user):
    from apps.tickets.models import Category

    late = Category.objects.create(name="Office hours")
    make_policy(calendar=always_open, actor=admin_user, name="24x7", order=20)
    make_policy(
        calendar=office, actor=admin_user, name="Office", order=10, categories=[late], targets={"P3": {"resolution": 4 * 60}}
    )
    tickets = [make_ticket(requester=requester_user, created_at=T0 + i * 7 * M) for i in range(10)] + [
        make_ticket(requester=requester_user, created_at=datetime(2030, 1, 7, 14, 0, tzinfo=UTC), category=late)
    ]
    for ticket in tickets:
        services.sla_on_ticket_created(ticket)
    set_status(tickets[0], "pending", T0 + 50 * M)  # paused after its 50 % (30 min) and 75 % (45 min)
    # The sweep did not run for hours (worker and beat down).
    now = T0 + 10 * 60 * M
    expected = _expected(now)
    assert len(expected) > 40
    result = services.sla_sweep(now=now, enqueue=False)
    assert result.events == len(expected)
    assert _emitted() == expected  # each with the instant it was crossed, not the sweep time
    paused = {(m, t) for (tid, m, t, _at) in _emitted() if tid == tickets[0].pk}
    assert paused == {("first_response", 50), ("first_response", 75)}
    # The business-hours ticket: created 15:00 Warsaw, 4 business hours -> 50 % at 17:00
    # (close of business) and nothing more before the next morning.
    office_events = {(m, t, at) for (tid, m, t, at) in _emitted() if tid == tickets[-1].pk}
    assert office_events == {("resolution", 50, datetime(2030, 1, 7, 16, 0, tzinfo=UTC))}
    assert services.sla_sweep(now=now, enqueue=False).events == 0


@pytest.mark.django_db
def test_marks_after_a_stop_are_never_emitted(standard_policy, requester_user):
    ticket = make_ticket(requester=requester_user, created_at=T0)
    services.sla_on_ticket_created(ticket)
    ticket.first_response_at = T0 + 40 * M
    ticket.save()
    services.sla_on_first_response(ticket)
    services.sla_sweep(now=T0 + 100 * M, enqueue=False)
    assert {(m, t) for m, t, _ in _events(ticket)} == {("first_response", 50)}


@pytest.mark.django_db
def test_the_sweep_is_one_statement_per_batch(standard_policy, requester_user, django_assert_max_num_queries):
    tickets = [make_ticket(requester=requester_user, created_at=T0) for _ in range(30)]
    services.sla_attach_many(tickets)
    with django_assert_max_num_queries(4):  # savepoint, statement, release; no per-clock query
        result = services.sla_sweep(now=T0 + 500 * M, enqueue=False)
    assert result.events == 30 * 8
    assert result.statements == 1
    result = services.sla_sweep(now=T0 + 10_000 * M, batch=7, enqueue=False)
    assert result.events == 0


@pytest.mark.django_db
def test_the_sweep_enqueues_processing_after_commit(
    standard_policy, requester_user, django_capture_on_commit_callbacks, monkeypatch
):
    """Processing is the outbox's: the sweep's statement writes the events and their
    deliveries, and the relay is kicked after commit, in the tenant of the sweep."""
    from django.db import connection

    from apps.events.models import Delivery
    from apps.events.services import kick

    kick.flush()
    sent = []
    monkeypatch.setattr(kick, "send_relay", lambda schema, **options: sent.append(schema))
    ticket = make_ticket(requester=requester_user, created_at=T0)
    services.sla_on_ticket_created(ticket)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.sla_sweep(now=T0 + 40 * M)
    assert sent == []  # nothing before commit
    deliveries = Delivery.objects.filter(subscriber="sla.escalations", event__payload__ticket_id=ticket.pk)
    assert deliveries.count() == SlaEvent.objects.filter(ticket=ticket).count() > 0
    for callback in callbacks:
        callback()
    assert kick.flush()
    assert sent == [connection.schema_name]  # once, in the tenant captured when it was registered


# --- Concurrency (committed data, one connection per thread) ---------------------------------------------


def _in_tenant(tenant, target, results, index, barrier):
    try:
        connection.set_tenant(tenant)
        barrier.wait(timeout=30)
        results[index] = target()
    except BaseException as exc:  # noqa: BLE001  (reported by the test)
        results[index] = exc
    finally:
        connections.close_all()


def _race(tenant, target, n: int = 2) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n
    threads = [threading.Thread(target=_in_tenant, args=(tenant, target, results, i, barrier)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return results


def _committed_setup(tenant, n_tickets: int = 150):
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_create, user_create

    with transaction.atomic():
        requester = User.objects.filter(role=Role.ADMIN).first()
        agent = user_create(email="lead@sla.test", role=Role.AGENT, password=None, validate=False)
        team = (
            team_create(name="Night desk", lead=agent, actor=None)
            if not Team.objects.filter(name="Night desk").exists()
            else None
        )
        calendar = make_calendar(name="Always")
        make_policy(
            calendar=calendar,
            escalations=[
                {"at_percent": 50, "action": "notify_assignee"},
                {"at_percent": 100, "action": "notify_team_lead"},
            ],
        )
        tickets = [
            make_ticket(requester=requester, created_at=T0 + (i % 50) * M, assignee=agent, team=team) for i in range(n_tickets)
        ]
        services.sla_attach_many(tickets)
    return agent


def _independent_expected(now: datetime) -> set[tuple[int, str, int, datetime]]:
    """Every crossing of `_committed_setup`'s tickets up to `now`, from the tickets'
    creation times alone (24x7, targets 60/240 min, thresholds 50/75/90/100)."""
    from apps.tickets.models import Ticket

    found = set()
    for ticket_id, created in Ticket.objects.values_list("pk", "created_at"):
        for metric, minutes in (("first_response", 60), ("resolution", 240)):
            for pct in (50, 75, 90, 100):
                at = created + minutes * M * pct / 100
                if at <= now:
                    found.add((ticket_id, metric, pct, at))
    return found


PAUSE_KEY = 0x51A5_EE9  # advisory lock the test holds while both sweeps wait


def _pause_event_inserts():
    """A test-only trigger in the throwaway schema: each event insert first waits for
    the shared advisory lock PAUSE_KEY. The sweep's INSERT sorts its rows, so by the time
    the first row reaches the trigger the statement has locked its whole batch."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE FUNCTION sla_test_pause() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared({int(PAUSE_KEY)}); RETURN NEW; END $$;
            CREATE TRIGGER sla_test_pause BEFORE INSERT ON sla_slaevent
                FOR EACH ROW EXECUTE FUNCTION sla_test_pause();
            """
        )


def _waiting_on_pause(pids) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s AND pid = ANY(%s)",
            [PAUSE_KEY & 0xFFFFFFFF, list(pids)],
        )
        return {row[0] for row in cursor.fetchall()}


def _unlocked_due(now: datetime) -> int:
    """Due clocks no transaction holds (the test's own statement skips locked rows)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT id FROM sla_slaclock WHERE next_mark_at <= %s FOR UPDATE SKIP LOCKED) x", [now]
        )
        return cursor.fetchone()[0]


def test_two_sweeps_at_once_split_the_work_and_never_emit_twice(fresh_tenant):
    import time

    _committed_setup(fresh_tenant)
    now, batch = T0 + 300 * M, 23
    expected = _independent_expected(now)
    assert len(expected) == 150 * 8
    total_due = SlaClock.objects.filter(next_mark_at__lte=now).count()
    assert total_due == 300
    _pause_event_inserts()
    pids: dict[int, int] = {}

    def sweep(index: int):
        def run():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[index] = cursor.fetchone()[0]
            return services.sla_sweep(now=now, batch=batch, enqueue=False)

        return run

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])
    try:
        results: list = [None, None]
        threads = [
            threading.Thread(target=_in_tenant, args=(fresh_tenant, sweep(i), results, i, threading.Barrier(1)))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        both_paused = False
        while time.monotonic() < deadline and not both_paused:
            both_paused = len(pids) == 2 and _waiting_on_pause(pids.values()) == set(pids.values())
            time.sleep(0.02)
        # Both sweeps are inside a statement at once, each holding its own batch.
        assert both_paused, results
        assert _unlocked_due(now) == total_due - 2 * batch
        assert SlaEvent.objects.count() == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_KEY])
    for thread in threads:
        thread.join(timeout=60)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    assert all(r.statements >= 2 for r in results)  # each took batches until none was left
    assert sum(r.clocks for r in results) == total_due  # split, not done twice
    assert sum(r.events for r in results) == len(expected)
    assert _emitted() == expected
    assert SlaEvent.objects.count() == len(expected)


def test_a_repeated_sweep_hits_the_unique_constraint_and_adds_nothing(fresh_tenant):
    _committed_setup(fresh_tenant, n_tickets=40)
    now = T0 + 300 * M
    expected = _independent_expected(now)
    assert services.sla_sweep(now=now, enqueue=False).events == len(expected) == 40 * 8
    # As after a crash between two steps, or a re-target that moved marks back: every
    # clock is due again from its first mark, and two sweeps race over them.
    assert SlaClock.objects.filter(next_mark_at__isnull=False).count() == 0
    with connection.cursor() as cursor:
        cursor.execute("UPDATE sla_slaclock SET next_mark_at = (SELECT min(x) FROM unnest(marks) x)")
    results = _race(fresh_tenant, lambda: services.sla_sweep(now=now, batch=7, enqueue=False))
    assert sum(r.clocks for r in results) == 80  # every clock was swept again...
    assert sum(r.events for r in results) == 0  # ...and every insert conflicted
    assert _emitted() == expected
    assert SlaEvent.objects.count() == len(expected)
    # The unique constraint itself (not only the sweep's ON CONFLICT) refuses a duplicate.
    from django.db import IntegrityError

    event = SlaEvent.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaEvent.objects.create(
            clock_id=event.clock_id, ticket_id=event.ticket_id, metric=event.metric, threshold=event.threshold,
            kind=event.kind, crossed_at=event.crossed_at, emitted_at=now,
        )


def test_two_processors_at_once_notify_and_escalate_once(fresh_tenant, settings, relay):
    settings.WARDEN_SLA_PROCESS_BATCH = 40
    agent = _committed_setup(fresh_tenant, n_tickets=60)
    services.sla_sweep(now=T0 + 300 * M, enqueue=False)
    events = SlaEvent.objects.count()
    steps_due = SlaEvent.objects.filter(threshold__in=[50, 100]).count()
    results = _race(fresh_tenant, lambda: services.sla_events_process())
    assert sum(results) == events
    assert SlaEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert SlaEscalation.objects.count() == steps_due
    assert SlaEscalation.objects.filter(outcome=EscalationOutcome.DONE).count() == steps_due
    # The notifications app tells people (its deliveries of the same events, and of the
    # notify steps' sla.escalated): one notification per clock, about its most severe
    # event, to the one person named (assignee and team lead).
    connection.set_tenant(fresh_tenant)
    relay()
    told = Notification.objects.filter(kind__in=["sla_warning", "sla_breached"])
    assert told.count() == SlaClock.objects.count()
    assert set(told.values_list("recipient_id", flat=True)) == {agent.pk}
    assert set(told.values_list("kind", flat=True)) == {"sla_breached"}


# --- Escalations and notifications ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_escalation_steps_run_once_through_services_and_notify_once(
    always_open, admin_user, agent_user, requester_user, django_capture_on_commit_callbacks, relay, due_now
):
    from apps.accounts.models import Team
    from apps.audit.models import AuditEvent

    desk, ops = Team.objects.get(name="Desk"), Team.objects.get(name="Ops")
    make_policy(
        calendar=always_open,
        actor=admin_user,
        targets={"P3": {"resolution": 100}},
        escalations=[
            {"at_percent": 50, "action": "notify_assignee"},
            {"at_percent": 75, "action": "notify_team_lead", "metric": "resolution"},
            {"at_percent": 90, "action": "raise_priority"},
            {"at_percent": 100, "action": "reassign_team", "team": ops},
            {"at_percent": 100, "action": "notify_team_lead", "metric": "first_response"},  # no such clock: never runs
        ],
    )
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user, team=desk, impact=2, urgency=2)
    services.sla_on_ticket_created(ticket)
    services.sla_sweep(now=T0 + 120 * M, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sla_events_process() == 4
    runs = {(r.event.threshold, r.action): r.outcome for r in SlaEscalation.objects.select_related("event")}
    assert runs == {
        (50, "notify_assignee"): EscalationOutcome.DONE,
        (75, "notify_team_lead"): EscalationOutcome.DONE,
        (90, "raise_priority"): EscalationOutcome.DONE,
        (100, "reassign_team"): EscalationOutcome.DONE,
    }
    ticket.refresh_from_db()
    assert ticket.priority == "P2"
    assert ticket.team == ops
    # One notification, about the breach (not the warnings the same run handled), to the
    # people who own the ticket now: the breach step moved it to Ops, whose member is agent2.
    relay()
    due_now()
    relay()
    notes = list(Notification.objects.filter(kind__in=["sla_warning", "sla_breached"]))
    assert [(n.recipient.email, n.kind, n.context["threshold"]) for n in notes] == [
        ("agent2@alpha.test", "sla_breached", 100)
    ]
    sla_mail = [m for m in mail.outbox if "missed its" in m.subject]
    assert len(sla_mail) == 1
    assert sla_mail[0].to == ["agent2@alpha.test"]
    actions = list(AuditEvent.objects.filter(action__startswith="sla.").values_list("action", flat=True))
    assert actions.count("sla.warning") == 3
    assert actions.count("sla.breached") == 1
    assert actions.count("sla.escalated") == 4
    # Processing again does nothing.
    assert services.sla_events_process() == 0
    assert SlaEscalation.objects.count() == 4


@pytest.mark.django_db
def test_a_denied_escalation_is_recorded_and_the_rest_still_runs(
    always_open, admin_user, agent_user, requester_user, monkeypatch, relay
):
    import apps.policies.services as policy_services
    from apps.policies.decisions import Decision, PolicyDenied

    make_policy(
        calendar=always_open,
        actor=admin_user,
        targets={"P3": {"resolution": 100}},
        escalations=[
            {"at_percent": 50, "action": "notify_assignee"},
            {"at_percent": 50, "action": "raise_priority"},
        ],
    )
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user, priority="P3")
    services.sla_on_ticket_created(ticket)
    services.sla_sweep(now=T0 + 60 * M, enqueue=False)
    asked = []

    def decide(actor, action, resource=None, context=None):
        asked.append((actor, action, context["step"]))
        if context["step"] == "notify_assignee":
            raise PolicyDenied(Decision(False, ("no notifications today",), (), None, "enforce", False), action)
        return original(actor, action, resource, context)

    from apps.sla.services import escalations

    original = policy_services.policy_require
    monkeypatch.setattr(escalations, "policy_require", decide)  # where the escalations ask
    services.sla_events_process()
    assert asked == [(None, "sla.escalate", "notify_assignee"), (None, "sla.escalate", "raise_priority")]
    runs = {r.action: (r.outcome, r.detail) for r in SlaEscalation.objects.all()}
    assert runs["notify_assignee"][0] == EscalationOutcome.DENIED
    assert "no notifications today" in runs["notify_assignee"][1]
    assert runs["raise_priority"] == (EscalationOutcome.DONE, "P3 -> P2")
    # The denied notify step tells nobody (the tenant's own warning rule is off here).
    from apps.notifications.services.preferences import rule_set

    rule_set(actor=admin_user, kind="sla_warning", recipients=["assignee"], enabled=False)
    relay()
    assert not Notification.objects.filter(kind__in=["sla_warning", "sla_breached"]).exists()


@pytest.mark.django_db
def test_events_of_a_clock_that_stopped_before_processing_bother_nobody(standard_policy, agent_user, requester_user,
                                                                      admin_user, relay):
    from apps.sla.models import SlaPolicy

    policy = SlaPolicy.objects.get()
    services.sla_policy_save(
        actor=admin_user,
        policy=policy,
        data=services.policy_input_from_data({"escalations": [{"at_percent": 50, "action": "notify_assignee"}]}, base=policy),
    )
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    services.sla_on_ticket_created(ticket)
    services.sla_sweep(now=T0 + 35 * M, enqueue=False)
    set_status(ticket, "resolved", T0 + 36 * M)
    services.sla_events_process()
    relay()  # the notifications app handles the same events: nothing is news any more
    assert not Notification.objects.filter(kind__in=["sla_warning", "sla_breached"]).exists()
    assert set(SlaEscalation.objects.values_list("outcome", flat=True)) == {EscalationOutcome.SKIPPED}
