"""Email through a real SMTP server on 127.0.0.1: multipart, in the reader's language,
threaded per ticket, one-click unsubscribe; a burst is one email; a mail server that is down
never blocks the ticket and ends dead-lettered with the reason."""

from __future__ import annotations

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
    assert email["Subject"].startswith(f"[#{ticket.number}] ")
    assert "odpowiedział" in email["Subject"] or "odpowiedziała" in email["Subject"] or "Zgłoszenie" in email["Subject"]
    root = f"<ticket-{ticket.number}@alpha.localhost>"
    assert email["In-Reply-To"] == root
    assert email["References"] == root
    assert email["Message-ID"].endswith("@alpha.localhost>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["List-Unsubscribe"].startswith("<http://alpha.localhost")
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
    url = email["List-Unsubscribe"].strip("<>")
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
