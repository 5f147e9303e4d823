"""Slack through slack-sdk against a fake Slack Web API on 127.0.0.1: direct messages found
by email, team channels, Retry-After honoured, a 500 retried and dead-lettered, a revoked
token switching Slack off with an admin alert (no retry loop); the token never shown."""

from __future__ import annotations

import logging

import pytest

from apps.accounts.models import Team
from apps.audit.models import AuditEvent
from apps.events.models import Delivery
from apps.notifications.models import Message, Notification, SlackWorkspace
from apps.notifications.services.slack import slack_connect, team_channel_set
from apps.tickets import services
from tests.fakes.slack import FakeSlack

TOKEN = "xoxb-test-token"


@pytest.fixture
def slack(tenant, admin_user, settings):
    with FakeSlack(users={"requester@alpha.test": "UREQ", "agent@alpha.test": "UAGENT"}, token=TOKEN) as fake:
        settings.WARDEN_SLACK_API_URL = fake.url
        slack_connect(actor=admin_user, bot_token=TOKEN)
        yield fake


@pytest.fixture
def ticket(tenant, agent_user, requester_user, relay):
    ticket = services.ticket_create(actor=requester_user, title="Scanner offline")
    services.ticket_assign(actor=agent_user, ticket=ticket, team=Team.objects.get(name="Desk"), assignee=agent_user)
    relay()  # what opening and assigning it told people is out of the way
    return ticket


def _slack_delivery(user) -> Delivery:
    message = Message.objects.get(notification__recipient=user, channel="slack")
    return Delivery.objects.get(subscriber="notifications.slack", event__payload__message_id=message.pk)


def test_connecting_keeps_the_token_encrypted_and_never_shows_it(slack, admin_user, caplog):
    workspace = SlackWorkspace.objects.get()
    assert workspace.name == "Acme"
    assert TOKEN not in workspace.bot_token
    event = AuditEvent.objects.filter(action="notification.slack_connected").latest("seq")
    assert TOKEN not in event.payload_text
    assert TOKEN not in caplog.text


def test_a_bad_token_is_refused_on_connect(tenant, admin_user, settings):
    from apps.core.errors import ApplicationError

    with FakeSlack(token=TOKEN) as fake:
        settings.WARDEN_SLACK_API_URL = fake.url
        with pytest.raises(ApplicationError, match="invalid_auth"):
            slack_connect(actor=admin_user, bot_token="xoxb-wrong")
    assert not SlackWorkspace.objects.exists()


def test_a_reply_reaches_the_requester_by_direct_message(slack, ticket, agent_user, requester_user, relay, due_now):
    services.comment_add(actor=agent_user, ticket=ticket, body="Restarted the spooler.")
    relay()
    due_now()
    relay()
    (post,) = [p for p in slack.posts if p[0] == "UREQ"]
    channel, text, blocks, token = post
    assert "replied on ticket" in text
    assert blocks[0]["type"] == "section"
    assert blocks[1]["elements"][0]["url"].endswith(f"/portal/tickets/{ticket.number}/")
    assert Message.objects.get(notification__recipient=requester_user, channel="slack").status == "sent"


def test_a_new_ticket_goes_to_the_teams_channel_once(slack, admin_user, agent_user, agent2_user, requester_user, relay):
    from apps.accounts.services import team_add_member

    desk = Team.objects.get(name="Desk")
    team_add_member(team=desk, user=agent2_user, actor=None)
    team_channel_set(actor=admin_user, team=desk, channel="CDESK")
    services.ticket_create(actor=agent_user, requester=requester_user, title="Projector", team=desk)
    relay()
    posts = [p for p in slack.posts if p[0] == "CDESK"]
    assert len(posts) == 1
    assert not any("New ticket" in p[1] for p in slack.posts if p[0] != "CDESK")  # not also to each member


def test_rate_limited_it_waits_as_long_as_slack_says(slack, ticket, agent_user, requester_user, relay, due_now):
    from django.utils import timezone

    slack.script = [(429, {"Retry-After": "120"}, {"ok": False, "error": "ratelimited"})]
    before = timezone.now()
    services.comment_add(actor=agent_user, ticket=ticket, body="One moment.")  # Slack goes at once
    relay()
    delivery = _slack_delivery(requester_user)
    assert (delivery.status, delivery.attempts) == ("pending", 0)  # waiting, no attempt used
    assert delivery.next_attempt_at >= before + timezone.timedelta(seconds=110)
    due_now()
    relay()
    assert _slack_delivery(requester_user).status == "done"
    assert any(p[0] == "UREQ" for p in slack.posts)


