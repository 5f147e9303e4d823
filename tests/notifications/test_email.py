"""Email through a real SMTP server on 127.0.0.1: multipart, in the reader's language,
threaded per ticket, one-click unsubscribe; a burst is one email; a mail server that is down
never blocks the ticket and ends dead-lettered with the reason."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from apps.accounts.models import Team
from apps.events.models import Delivery
from apps.notifications.models import Message, Preference
from apps.tickets import services


@pytest.fixture
def ticket(tenant, agent_user, requester_user):
    ticket = services.ticket_create(actor=requester_user, title="Printer on floor 2 jams")
    services.ticket_assign(actor=agent_user, ticket=ticket, team=Team.objects.get(name="Desk"), assignee=agent_user)
    return ticket


def _to(smtp, address: str) -> list:
    return [message for recipients, message in smtp.received if address in recipients]


def test_a_reply_is_one_threaded_multipart_email_in_the_readers_language(
    ticket, agent_user, requester_user, smtp, relay, due_now
):
    requester_user.language = "pl"
    requester_user.save(update_fields=["language"])
    services.comment_add(actor=agent_user, ticket=ticket, body="Could you send a <b>photo</b> of the display?")
    relay()
    assert _to(smtp, "requester@alpha.test") == []  # the burst window is still open
    due_now()
    relay()
    (email,) = _to(smtp, "requester@alpha.test")
    subject = email["Subject"].strip()  # a long encoded subject is folded onto its own line
    assert subject == f"[#{ticket.number}] agent@alpha.test odpowiedział(a) w zgłoszeniu #{ticket.number}: {ticket.title}"
    root = f"<ticket-{ticket.number}@alpha.localhost>"
    assert email["In-Reply-To"] == root
    assert email["References"] == root
    assert email["Message-ID"].endswith("@alpha.localhost>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["List-Unsubscribe"].strip().startswith("<http://alpha.localhost")
    plain = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert "Could you send a <b>photo</b>" in plain  # plain text as written
    assert "&lt;b&gt;photo&lt;/b&gt;" in html  # escaped in HTML
    assert f"/portal/tickets/{ticket.number}/" in plain  # requesters go to the portal
    assert Message.objects.get(notification__recipient=requester_user).status == "sent"


def test_a_burst_of_updates_is_one_email(ticket, agent_user, requester_user, smtp, relay, due_now):
    for body in ("First: checked the tray.", "Second: replaced the roller.", "Third: please try now."):
        services.comment_add(actor=agent_user, ticket=ticket, body=body)
    relay()
    due_now()
    relay()
    (email,) = _to(smtp, "requester@alpha.test")
    plain = email.get_body(("plain",)).get_content()
    assert "First: checked" in plain
    assert "Third: please try now" in plain
    assert "3" in email["Subject"]
    assert set(Message.objects.filter(notification__recipient=requester_user).values_list("status", flat=True)) == {
        "sent"
    }


def test_one_click_unsubscribe_switches_that_email_off(ticket, agent_user, requester_user, smtp, relay, due_now):
    services.comment_add(actor=agent_user, ticket=ticket, body="Done?")
    relay()
    due_now()
    relay()
    (email,) = _to(smtp, "requester@alpha.test")
    url = email["List-Unsubscribe"].strip().strip("<>")
    path = url.split("alpha.localhost", 1)[1]
    response = Client(HTTP_HOST="alpha.localhost").post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Preference.objects.get(user=requester_user, kind="public_reply", channel="email").enabled is False
    services.comment_add(actor=agent_user, ticket=ticket, body="Anything else?")
    relay()
    due_now()
    relay()
    assert len(_to(smtp, "requester@alpha.test")) == 1  # nothing more by email
    assert ticket.notifications.filter(recipient=requester_user).count() == 2  # still in the app


def test_a_forged_unsubscribe_link_changes_nothing(ticket, requester_user):
    response = Client(HTTP_HOST="alpha.localhost").post("/notifications/unsubscribe/not-a-token/")
    assert response.status_code == 404
    assert not Preference.objects.exists()


def test_a_mail_server_that_is_down_never_blocks_the_ticket_and_ends_dead_lettered(
    ticket, agent_user, requester_user, settings, relay, due_now
):
    from tests.workers import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.WARDEN_EVENTS_MAX_ATTEMPTS = 3
    comment = services.comment_add(actor=agent_user, ticket=ticket, body="Replaced the toner.")
    assert comment.pk  # the write stands
    relay()
    for _ in range(3):
        due_now()
        relay()
    message = Message.objects.get(notification__recipient=requester_user)
    delivery = Delivery.objects.get(subscriber="notifications.email", event__payload__message_id=message.pk)
    assert delivery.status == "dead"
    assert "Connection refused" in delivery.last_error or "Errno 111" in delivery.last_error
    assert delivery.attempts == 3
    message.refresh_from_db()
    assert message.status == "pending"  # retried from the admin, it goes out


@pytest.fixture
def team_of_three(tenant, agent_user, agent2_user, admin_user):
    """Desk with agent, agent2 and requester2 (made an agent): the three people told when
    the admin opens a ticket for it."""
    from apps.accounts.models import Role, User
    from apps.accounts.services import team_add_member

    third = User.objects.get(email="requester2@alpha.test")
    third.role = Role.AGENT
    third.save(update_fields=["role"])
    desk = Team.objects.get(name="Desk")
    for person in (agent2_user, third):
        team_add_member(team=desk, user=person, actor=None)
    return desk


def _open_for_the_team(team, requester):
    from apps.accounts.models import User

    admin = User.objects.get(email="admin@alpha.test")
    return services.ticket_create(actor=admin, requester=requester, title="Door badge reader dead", team=team)


def test_one_delivery_sends_everyones_due_email_on_one_connection(
    team_of_three, requester_user, smtp, relay, due_now, monkeypatch
):
    """A new ticket tells the team's three people: the first email delivery sends all
    three (one SMTP connection here), the other two find theirs gone and send nothing."""
    from apps.notifications.channels import email

    monkeypatch.setattr(email, "SMTP_CONNECTIONS", 1)
    _open_for_the_team(team_of_three, requester_user)
    relay()
    due_now()
    relay()
    recipients = sorted(address for to, _message in smtp.received for address in to)
    assert recipients == ["agent2@alpha.test", "agent@alpha.test", "requester2@alpha.test"]
    assert len(set(smtp.sessions)) <= 2  # its own email first, then the others' together
    messages = Message.objects.filter(channel="email", notification__kind="ticket_created")
    assert {m.status for m in messages} == {"sent"}
    assert len({m.batch_key for m in messages}) == 3  # one email each
    ids = [m.pk for m in messages]
    deliveries = Delivery.objects.filter(subscriber="notifications.email", event__payload__message_id__in=ids)
    assert {d.status for d in deliveries} == {"done"}
    assert {d.attempts for d in deliveries} == {1}


def test_a_refused_recipient_is_retried_alone_and_everyone_else_gets_theirs_once(
    team_of_three, requester_user, agent2_user, smtp, relay, due_now
):
    smtp.refuse = {"agent2@alpha.test"}
    _open_for_the_team(team_of_three, requester_user)
    relay()
    due_now()
    relay()
    recipients = sorted(address for to, _message in smtp.received for address in to)
    assert recipients == ["agent@alpha.test", "requester2@alpha.test"]  # each once
    refused = Message.objects.get(channel="email", notification__recipient=agent2_user)
    assert refused.status == "pending"
    delivery = Delivery.objects.get(subscriber="notifications.email", event__payload__message_id=refused.pk)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert "no such mailbox" in delivery.last_error
    smtp.refuse = set()
    due_now()
    relay()
    assert sorted(a for to, _m in smtp.received for a in to).count("agent2@alpha.test") == 1
    assert Message.objects.get(pk=refused.pk).status == "sent"


def test_a_daily_digest_is_one_email_for_every_ticket_at_its_hour(
    ticket, agent_user, requester_user, smtp, relay, due_now
):
    from datetime import time

    from apps.notifications.services.preferences import preferences_set

    requester_user.time_zone = "Europe/Warsaw"  # the tenant's is UTC: the digest hour is the person's
    requester_user.save(update_fields=["time_zone"])
    preferences_set(actor=requester_user, user=requester_user, email_digest="daily", quiet_from=time(22),
                    quiet_until=time(7))
    second = services.ticket_create(actor=requester_user, title="Mouse double-clicks")
    services.ticket_assign(actor=agent_user, ticket=second, team=Team.objects.get(name="Desk"), assignee=agent_user)
    services.comment_add(actor=agent_user, ticket=ticket, body="Roller replaced.")
    services.comment_add(actor=agent_user, ticket=second, body="New mouse on its way.")
    relay()
    waiting = Message.objects.filter(notification__recipient=requester_user, channel="email")
    assert waiting.count() == 2
    assert {m.send_after.astimezone(ZoneInfo("Europe/Warsaw")).time() for m in waiting} <= {time(8, 0)}
    assert _to(smtp, "requester@alpha.test") == []  # not before the digest's hour
    due_now()
    relay()
    (email,) = _to(smtp, "requester@alpha.test")
    assert "2" in email["Subject"]
    assert "In-Reply-To" not in email  # about two tickets: no one thread
    plain = email.get_body(("plain",)).get_content()
    assert "Roller replaced." in plain
    assert "New mouse on its way." in plain
