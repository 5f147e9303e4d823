"""Every ticket write emits its events, in its transaction, with the acting user; status
changes made by a comment and tickets moved by a category merge included. The SLA clocks
follow through the in-transaction handler (tickets no longer call the SLA app)."""

from __future__ import annotations

import io

import pytest
from django.db.models import Max

from apps.events.models import OutboxEvent
from apps.tickets import services


@pytest.fixture
def since(tenant):
    """`since()`: [(type, payload, actor_id)] of the events emitted after the fixture."""
    start = OutboxEvent.objects.aggregate(top=Max("id"))["top"] or 0

    def emitted():
        rows = OutboxEvent.objects.filter(id__gt=start).order_by("id")
        return [(row.event_type, row.payload, row.actor_id) for row in rows]

    return emitted


def test_create_update_assign_and_transitions(since, agent_user, admin_user, requester_user):
    from apps.accounts.models import Team

    ticket = services.ticket_create(actor=requester_user, title="VPN drops", description="Every hour.")
    assert since() == [
        ("ticket.created", {"ticket_id": ticket.pk, "requester_id": requester_user.pk, "source": "portal",
                            "team_id": None, "assignee_id": None}, requester_user.pk)
    ]
    before = len(since())
    services.ticket_update(actor=agent_user, ticket=ticket, title="VPN drops hourly", impact=1)
    assert since()[before:] == [
        ("ticket.changed", {"ticket_id": ticket.pk, "fields": ["title", "impact", "urgency", "priority"]}, agent_user.pk)
    ]
    desk = Team.objects.get(name="Desk")
    before = len(since())
    services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    assert since()[before:] == [
        ("ticket.assigned", {"ticket_id": ticket.pk, "assignee_id": agent_user.pk, "team_id": desk.pk,
                             "previous_assignee_id": None, "previous_team_id": None}, agent_user.pk)
    ]
    before = len(since())
    services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed",
                               resolution_note="New certificate.")
    services.ticket_transition(actor=requester_user, ticket=ticket, to="open", reason="Still drops.")
    services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed",
                               resolution_note="Router replaced.")
    services.ticket_transition(actor=admin_user, ticket=ticket, to="closed")
    assert [(t, p.get("status_from"), p.get("status_to")) for t, p, _ in since()[before:]] == [
        ("ticket.status_changed", "new", "resolved"),
        ("ticket.resolved", None, None),
        ("ticket.status_changed", "resolved", "open"),
        ("ticket.reopened", None, None),
        ("ticket.status_changed", "open", "resolved"),
        ("ticket.resolved", None, None),
        ("ticket.status_changed", "resolved", "closed"),
        ("ticket.closed", None, None),
    ]
    reopened = next(p for t, p, _ in since() if t == "ticket.reopened")
    assert reopened == {"ticket_id": ticket.pk, "reopen_count": 1, "by_comment": False}


def test_comments_and_the_status_changes_they_make(since, agent_user, requester_user):
    ticket = services.ticket_create(actor=requester_user, title="Printer jam")
    before = len(since())
    note = services.comment_add(actor=agent_user, ticket=ticket, body="Checking with @requester", internal=True)
    assert since()[before:] == [
        ("ticket.commented", {"ticket_id": ticket.pk, "comment_id": note.pk, "author_id": agent_user.pk,
                              "internal": True, "mentioned_ids": [], "first_response": False}, agent_user.pk)
    ]
    before = len(since())
    reply = services.comment_add(actor=agent_user, ticket=ticket, body="On my way.")  # right after the note
    assert since()[before:] == [
        ("ticket.commented", {"ticket_id": ticket.pk, "comment_id": reply.pk, "author_id": agent_user.pk,
                              "internal": False, "mentioned_ids": [], "first_response": True}, agent_user.pk),
        ("ticket.status_changed", {"ticket_id": ticket.pk, "status_from": "new", "status_to": "open",
                                   "by_comment": True}, agent_user.pk),
    ]
    services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    before = len(since())
    services.comment_add(actor=requester_user, ticket=ticket, body="It jams again.")
    assert [(t, p.get("status_to"), p.get("by_comment")) for t, p, _ in since()[before:]] == [
        ("ticket.commented", None, None),
        ("ticket.status_changed", "open", True),
    ]


def test_attachments_emit_with_their_visibility(since, agent_user, requester_user):
    ticket = services.ticket_create(actor=requester_user, title="Screenshot attached")
    before = len(since())
    attachment = services.attachment_add(actor=agent_user, ticket=ticket, fileobj=io.BytesIO(b"log line\n"),
                                         filename="log.txt", visibility="internal")
    assert since()[before:] == [
        ("ticket.attachment_added", {"ticket_id": ticket.pk, "attachment_id": attachment.pk, "internal": True,
                                     "quarantined": False}, agent_user.pk)
    ]


def test_a_category_merge_emits_a_move_per_ticket_and_per_reparented_category(since, admin_user, requester_user):
    hardware = services.category_create(actor=admin_user, name="Hardware")
    laptops = services.category_create(actor=admin_user, name="Laptops", parent=hardware)
    devices = services.category_create(actor=admin_user, name="Devices")
    one = services.ticket_create(actor=requester_user, title="Fan noise", category=hardware)
    two = services.ticket_create(actor=requester_user, title="Broken key", category=laptops)
    before = len(since())
    services.category_merge(actor=admin_user, source=hardware, target=devices)
    assert since()[before:] == [
        ("ticket.category_merged", {"ticket_id": one.pk, "category_from_id": hardware.pk,
                                    "category_to_id": devices.pk}, admin_user.pk),
        ("category.moved", {"category_id": laptops.pk, "parent_from_id": hardware.pk, "parent_to_id": devices.pk},
         admin_user.pk),
    ]
    assert two.pk  # stays in Laptops, which moved: its SLA match is re-checked through category.moved


def test_clocks_follow_the_ticket_through_the_in_transaction_handler(since, agent_user, requester_user):
    from tests.sla.factories import make_calendar, make_policy

    make_policy(calendar=make_calendar(name="Always"), actor=None)
    ticket = services.ticket_create(actor=requester_user, title="Needs clocks")
    assert {c.metric for c in ticket.sla_clocks.all()} == {"first_response", "resolution"}  # same transaction
    services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    # Paused in the same transaction, by the same person.
    assert ("sla.paused", {"ticket_id": ticket.pk, "clock_id": ticket.sla_clocks.get(metric="resolution").pk,
                           "metric": "resolution"}, agent_user.pk) in since()
    services.ticket_transition(actor=agent_user, ticket=ticket, to="open")
    assert [t for t, _, _ in since()].count("sla.resumed") == 2  # both clocks paused on pending, both resumed
