"""The hooks as the tickets services call them (see docs/sla.md, "Wiring"): through the
real `ticket_create`, `comment_add`, `ticket_transition`, `ticket_update`,
`ticket_assign`, followed by the hook each one calls. The hooks are idempotent, so
these tests hold whether or not the tickets services already call them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.sla import services as sla
from apps.sla.choices import ClockState
from apps.sla.models import SlaClock

from .factories import make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_comment_cooldown(settings):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0


def _clocks(ticket) -> dict:
    return {c.metric: c for c in SlaClock.objects.filter(ticket=ticket)}


def test_a_ticket_through_its_life(always_open, admin_user, agent_user, requester_user):
    from apps.tickets import services as tickets

    make_policy(
        calendar=always_open,
        actor=admin_user,
        targets={"P2": {"first_response": 30, "resolution": 120}, "P3": {"first_response": 60, "resolution": 480}},
    )
    ticket = tickets.ticket_create(actor=requester_user, title="VPN is down", impact=2, urgency=2)
    sla.sla_on_ticket_created(ticket)
    assert ticket.priority == "P3"
    assert _clocks(ticket)["resolution"].due_at == ticket.created_at + timedelta(minutes=480)

    before = ticket.status
    comment = tickets.comment_add(actor=agent_user, ticket=ticket, body="Looking into it.")
    ticket = comment.ticket
    sla.sla_on_first_response(ticket)
    if ticket.status != before:
        sla.sla_on_status_changed(ticket, before, ticket.status, at=ticket.updated_at)
    first = _clocks(ticket)["first_response"]
    assert first.state == ClockState.MET
    assert first.met_at == ticket.first_response_at

    ticket = tickets.ticket_update(actor=agent_user, ticket=ticket, urgency=1)
    sla.sla_on_ticket_changed(ticket, ["impact", "urgency", "priority"])
    assert ticket.priority == "P2"
    resolution = _clocks(ticket)["resolution"]
    assert resolution.due_at == ticket.created_at + timedelta(minutes=120)  # from the original start
    assert _clocks(ticket)["first_response"].met_at == first.met_at  # a finished clock stays as it was

    ticket = tickets.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    sla.sla_on_status_changed(ticket, "open", "pending", at=ticket.updated_at)
    assert _clocks(ticket)["resolution"].paused_at == ticket.updated_at
    paused_at = ticket.updated_at

    ticket = tickets.ticket_transition(actor=agent_user, ticket=ticket, to="open")
    sla.sla_on_status_changed(ticket, "pending", "open", at=ticket.updated_at)
    resolution = _clocks(ticket)["resolution"]
    assert resolution.paused_at is None
    assert resolution.due_at == ticket.created_at + timedelta(minutes=120) + (ticket.updated_at - paused_at)

    ticket = tickets.ticket_transition(
        actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed", resolution_note="Restarted."
    )
    sla.sla_on_status_changed(ticket, "open", "resolved", at=ticket.updated_at)
    resolution = _clocks(ticket)["resolution"]
    assert resolution.state == ClockState.MET
    assert resolution.met_at == ticket.resolved_at


def test_assigning_to_another_team_rematches_the_policy(always_open, admin_user, agent_user, agent2_user, requester_user):
    from apps.accounts.models import Team
    from apps.tickets import services as tickets

    ops = Team.objects.get(name="Ops")
    make_policy(calendar=always_open, actor=admin_user, name="Any", order=20, targets={"P3": {"resolution": 480}})
    make_policy(calendar=always_open, actor=admin_user, name="Ops", order=10, teams=[ops], targets={"P3": {"resolution": 60}})
    ticket = tickets.ticket_create(actor=requester_user, title="Disk full")
    sla.sla_on_ticket_created(ticket)
    assert _clocks(ticket)["resolution"].policy.name == "Any"
    ticket = tickets.ticket_assign(actor=agent_user, ticket=ticket, team=ops, assignee=agent2_user)
    sla.sla_on_ticket_changed(ticket, ["team", "assignee"])
    clock = _clocks(ticket)["resolution"]
    assert clock.policy.name == "Ops"
    assert clock.due_at == ticket.created_at + timedelta(minutes=60)


def test_a_bulk_recategorisation_resyncs_after_commit(
    always_open, admin_user, requester_user, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.sla import tasks
    from apps.tickets import services as tickets
    from apps.tickets.models import Category

    old = tickets.category_create(actor=admin_user, name="Old printers")
    new = tickets.category_create(actor=admin_user, name="Printers")
    make_policy(calendar=always_open, actor=admin_user, categories=[new], targets={"P3": {"resolution": 30}})
    ticket = tickets.ticket_create(actor=requester_user, title="Jammed", category=old)
    sla.sla_on_ticket_created(ticket)
    assert _clocks(ticket) == {}
    monkeypatch.setattr(tasks.resync, "apply_async", lambda kwargs, **_options: tasks.resync.run(**kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        moved = list(Category.objects.get(pk=old.pk).tickets.values_list("pk", flat=True))
        tickets.category_merge(actor=admin_user, source=old, target=new)
        sla.sla_on_tickets_changed(moved)
    assert moved == [ticket.pk]
    clock = _clocks(ticket)["resolution"]
    assert clock.due_at == ticket.created_at + timedelta(minutes=30)
