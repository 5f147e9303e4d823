"""`ticket_import_many`: a batch of tickets from a connector, governed as one write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, PermissionDenied
from apps.events.models import OutboxEvent
from apps.sla.models import SlaClock
from apps.tickets.models import Ticket
from apps.tickets.services import ImportRow, ticket_import_many
from tests.sla.factories import make_calendar, make_policy

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_a_batch_is_numbered_searchable_audited_and_announced_once(tenant, requester_user):
    rows = [ImportRow(title=f"INC00{i} printer jam", requester_id=requester_user.pk, created_at=T0) for i in range(3)]
    rows.append(ImportRow(title="INC009", requester_id=requester_user.pk, status="resolved", resolution_code="fixed",
                          resolution_note="Resolved in ServiceNow.", impact=1, urgency=1, created_at=T0))
    tickets = ticket_import_many(actor=None, rows=rows, source="servicenow", origin="snow")
    numbers = [t.number for t in tickets]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert [t.source for t in tickets] == ["servicenow"] * 4
    done = Ticket.objects.get(pk=tickets[3].pk)
    assert (done.status, done.priority, done.resolved_at, done.created_at) == ("resolved", "P1", T0, T0)
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], search_vector__isnull=False).count() == 4
    event = AuditEvent.objects.get(action="ticket.imported")
    assert b'"count":4' in bytes(event.payload)
    assert OutboxEvent.objects.filter(event_type="ticket.imported").count() == 1
    assert not OutboxEvent.objects.filter(event_type="ticket.created").exists()


def test_the_sla_clocks_follow_the_batch(tenant, admin_user, requester_user):
    make_policy(calendar=make_calendar(actor=admin_user, name="Always"), actor=admin_user)
    tickets = ticket_import_many(actor=None, source="servicenow",
                                 rows=[ImportRow(title="INC1", requester_id=requester_user.pk),
                                       ImportRow(title="INC2", requester_id=requester_user.pk)])
    assert SlaClock.objects.filter(ticket__in=tickets).count() == 4


def test_one_bad_row_refuses_the_batch(tenant, requester_user, requester2_user):
    requester2_user.is_active = False
    requester2_user.save(update_fields=["is_active"])
    with pytest.raises(ApplicationError) as refused:
        ticket_import_many(actor=None, source="servicenow",
                           rows=[ImportRow(title="ok", requester_id=requester_user.pk),
                                 ImportRow(title="bad", requester_id=requester2_user.pk)])
    assert "Row 2" in refused.value.message
    with pytest.raises(ApplicationError):
        ticket_import_many(actor=None, source="servicenow",
                           rows=[ImportRow(title="x", requester_id=requester_user.pk, status="closed")])
    assert not Ticket.objects.filter(title__in=["ok", "bad", "x"]).exists()


def test_only_agents_and_the_system_import(tenant, requester_user):
    with pytest.raises(PermissionDenied):
        ticket_import_many(actor=requester_user, source="servicenow",
                           rows=[ImportRow(title="x", requester_id=requester_user.pk)])


def test_a_batch_of_outside_changes_is_one_governed_write(tenant, requester_user, django_capture_on_commit_callbacks):
    from apps.accounts.models import Team
    from apps.tickets.services import SyncChange, ticket_sync_many

    a, b, c = ticket_import_many(actor=None, source="servicenow", rows=[
        ImportRow(title=f"INC{i}", requester_id=requester_user.pk) for i in range(3)])
    ops = Team.objects.get(name="Ops")
    Ticket.objects.filter(pk=c.pk).update(status="closed", resolution_code="fixed", resolution_note="x")
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = ticket_sync_many(actor=None, source="servicenow", origin="snow", changes=[
            SyncChange(ticket_id=a.pk, impact=1, urgency=1), SyncChange(ticket_id=b.pk, team_id=ops.pk),
            SyncChange(ticket_id=c.pk, urgency=1)])
    assert (outcome.changed, outcome.closed) == ([a.pk, b.pk], [c.pk])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.impact, a.urgency, a.priority, b.team_id) == (1, 1, "P1", ops.pk)
    assert Ticket.objects.get(pk=c.pk).urgency == 2
    event = AuditEvent.objects.get(action="ticket.synced")
    assert b'"count":2' in bytes(event.payload)
    assert OutboxEvent.objects.get(event_type="ticket.synced").payload["ticket_ids"] == [a.pk, b.pk]
    assert callbacks  # the SLA re-target of the batch is queued after commit
    with pytest.raises(ApplicationError):
        ticket_sync_many(actor=None, source="servicenow", changes=[SyncChange(ticket_id=a.pk, impact=7)])