def test_slack_failing_is_retried_and_dead_lettered_with_the_reason(slack, ticket, agent_user, requester_user, relay,
                                                                     due_now, settings):
    settings.WARDEN_EVENTS_MAX_ATTEMPTS = 2
    # the lookup, then chat.postMessage failing twice (the person's Slack id is remembered)
    slack.script = [(200, {}, {"ok": True, "user": {"id": "UREQ"}})] + [(500, {}, {"ok": False, "error": "fatal_error"})] * 2
    services.comment_add(actor=agent_user, ticket=ticket, body="Checking.")
    relay()
    due_now()
    relay()
    delivery = _slack_delivery(requester_user)
    assert delivery.status == "dead"
    assert "fatal_error" in delivery.last_error
    assert TOKEN not in delivery.last_error


def test_a_revoked_token_switches_slack_off_and_tells_the_admins_once(slack, ticket, agent_user, requester_user,
                                                                     admin_user, relay, due_now, caplog):
    caplog.set_level(logging.INFO)
    slack.revoked = True
    services.comment_add(actor=agent_user, ticket=ticket, body="Still checking.")
    relay()
    workspace = SlackWorkspace.objects.get()
    assert workspace.enabled is False
    assert "token_revoked" in workspace.disabled_reason
    assert _slack_delivery(requester_user).status == "done"  # not retried: nothing a retry could fix
    assert Message.objects.get(notification__recipient=requester_user, channel="slack").status == "failed"
    alerts = Notification.objects.filter(kind="slack_disconnected")
    assert [a.recipient_id for a in alerts] == [admin_user.pk]
    calls = len(slack.calls)
    services.comment_add(actor=agent_user, ticket=ticket, body="And again.")
    relay()
    due_now()
    relay()
    assert len(slack.calls) == calls  # Slack is off: nothing more is tried
    assert TOKEN not in caplog.text


def test_a_fan_out_posts_to_everyone_and_looks_each_person_up_once(
    slack, admin_user, agent_user, agent2_user, requester_user, relay
):
    from apps.accounts.services import team_add_member

    slack.users["agent2@alpha.test"] = "UAGENT2"
    desk = Team.objects.get(name="Desk")
    team_add_member(team=desk, user=agent2_user, actor=None)
    services.ticket_create(actor=admin_user, requester=requester_user, title="Badge reader", team=desk)
    relay()
    assert sorted(p[0] for p in slack.posts) == ["UAGENT", "UAGENT2"]
    assert slack.calls.count("users.lookupByEmail") == 2
    services.ticket_create(actor=admin_user, requester=requester_user, title="Badge reader again", team=desk)
    relay()
    assert sorted(p[0] for p in slack.posts) == ["UAGENT", "UAGENT", "UAGENT2", "UAGENT2"]
    assert slack.calls.count("users.lookupByEmail") == 2  # remembered
    messages = Message.objects.filter(channel="slack", notification__kind="ticket_created")
    assert {m.status for m in messages} == {"sent"}
    ids = [m.pk for m in messages]
    deliveries = Delivery.objects.filter(subscriber="notifications.slack", event__payload__message_id__in=ids)
    assert {(d.status, d.attempts) for d in deliveries} == {("done", 1)}


def test_reconnecting_slack_forgets_who_was_who(slack, admin_user, agent_user, requester_user, relay):
    desk = Team.objects.get(name="Desk")
    services.ticket_create(actor=admin_user, requester=requester_user, title="Badge reader", team=desk)
    relay()
    slack_connect(actor=admin_user, bot_token=TOKEN)  # perhaps another workspace
    services.ticket_create(actor=admin_user, requester=requester_user, title="Badge reader again", team=desk)
    relay()
    assert slack.calls.count("users.lookupByEmail") == 2
    assert [p[0] for p in slack.posts] == ["UAGENT", "UAGENT"]
