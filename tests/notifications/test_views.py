"""The notification centre and the preferences page through the Django client: one's own
notifications only, filters, marking read, opening one (read, and off to the desk or the
portal), the bell's fragment, and preferences with their form errors."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.accounts.models import Team
from apps.notifications.models import Notification, Preference, Profile
from apps.tickets import services


@pytest.fixture
def told(tenant, agent_user, requester_user, relay):
    """A ticket of the requester assigned to the agent, the agent's reply and the
    requester's answer: the agent and the requester each have notifications."""
    ticket = services.ticket_create(actor=requester_user, title="Monitor flickers")
    services.ticket_assign(actor=agent_user, ticket=ticket, team=Team.objects.get(name="Desk"), assignee=agent_user)
    services.comment_add(actor=agent_user, ticket=ticket, body="Try another cable?")
    services.comment_add(actor=requester_user, ticket=ticket, body="Same with a new cable.")
    relay()
    return ticket


def test_the_inbox_lists_ones_own_and_filters(told, agent_user, requester_user, web_as):
    page = web_as(agent_user).get(reverse("notifications:inbox")).content.decode()
    mine = Notification.objects.filter(recipient=agent_user)
    assert mine.exists()
    assert page.count('class="notification ') == mine.count()
    assert "Same with a new cable." in page  # the requester's reply, as an excerpt
    assert "Try another cable?" not in page  # the agent's own reply is not news to them
    only = web_as(agent_user).get(reverse("notifications:inbox"), {"kind": "requester_reply"}).content.decode()
    assert only.count('class="notification ') == mine.filter(kind="requester_reply").count() == 1
    theirs = web_as(requester_user).get(reverse("notifications:inbox")).content.decode()
    assert "Try another cable?" in theirs
    assert "Same with a new cable." not in theirs


def test_opening_a_notification_marks_it_read_and_goes_where_the_reader_works(told, agent_user, requester_user, web_as):
    note = Notification.objects.filter(recipient=agent_user, kind="requester_reply").get()
    response = web_as(agent_user).get(reverse("notifications:open", args=[note.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"/desk/tickets/{told.number}/"
    note.refresh_from_db()
    assert note.read_at is not None
    reply = Notification.objects.filter(recipient=requester_user, kind="public_reply").get()
    response = web_as(requester_user).get(reverse("notifications:open", args=[reply.pk]))
    assert response["Location"] == f"/portal/tickets/{told.number}/"


def test_nobody_opens_or_marks_someone_elses(told, agent_user, requester_user, web_as):
    theirs = Notification.objects.filter(recipient=agent_user).first()
    client = web_as(requester_user)
    assert client.get(reverse("notifications:open", args=[theirs.pk])).status_code == 404
    client.post(reverse("notifications:read"), {"id": [str(theirs.pk)]})
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read_and_the_bell(told, agent_user, web_as):
    client = web_as(agent_user)
    unread = Notification.objects.filter(recipient=agent_user, read_at__isnull=True).count()
    bell = client.get(reverse("notifications:bell")).content.decode()
    assert f'<span class="bell-count" aria-hidden="true">{unread}</span>' in bell
    assert 'hx-trigger="every ' in bell
    response = client.post(reverse("notifications:read"), {"all": "1", "next": "/notifications/?unread=1"})
    assert response["Location"] == "/notifications/?unread=1"
    assert not Notification.objects.filter(recipient=agent_user, read_at__isnull=True).exists()
    assert "bell-count" not in client.get(reverse("notifications:bell")).content.decode()
    page = client.get(reverse("notifications:inbox"), {"unread": "1"}).content.decode()
    assert "No unread notifications." in page


def test_mark_read_never_redirects_elsewhere(told, agent_user, web_as):
    response = web_as(agent_user).post(reverse("notifications:read"), {"all": "1", "next": "//evil.example/"})
    assert response["Location"] == reverse("notifications:inbox")


def test_preferences_save_and_refuse_half_quiet_hours(tenant, requester_user, web_as):
    client = web_as(requester_user)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert "public_reply.email" in page
    assert "sla_warning.email" not in page  # requesters are not offered the agents' kinds
    (mention,) = re.findall(r'<input type="checkbox" name="mentioned.in_app"[^>]*>', page)
    assert " checked" in mention
    assert " disabled" in mention  # always shown in the app
    form = {"public_reply.in_app": "on", "email_digest": "daily", "quiet_from": "22:00", "quiet_until": ""}
    refused = client.post(reverse("notifications:preferences"), form)
    assert refused.status_code == 422
    assert "Give both times, or neither." in refused.content.decode()
    assert not Profile.objects.filter(user=requester_user).exists()
    form["quiet_until"] = "07:00"
    saved = client.post(reverse("notifications:preferences"), form)
    assert saved.status_code == 302, [line for line in saved.content.decode().splitlines() if "error" in line]
    profile = Profile.objects.get(user=requester_user)
    assert (profile.email_digest, str(profile.quiet_from), str(profile.quiet_until)) == ("daily", "22:00:00", "07:00:00")
    assert Preference.objects.get(user=requester_user, kind="public_reply", channel="email").enabled is False
