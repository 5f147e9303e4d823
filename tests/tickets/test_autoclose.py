"""Auto-close: resolved tickets close by themselves N days after resolution (help-desk
settings, default 7, 0 = never), by beat, as the system, through `ticket_transition`
(policy-checked, audited with the reason), in bounded batches, idempotent."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.events.models import OutboxEvent
from apps.tickets import services
from apps.tickets.models import Ticket

DAY = timedelta(days=1)


@pytest.fixture
def resolve_ago(make_ticket, agent_user):
    """`resolve_ago(days, **fields)`: a ticket resolved that long ago (real times)."""

    def make(days: float, **fields) -> Ticket:
        ticket = make_ticket(**fields)
        services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed",
                                   resolution_note="Done.")
        Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - days * DAY)
        return Ticket.objects.get(pk=ticket.pk)

    return make


def audit_since():
    """From now on: `audit_since()(action)` lists the audit events of `action` written since."""
    start = AuditEvent.objects.aggregate(top=Max("seq"))["top"] or 0
    return lambda action: list(AuditEvent.objects.filter(seq__gt=start, action=action).order_by("seq"))


def statuses(*tickets) -> list[str]:
    return [Ticket.objects.get(pk=t.pk).status for t in tickets]


def test_resolved_tickets_close_seven_days_after_resolution(resolve_ago, make_ticket):
    old, older, recent = resolve_ago(7.01), resolve_ago(30), resolve_ago(6.9)
    untouched = make_ticket(title="Still open")
    audited = audit_since()
    result = services.ticket_autoclose()
    assert (result.closed, result.more) == (2, False)
    assert statuses(old, older, recent, untouched) == ["closed", "closed", "resolved", "new"]
    closed = Ticket.objects.get(pk=old.pk)
    assert closed.closed_at is not None
    assert closed.resolved_at == old.resolved_at
    events = audited("ticket.transitioned")
    assert [e.target_id for e in events] == [str(older.pk), str(old.pk)]  # oldest resolution first
    assert all(e.actor_id is None for e in events)  # the system
    assert events[0].payload_data == {
        "number": older.number, "from": "resolved", "to": "closed",
        "reason": "Closed automatically 7 days after resolution.", "automatic": True,
    }
    closed_events = OutboxEvent.objects.filter(event_type="ticket.closed", payload__ticket_id=old.pk)
    assert [e.payload for e in closed_events] == [{"ticket_id": old.pk, "automatic": True, "by_comment": False}]


def test_the_number_of_days_comes_from_the_settings_and_zero_means_never(resolve_ago, admin_user):
    ticket = resolve_ago(2.5)
    services.desk_settings_update(actor=admin_user, auto_close_days=0)
    assert services.ticket_autoclose().closed == 0
    assert statuses(ticket) == ["resolved"]
    services.desk_settings_update(actor=admin_user, auto_close_days=3)
    assert services.ticket_autoclose().closed == 0
    services.desk_settings_update(actor=admin_user, auto_close_days=2)
    assert services.ticket_autoclose().closed == 1
    assert statuses(ticket) == ["closed"]


def test_it_is_idempotent(resolve_ago):
    tickets = [resolve_ago(10) for _ in range(3)]
    audited = audit_since()
    assert services.ticket_autoclose().closed == 3
    assert services.ticket_autoclose().closed == 0
    assert len(audited("ticket.transitioned")) == 3
    assert statuses(*tickets) == ["closed"] * 3


def test_a_ticket_reopened_meanwhile_is_left_alone(resolve_ago, requester_user):
    from apps.tickets.services.autoclose import autoclose_one

    ticket = resolve_ago(10)
    services.reply_add(actor=requester_user, ticket=ticket, body="Not fixed")  # reopens it
    assert autoclose_one(ticket_id=ticket.pk, cutoff=timezone.now(), days=7) is False
    assert statuses(ticket) == ["open"]


def test_bounded_batches_hand_over_with_a_cursor(resolve_ago):
    tickets = sorted((resolve_ago(10 + i) for i in range(5)), key=lambda t: (t.resolved_at, t.pk))
    first = services.ticket_autoclose(batch=2, budget_seconds=0)  # one batch, then the budget is spent
    assert (first.closed, first.more) == (2, True)
    assert first.after == (tickets[1].resolved_at.isoformat(), tickets[1].pk)
    rest = services.ticket_autoclose(batch=2, after=first.after)
    assert (rest.closed, rest.more) == (3, False)
    assert statuses(*tickets) == ["closed"] * 5


def test_a_refused_ticket_does_not_block_the_others(resolve_ago, monkeypatch):
    from apps.core.errors import PermissionDenied
    from apps.tickets.services import autoclose

    tickets = sorted((resolve_ago(10 + i) for i in range(3)), key=lambda t: (t.resolved_at, t.pk))
    real = autoclose.ticket_transition

    def refuse_first(*, ticket, **kwargs):
        if ticket.pk == tickets[0].pk:
            raise PermissionDenied("Not allowed to ticket.transition: a rule of the tenant.")
        return real(ticket=ticket, **kwargs)

    monkeypatch.setattr(autoclose, "ticket_transition", refuse_first)
    result = services.ticket_autoclose(batch=2)
    assert (result.closed, result.failed, result.more) == (2, 1, False)
    assert statuses(*tickets) == ["resolved", "closed", "closed"]


def test_the_task_continues_in_a_new_task_when_the_budget_runs_out(resolve_ago, settings, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    from apps.tickets import tasks

    for i in range(3):
        resolve_ago(10 + i)
    settings.WARDEN_TICKETS_AUTOCLOSE_BATCH = 1
    settings.WARDEN_TICKETS_AUTOCLOSE_BUDGET_SECONDS = 0
    sent = []
    monkeypatch.setattr(tasks.autoclose, "apply_async", lambda kwargs=None, **options: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.autoclose.run()
    assert outcome["closed"] == 1
    assert outcome["more"] is True
    assert sent
    assert sent[0]["after_id"] is not None


def test_the_auto_close_is_on_beat_every_hour_as_a_public_dispatcher(tenant):
    from django_celery_beat.models import PeriodicTask

    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "tickets-autoclose")
    assert (entry.tenant_task, entry.every_seconds) == ("tickets.autoclose", 3600)
    periodic.sync()
    row = PeriodicTask.objects.get(name="warden:tickets-autoclose")
    assert row.task == "tenants.dispatch"
    assert json.loads(row.kwargs)["task_name"] == "tickets.autoclose"
