"""A requester's reply on a resolved or closed ticket (help-desk settings decide):

* "reopen" (the default): a public reply on a resolved ticket reopens it (open, counted,
  resolution cleared, `ticket.status_changed` + `ticket.reopened` with by_comment, audited);
* "follow-up": the resolved ticket is closed and a new ticket, linked to it
  (`follow_up_of`), carries the reply; a reply on a closed ticket does that in both modes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Team
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict
from apps.events.models import OutboxEvent
from apps.policies.services import PolicyDenied
from apps.tickets import services
from apps.tickets.models import Ticket, TicketComment


@pytest.fixture
def since(tenant):
    """`since()`: [(type, payload, actor_id)] of the events emitted after the fixture."""
    start = OutboxEvent.objects.aggregate(top=Max("id"))["top"] or 0

    def emitted():
        return [(r.event_type, r.payload, r.actor_id) for r in OutboxEvent.objects.filter(id__gt=start).order_by("id")]

    return emitted


@pytest.fixture
def audit_since(tenant):
    start = AuditEvent.objects.aggregate(top=Max("seq"))["top"] or 0
    return lambda action: list(AuditEvent.objects.filter(seq__gt=start, action=action).order_by("seq"))


@pytest.fixture
def resolved(make_ticket, agent_user, admin_user):
    """A ticket of requester@alpha in Desk's queue, assigned to agent@alpha, with a
    category, resolved."""
    desk = Team.objects.get(name="Desk")
    category = services.category_create(actor=admin_user, name="Printers")
    ticket = make_ticket(category=category.pk, impact=1, urgency=2)
    services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    return services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed",
                                      resolution_note="Cleaned the rollers.")


def follow_up_mode(admin_user) -> None:
    services.desk_settings_update(actor=admin_user, resolved_reply="follow_up")


# --- "reopen" (default) ---------------------------------------------------------------------


def test_a_requesters_reply_on_a_resolved_ticket_reopens_it(resolved, requester_user, agent_user, since,
                                                             audit_since):
    """The defect: the reply was added and the ticket stayed resolved, out of every queue."""
    outcome = services.reply_add(actor=requester_user, ticket=resolved, body="Still jams on page 2.")
    ticket = Ticket.objects.get(pk=resolved.pk)
    assert (ticket.status, ticket.reopen_count, ticket.resolution_code, ticket.resolved_at) == ("open", 1, "", None)
    assert ticket.last_reopened_at is not None
    assert ticket.assignee == agent_user  # back in the assignee's (and the team's) open work
    assert outcome.reopened
    assert outcome.follow_up is None
    assert outcome.comment.ticket_id == ticket.pk
    assert outcome.comment.body == "Still jams on page 2."
    assert outcome.ticket.status == "open"
    assert [(t, p.get("status_to"), p.get("by_comment")) for t, p, _ in since()] == [
        ("ticket.commented", None, None),
        ("ticket.status_changed", "open", True),
        ("ticket.reopened", None, True),
    ]
    assert all(actor == requester_user.pk for _t, _p, actor in since())
    reopened = next(p for t, p, _ in since() if t == "ticket.reopened")
    assert reopened == {"ticket_id": ticket.pk, "reopen_count": 1, "by_comment": True}
    (moved,) = audit_since("ticket.transitioned")
    assert moved.actor_id == requester_user.pk
    assert moved.payload_data == {
        "number": ticket.number, "from": "resolved", "to": "open", "by_comment": outcome.comment.pk,
        "reason": "The requester replied after the ticket was resolved.",
    }


def test_comment_add_reopens_too(resolved, requester_user):
    comment = services.comment_add(actor=requester_user, ticket=resolved, body="Not fixed.")
    assert comment.ticket.status == "open"
    assert Ticket.objects.get(pk=resolved.pk).reopen_count == 1


def test_a_reply_is_never_lost_to_the_reopen_cooldown(resolved, requester_user, agent_user, settings):
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    services.reply_add(actor=requester_user, ticket=resolved, body="Still broken.")
    ticket = services.ticket_transition(actor=agent_user, ticket=resolved, to="resolved", resolution_code="fixed",
                                        resolution_note="Again.")
    outcome = services.reply_add(actor=requester_user, ticket=ticket, body="No, still broken.")
    assert outcome.ticket.status == "open"
    assert Ticket.objects.get(pk=resolved.pk).reopen_count == 2


def test_agents_replies_and_internal_notes_do_not_reopen(resolved, agent_user):
    services.reply_add(actor=agent_user, ticket=resolved, body="Glad it works.")
    services.reply_add(actor=agent_user, ticket=resolved, body="note to self", internal=True)
    assert Ticket.objects.get(pk=resolved.pk).status == "resolved"


def test_someone_elses_ticket_is_refused_and_nothing_written(resolved, requester2_user, since):
    comments = TicketComment.objects.count()
    with pytest.raises(PolicyDenied):
        services.reply_add(actor=requester2_user, ticket=resolved, body="me too")
    assert TicketComment.objects.count() == comments
    assert Ticket.objects.get(pk=resolved.pk).status == "resolved"
    assert since() == []


# --- "follow-up" ----------------------------------------------------------------------------


def test_follow_up_mode_closes_the_resolved_ticket_and_opens_a_linked_one(
    resolved, requester_user, admin_user, since, audit_since
):
    follow_up_mode(admin_user)
    comments = TicketComment.objects.filter(ticket=resolved).count()
    outcome = services.reply_add(actor=requester_user, ticket=resolved, body="It jams **again** since Monday.")
    original = Ticket.objects.get(pk=resolved.pk)
    new = outcome.follow_up
    assert (original.status, original.reopen_count) == ("closed", 0)
    assert original.closed_at is not None
    assert outcome.comment is None
    assert not outcome.reopened
    assert TicketComment.objects.filter(ticket=original).count() == comments  # the reply went to the new ticket
    assert (new.follow_up_of, new.requester, new.status) == (original, requester_user, "new")
    assert (new.category, new.team, new.impact, new.urgency) == (original.category, original.team, 1, 2)
    assert new.assignee is None
    assert new.title == original.title
    assert new.description == "It jams **again** since Monday."
    assert "<strong>again</strong>" in new.description_html
    (closed,) = audit_since("ticket.transitioned")
    assert closed.actor_id is None  # the system closes it, on the help desk's setting
    assert closed.payload_data == {
        "number": original.number, "from": "resolved", "to": "closed", "follow_up": new.number,
        "reason": f"The requester replied after the ticket was resolved; the reply opened follow-up #{new.number}.",
    }
    (created,) = audit_since("ticket.created")
    assert created.actor_id == requester_user.pk
    assert (created.payload_data["follow_up_of"], created.payload_data["team_from"]) == (original.number, "follow_up")
    assert [(t, p.get("ticket_id"), p.get("by_comment")) for t, p, _ in since()] == [
        ("ticket.created", new.pk, None),
        ("ticket.status_changed", original.pk, True),
        ("ticket.closed", original.pk, True),
    ]


def test_a_reply_on_a_closed_ticket_opens_a_follow_up_in_both_modes(resolved, requester_user, agent_user,
                                                                    admin_user):
    """The defect: refused with a Conflict, the reply lost."""
    closed = services.ticket_transition(actor=agent_user, ticket=resolved, to="closed")
    closed_at = closed.closed_at
    first = services.reply_add(actor=requester_user, ticket=closed, body="It is back.")
    assert first.follow_up.follow_up_of_id == closed.pk
    follow_up_mode(admin_user)
    second = services.reply_add(actor=requester_user, ticket=closed, body="And again.")
    assert second.follow_up.follow_up_of_id == closed.pk
    assert first.follow_up.number != second.follow_up.number
    again = Ticket.objects.get(pk=closed.pk)
    assert (again.status, again.closed_at) == ("closed", closed_at)


def test_comment_add_still_refuses_what_only_reply_add_turns_into_a_follow_up(resolved, requester_user,
                                                                              agent_user, admin_user):
    follow_up_mode(admin_user)
    with pytest.raises(Conflict) as info:
        services.comment_add(actor=requester_user, ticket=resolved, body="hello")
    assert "follow-up" in info.value.message
    closed = services.ticket_transition(actor=agent_user, ticket=resolved, to="closed")
    with pytest.raises(Conflict):
        services.comment_add(actor=requester_user, ticket=closed, body="hello")
    with pytest.raises(Conflict):  # agents' public replies on closed tickets: as before
        services.reply_add(actor=agent_user, ticket=closed, body="hello")


def test_cancelled_tickets_take_no_public_reply(make_ticket, requester_user):
    ticket = services.ticket_transition(actor=requester_user, ticket=make_ticket(), to="cancelled", reason="Gone")
    with pytest.raises(Conflict):
        services.reply_add(actor=requester_user, ticket=ticket, body="hello")


def test_a_follow_up_of_an_archived_category_goes_to_triage(resolved, requester_user, admin_user, agent_user):
    services.category_archive(actor=admin_user, category=resolved.category)
    closed = services.ticket_transition(actor=agent_user, ticket=resolved, to="closed")
    new = services.reply_add(actor=requester_user, ticket=closed, body="Back again.").follow_up
    assert new.category is None
    assert new.team == resolved.team


# --- API ------------------------------------------------------------------------------------


def test_the_api_reopens_or_answers_with_the_follow_up(api_as, resolved, requester_user, agent_user):
    client = api_as(requester_user)
    url = f"/api/v1/tickets/{resolved.number}/comments/"
    reopened = client.post(url, {"body": "Still broken"}, format="json")
    assert reopened.status_code == 201, reopened.content
    assert reopened.json()["body"] == "Still broken"
    assert client.get(f"/api/v1/tickets/{resolved.number}/").json()["status"] == "open"
    ticket = services.ticket_transition(actor=agent_user, ticket=resolved, to="resolved", resolution_code="fixed",
                                        resolution_note="Now.")
    services.ticket_transition(actor=agent_user, ticket=ticket, to="closed")
    followed = client.post(url, {"body": "It is back"}, format="json")
    assert followed.status_code == 201, followed.content
    body = followed.json()
    assert body["follow_up_of"] == resolved.number
    assert body["description"] == "It is back"
    assert followed["Location"].endswith(f"/api/v1/tickets/{body['number']}/")
    detail = client.get(f"/api/v1/tickets/{body['number']}/").json()
    assert detail["follow_up_of"] == resolved.number
    assert client.get(f"/api/v1/tickets/{resolved.number}/").json()["follow_up_of"] is None


def test_auto_reopen_timestamps(resolved, requester_user):
    before = timezone.now()
    services.reply_add(actor=requester_user, ticket=resolved, body="nope")
    ticket = Ticket.objects.get(pk=resolved.pk)
    assert before <= ticket.last_reopened_at <= timezone.now() + timedelta(seconds=1)
