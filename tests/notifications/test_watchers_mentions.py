"""Mentions (drawn as links, offered by the composer's autocomplete, only people who may
read the comment), agents following tickets, and requesters copying colleagues in (who
then read the request in the portal, read only, and hear of the team's replies)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification, Watcher
from apps.tickets import services


@pytest.fixture
def ticket(tenant, requester_user):
    return services.ticket_create(actor=requester_user, title="VPN drops every hour")


# --- Mentions ----------------------------------------------------------------------------


def test_a_mention_is_stored_and_shown_as_a_link_and_anything_else_stays_text(ticket, agent_user, agent2_user):
    comment = services.comment_add(
        actor=agent_user, ticket=ticket, internal=True,
        body="@agent2 can you check? Not @nobody, and `@agent2` in code stays code.",
    )
    assert list(comment.mentions.values_list("email", flat=True)) == ["agent2@alpha.test"]
    assert comment.body_html.count('class="mention"') == 1
    assert '<a class="mention" href="mailto:agent2@alpha.test" title="' in comment.body_html
    assert ">@agent2</a>" in comment.body_html
    assert "Not @nobody" in comment.body_html
    assert "<code>@agent2</code>" in comment.body_html


def test_an_internal_note_cannot_mention_the_requester(ticket, agent_user, requester_user):
    note = services.comment_add(actor=agent_user, ticket=ticket, internal=True, body="Ask @requester later.")
    assert not note.mentions.exists()
    assert 'class="mention"' not in note.body_html
    reply = services.comment_add(actor=agent_user, ticket=ticket, body="@requester does it still drop?")
    assert list(reply.mentions.values_list("pk", flat=True)) == [requester_user.pk]


def test_a_mention_link_cannot_be_forged_in_markdown(ticket, agent_user):
    comment = services.comment_add(
        actor=agent_user, ticket=ticket,
        body='<a class="mention" href="mailto:ceo@alpha.test">@ceo</a> and [@ceo](mailto:ceo@alpha.test)',
    )
    assert '<a class="mention"' not in comment.body_html  # raw HTML is text; a Markdown link has no class
    assert "&lt;a class=" in comment.body_html


def test_the_composer_offers_only_people_who_may_read_the_comment(ticket, agent_user, web_as, other_tenant):
    client = web_as(agent_user)
    url = reverse("desk:mentions", kwargs={"number": ticket.number})
    public = client.get(url, {"q": "re"}).json()["people"]
    assert [p["email"] for p in public] == ["requester@alpha.test"]  # requester2 may not read it
    assert public[0]["handle"] == "requester"
    internal = client.get(url, {"q": "re", "internal": "1"}).json()["people"]
    assert internal == []  # never the requester on an internal note
    agents = {p["email"] for p in client.get(url, {"q": "agent"}).json()["people"]}
    assert agents == {"agent@alpha.test", "agent2@alpha.test"}
    everyone = {p["email"] for p in client.get(url).json()["people"]}
    assert all(email.endswith("@alpha.test") for email in everyone)  # beta's people never


def test_the_composer_inserts_the_email_when_a_handle_is_shared(ticket, agent_user, web_as):
    from apps.accounts.models import Role, User

    User.objects.create_user(email="agent@other.example", role=Role.AGENT, full_name="Agent Twin")
    people = web_as(agent_user).get(reverse("desk:mentions", kwargs={"number": ticket.number}), {"q": "agent"}).json()
    handles = {p["email"]: p["handle"] for p in people["people"]}
    assert handles["agent@alpha.test"] == "agent@alpha.test"
    assert handles["agent@other.example"] == "agent@other.example"
    assert handles["agent2@alpha.test"] == "agent2"


def test_requesters_get_no_mention_suggestions(ticket, requester_user, web_as):
    response = web_as(requester_user).get(reverse("desk:mentions", kwargs={"number": ticket.number}), {"q": "a"})
    assert response.status_code == 403


# --- Following ---------------------------------------------------------------------------


def test_an_agent_follows_and_unfollows_from_the_ticket_page(ticket, agent_user, web_as):
    client = web_as(agent_user)
    page = client.get(reverse("desk:ticket", kwargs={"number": ticket.number}))
    assert 'aria-pressed="false"' in page.content.decode()
    response = client.post(reverse("desk:follow", kwargs={"number": ticket.number}), {"follow": "1"})
    assert response.status_code == 302
    assert response["Location"].endswith("#watch")
    assert Watcher.objects.filter(ticket=ticket, user=agent_user, kind="follower").exists()
    assert AuditEvent.objects.filter(action="ticket.followed").exists()
    page = client.get(reverse("desk:ticket", kwargs={"number": ticket.number})).content.decode()
    assert 'aria-pressed="true"' in page
    client.post(reverse("desk:follow", kwargs={"number": ticket.number}), {"follow": "0"})
    assert not Watcher.objects.filter(ticket=ticket, user=agent_user).exists()


def test_a_follower_hears_of_the_requesters_replies(ticket, agent_user, requester_user, relay):
    from apps.notifications.services.watchers import ticket_follow

    ticket_follow(actor=agent_user, ticket=ticket)
    relay()
    services.comment_add(actor=requester_user, ticket=ticket, body="It dropped again at 10:00.")
    relay()
    assert Notification.objects.filter(recipient=agent_user, kind="requester_reply", ticket=ticket).count() == 1


# --- Copied in ---------------------------------------------------------------------------


def test_a_requester_copies_a_colleague_in_who_then_reads_it_and_hears_of_replies(
    ticket, requester_user, agent_user, web_as, relay
):
    from apps.accounts.models import User

    colleague = User.objects.get(email="requester2@alpha.test")
    owner = web_as(requester_user)
    response = owner.post(reverse("portal:cc-add", kwargs={"number": ticket.number}), {"email": "Requester2@alpha.test"})
    assert response.status_code == 302
    assert Watcher.objects.filter(ticket=ticket, user=colleague, kind="cc").exists()
    assert AuditEvent.objects.filter(action="ticket.cc_added").exists()
    assert "requester2@alpha.test" in owner.get(reverse("portal:detail", kwargs={"number": ticket.number})).content.decode()

    relay()
    services.comment_add(actor=agent_user, ticket=ticket, body="Please update the VPN client.")
    services.comment_add(actor=agent_user, ticket=ticket, internal=True, body="SECRET-NOTE-91")
    relay()
    assert Notification.objects.filter(recipient=colleague, kind="public_reply").count() == 1
    assert not Notification.objects.filter(recipient=colleague, kind="internal_note").exists()

    reader = web_as(colleague)
    page = reader.get(reverse("portal:detail", kwargs={"number": ticket.number}))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Please update the VPN client." in html
    assert "SECRET-NOTE-91" not in html
    assert 'id="reply-form"' not in html  # read only
    assert "copied you in" in html
    link = f'href="/portal/tickets/{ticket.number}/"'
    assert link in reader.get(reverse("portal:list"), {"show": "copied"}).content.decode()
    assert link not in reader.get(reverse("portal:list")).content.decode()  # not among their own
    refused = reader.post(reverse("portal:reply", kwargs={"number": ticket.number}), {"body": "me too"})
    assert refused.status_code == 404
    assert not ticket.comments.filter(author=colleague).exists()

    left = reader.post(reverse("portal:cc-remove", kwargs={"number": ticket.number, "user_id": colleague.pk}))
    assert left.status_code == 302
    assert reader.get(reverse("portal:detail", kwargs={"number": ticket.number})).status_code == 404


def test_copying_in_an_unknown_address_is_a_form_error_and_stores_nothing(ticket, requester_user, web_as):
    response = web_as(requester_user).post(
        reverse("portal:cc-add", kwargs={"number": ticket.number}), {"email": "stranger@elsewhere.test"}
    )
    assert response.status_code == 422
    assert "Nobody of this organisation has that address." in response.content.decode()
    assert not Watcher.objects.exists()


def test_only_the_requester_copies_people_in(ticket, web_as):
    from apps.accounts.models import User

    other = User.objects.get(email="requester2@alpha.test")
    response = web_as(other).post(reverse("portal:cc-add", kwargs={"number": ticket.number}), {"email": "agent@alpha.test"})
    assert response.status_code == 404
    assert not Watcher.objects.exists()


def test_the_desk_reads_followers_and_copied_in_people_in_one_query(ticket, agent_user, requester_user,
                                                                   django_assert_num_queries):
    """The ticket page's watch panel: followers by name, copied-in people in the order
    they were added, from one statement, matching the two separate selectors."""
    from apps.accounts.models import User
    from apps.notifications import selectors
    from apps.notifications.models import WatcherKind

    zed = User.objects.create_user(email="zed@alpha.test", full_name="Zed Agent")
    ala = User.objects.create_user(email="ala@alpha.test", full_name="Ala Agent")
    for person in (zed, agent_user, ala):
        Watcher.objects.create(ticket=ticket, user=person, kind=WatcherKind.FOLLOWER)
    second = User.objects.create_user(email="b@alpha.test", full_name="Aaron")
    for person in (requester_user, second):
        Watcher.objects.create(ticket=ticket, user=person, kind=WatcherKind.CC, added_by=requester_user)
    with django_assert_num_queries(1):
        following, copied = selectors.watchers_of(ticket)
    assert following == selectors.followers(ticket)
    assert following.index(ala) < following.index(zed)
    assert copied == selectors.copied_in(ticket)
    assert [w.user for w in copied] == [requester_user, second]  # in the order they were added
