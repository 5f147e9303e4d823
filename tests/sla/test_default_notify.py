"""A breach never goes unnoticed: without a notify step at that threshold the assignee
(or, for an unassigned ticket, the team lead) is notified, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from apps.audit.models import AuditEvent
from apps.sla import services
from apps.sla.models import SlaEscalation, SlaNotification

from .factories import make_policy, make_ticket, set_status

M = timedelta(minutes=1)
T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
TARGETS = {"P3": {"resolution": 100}}  # one clock: warnings at 50, 75, 90 min, breach at 100 min


def _run(ticket, minutes: int, capture) -> None:
    services.sla_on_ticket_created(ticket)
    services.sla_sweep(now=T0 + minutes * M, enqueue=False)
    with capture(execute=True):
        services.sla_events_process()


def _notified() -> list[tuple[str, int]]:
    return sorted((n.recipient.email, n.event.threshold) for n in SlaNotification.objects.select_related("recipient", "event"))


@pytest.mark.django_db
def test_a_breach_notifies_the_assignee_once_without_any_step(
    always_open, admin_user, agent_user, requester_user, django_capture_on_commit_callbacks
):
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    _run(ticket, 120, django_capture_on_commit_callbacks)
    # Warnings and the breach were processed together: one notification, about the breach.
    assert _notified() == [(agent_user.email, 100)]
    assert [m.to for m in mail.outbox] == [[agent_user.email]]
    assert mail.outbox[0].subject.startswith(f"SLA breached: #{ticket.number}")
    audit = AuditEvent.objects.get(action="sla.notified_by_default")
    assert audit.payload_data["recipient"] == agent_user.pk
    assert audit.payload_data["as"] == "assignee"
    assert SlaEscalation.objects.count() == 0  # no step ran
    # Exactly once: processing and sweeping again send nothing more.
    services.sla_sweep(now=T0 + 500 * M, enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sla_events_process() == 0
    assert SlaNotification.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_warnings_alone_notify_nobody_by_default(
    always_open, admin_user, agent_user, requester_user, django_capture_on_commit_callbacks
):
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    _run(ticket, 95, django_capture_on_commit_callbacks)  # 50, 75, 90 % crossed
    assert _notified() == []
    assert mail.outbox == []


@pytest.mark.django_db
def test_an_unassigned_ticket_notifies_its_team_lead(
    always_open, admin_user, agent_user, requester_user, django_capture_on_commit_callbacks
):
    from apps.accounts.models import Team

    desk = Team.objects.get(name="Desk")
    assert desk.lead == agent_user
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, team=desk)
    _run(ticket, 120, django_capture_on_commit_callbacks)
    assert _notified() == [(agent_user.email, 100)]
    assert AuditEvent.objects.get(action="sla.notified_by_default").payload_data["as"] == "team_lead"


@pytest.mark.django_db
def test_nobody_to_notify_is_audited(always_open, admin_user, requester_user, django_capture_on_commit_callbacks):
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0)
    _run(ticket, 120, django_capture_on_commit_callbacks)
    assert _notified() == []
    audit = AuditEvent.objects.get(action="sla.notified_by_default")
    assert audit.payload_data["recipient"] is None
    assert audit.payload_data["as"].startswith("nobody")


@pytest.mark.django_db
def test_an_explicit_notify_step_replaces_the_default(
    always_open, admin_user, agent_user, agent2_user, requester_user, django_capture_on_commit_callbacks
):
    from apps.accounts.models import Team

    make_policy(
        calendar=always_open,
        actor=admin_user,
        targets=TARGETS,
        escalations=[{"at_percent": 100, "action": "notify_team_lead"}],
    )
    # Assigned to agent2 in Desk, whose lead is agent: the step names the lead only.
    ticket = make_ticket(requester=requester_user, created_at=T0, team=Team.objects.get(name="Desk"), assignee=agent2_user)
    _run(ticket, 120, django_capture_on_commit_callbacks)
    assert _notified() == [(agent_user.email, 100)]
    assert not AuditEvent.objects.filter(action="sla.notified_by_default").exists()


@pytest.mark.django_db
def test_a_step_that_is_not_a_notification_keeps_the_default(
    always_open, admin_user, agent_user, requester_user, django_capture_on_commit_callbacks
):
    make_policy(
        calendar=always_open, actor=admin_user, targets=TARGETS, escalations=[{"at_percent": 100, "action": "raise_priority"}]
    )
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user, impact=2, urgency=2)
    _run(ticket, 120, django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert ticket.priority == "P2"
    assert _notified() == [(agent_user.email, 100)]


@pytest.mark.django_db
def test_last_warning_mode_also_notifies_at_the_highest_warning(
    always_open, admin_user, agent_user, requester_user, settings, django_capture_on_commit_callbacks
):
    settings.WARDEN_SLA_DEFAULT_NOTIFY = "last_warning"
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    ticket = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    services.sla_on_ticket_created(ticket)
    for minutes in (60, 80, 95, 120):  # 50 %, 75 %, 90 %, breach: one sweep and processing each
        services.sla_sweep(now=T0 + minutes * M, enqueue=False)
        with django_capture_on_commit_callbacks(execute=True):
            services.sla_events_process()
    assert _notified() == [(agent_user.email, 90), (agent_user.email, 100)]
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_off_mode_and_stopped_clocks_notify_nobody(
    always_open, admin_user, agent_user, requester_user, settings, django_capture_on_commit_callbacks
):
    make_policy(calendar=always_open, actor=admin_user, targets=TARGETS)
    resolved = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    services.sla_on_ticket_created(resolved)
    services.sla_sweep(now=T0 + 120 * M, enqueue=False)
    set_status(resolved, "resolved", T0 + 121 * M)  # resolved before the events were processed
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_events_process()
    assert _notified() == []
    settings.WARDEN_SLA_DEFAULT_NOTIFY = "off"
    quiet = make_ticket(requester=requester_user, created_at=T0, assignee=agent_user)
    _run(quiet, 130, django_capture_on_commit_callbacks)
    assert _notified() == []
    assert not AuditEvent.objects.filter(action="sla.notified_by_default").exists()
