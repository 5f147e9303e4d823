"""Who hears what: the shipped rules, nobody told of their own action, requesters never of
internal notes, mentions, watchers, once only."""

from __future__ import annotations

import pytest

from apps.accounts.models import Team
from apps.notifications.kinds import ADMIN_ALERTS, default_rules
from apps.notifications.models import Notification, NotificationRule
from apps.tickets import services


def _told(**filters) -> set[tuple[str, str]]:
    return {(n.recipient.email, n.kind) for n in Notification.objects.filter(**filters).select_related("recipient")}


@pytest.fixture
def desk(tenant):
    return Team.objects.get(name="Desk")


def test_every_tenant_starts_with_the_shipped_rules(tenant):
    stored = {rule.kind: list(rule.recipients) for rule in NotificationRule.objects.all()}
    shipped = {kind: roles for kind, roles in default_rules().items() if kind not in ADMIN_ALERTS}
    assert stored == shipped


def test_a_new_ticket_is_told_to_its_team_not_to_whoever_opened_it(desk, agent_user, agent2_user, requester_user,
                                                                     relay):
    from apps.accounts.services import team_add_member

    team_add_member(team=desk, user=agent2_user, actor=None)
    ticket = services.ticket_create(actor=agent_user, requester=requester_user, title="VPN", team=desk)
    relay()
    told = _told(ticket=ticket, kind="ticket_created")
    assert ("agent2@alpha.test", "ticket_created") in told
    assert ("agent@alpha.test", "ticket_created") not in told  # they opened it
    assert ("requester@alpha.test", "ticket_created") not in told  # agents only


def test_without_a_team_the_tenant_admins_hear_of_a_new_ticket(tenant, requester_user):
    from apps.notifications.selectors import people_for
    from apps.tickets.models import Ticket

    ticket = Ticket(pk=0, requester=requester_user, team=None)
    assert {user.email for user, _roles in people_for(["team"], ticket=ticket).values()} == {"admin@alpha.test"}


def test_replies_reach_the_other_side_and_internal_notes_never_reach_requesters(
    desk, agent_user, agent2_user, requester_user, relay
):
    ticket = services.ticket_create(actor=requester_user, title="Laptop fan")
    services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    relay()
    assert ("agent@alpha.test", "ticket_assigned") not in _told(ticket=ticket)  # assigned by themselves
    services.comment_add(actor=agent_user, ticket=ticket, body="Checking the BIOS settings.", internal=True)
    services.comment_add(actor=agent_user, ticket=ticket, body="Could you send a photo?")
    services.comment_add(actor=requester_user, ticket=ticket, body="Here it is.")
    relay()
    told = _told(ticket=ticket)
    assert ("requester@alpha.test", "public_reply") in told
    assert ("agent@alpha.test", "requester_reply") in told
    assert not any(kind == "internal_note" for email, kind in told if email.startswith("requester"))
    assert ("agent@alpha.test", "public_reply") not in told  # nobody is told of their own action
    assert ("requester@alpha.test", "requester_reply") not in told


def test_a_mention_is_told_once_as_a_mention(desk, agent_user, agent2_user, requester_user, relay):
    from apps.notifications.services.watchers import ticket_follow

    ticket = services.ticket_create(actor=requester_user, title="Server room is hot")
    services.ticket_assign(actor=agent_user, ticket=ticket, team=desk, assignee=agent_user)
    ticket_follow(actor=agent2_user, ticket=ticket)  # agent2 would hear of internal notes anyway
    services.comment_add(actor=agent_user, ticket=ticket, body="@agent2 can you look at the AC?", internal=True)
    relay()
    mine = Notification.objects.filter(ticket=ticket, recipient=agent2_user)
    assert [n.kind for n in mine] == ["mentioned"]  # not a second entry for the internal note
    assert mine[0].actor_id == agent_user.pk


def test_an_internal_note_cannot_mention_a_requester_into_hearing_of_it(desk, agent_user, requester_user, relay):
    ticket = services.ticket_create(actor=requester_user, title="Access badge")
    services.comment_add(actor=agent_user, ticket=ticket, body="@requester lost it again?", internal=True)
    relay()
    assert not Notification.objects.filter(ticket=ticket, recipient=requester_user).exists()


def test_resolution_is_told_to_the_requester_and_people_in_copy(desk, agent_user, requester_user, requester2_user, relay):
    from apps.notifications.services.watchers import ticket_cc_add

    ticket = services.ticket_create(actor=requester_user, title="Monitor flickers")
    ticket_cc_add(actor=requester_user, ticket=ticket, email="requester2@alpha.test")
    services.ticket_transition(actor=agent_user, ticket=ticket, to="resolved", resolution_code="fixed",
                               resolution_note="New cable.")
    relay()
    assert {("requester@alpha.test", "ticket_resolved"), ("requester2@alpha.test", "ticket_resolved")} <= _told(
        ticket=ticket
    )


def test_a_disabled_rule_tells_nobody(desk, admin_user, agent_user, requester_user, relay):
    from apps.notifications.services.preferences import rule_set

    rule_set(actor=admin_user, kind="public_reply", recipients=["requester"], enabled=False)
    ticket = services.ticket_create(actor=requester_user, title="Phone")
    services.comment_add(actor=agent_user, ticket=ticket, body="Which model?")
    relay()
    assert not Notification.objects.filter(ticket=ticket, kind="public_reply").exists()


def test_running_the_fan_out_again_tells_nobody_twice(desk, agent_user, requester_user, relay):
    from apps.events.models import OutboxEvent
    from apps.events.types import EVENT_TYPES
    from apps.notifications.services.fanout import notifications_fan_out

    ticket = services.ticket_create(actor=requester_user, title="Keyboard")
    services.comment_add(actor=agent_user, ticket=ticket, body="Try another USB port.")
    relay()
    before = Notification.objects.count()
    row = OutboxEvent.objects.filter(event_type="ticket.commented").latest("id")
    event = EVENT_TYPES.get(row.event_type).cls.from_payload(row.payload, row.version)
    assert notifications_fan_out(event, event_id=row.pk, actor_id=row.actor_id) == []
    assert Notification.objects.count() == before
