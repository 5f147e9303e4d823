"""Languages: the header's switcher (a form posting to Django's `set_language`) changes the
language of the desk and the portal for the rest of the session, and Polish pages show
the Polish catalogue's words: the priority labels "P1 - Krytyczny", "P2 - Wysoki"."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.tickets import services
from apps.tickets.choices import Level


@pytest.fixture
def critical_ticket(tenant, agent_user, requester_user):
    """Impact and urgency high: P1 through the default matrix."""
    ticket = services.ticket_create(actor=agent_user, requester=requester_user, title="Core switch down",
                                    impact=Level.HIGH, urgency=Level.HIGH)
    assert ticket.priority == "P1"
    return ticket


def _switch(client, language: str, next_path: str):
    return client.post(reverse("set_language"), {"language": language, "next": next_path})


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def test_every_page_offers_the_switcher_back_to_itself(critical_ticket, web_as, agent_user):
    path = reverse("desk:ticket", args=[critical_ticket.number]) + "?suggest=1"
    html = web_as(agent_user).get(path).content.decode()
    form = re.search(r'<form action="/i18n/setlang/" method="post" class="inline">(.*?)</form>', html, re.S).group(1)
    assert 'name="csrfmiddlewaretoken"' in form
    assert f'<input name="next" type="hidden" value="{path.replace("&", "&amp;")}">' in form
    assert '<label for="lang" class="visually-hidden">Language</label>' in form
    assert '<option value="en" lang="en" selected>English</option>' in form
    assert '<option value="pl" lang="pl">Polski</option>' in form


def test_switching_to_polish_translates_the_desk_and_the_portal(critical_ticket, web_as, agent_user, requester_user):
    desk_path = reverse("desk:ticket", args=[critical_ticket.number])
    agent = web_as(agent_user)
    before = agent.get(desk_path).content.decode()
    assert _lang(before) == "en"
    assert "P1 - Critical" in before
    assert "Krytyczny" not in before

    response = _switch(agent, "pl", desk_path)
    assert response.status_code == 302
    assert response["Location"] == desk_path
    detail = agent.get(desk_path).content.decode()
    assert _lang(detail) == "pl"
    assert re.search(r'<p class="ticket-badges">.*?P1 - Krytyczny.*?</p>', detail, re.S)
    assert '<option value="pl" lang="pl" selected>Polski</option>' in detail
    assert "Historia" in detail  # the "Timeline" heading
    assert "Zmień status" in detail
    queue = agent.get(reverse("desk:queue")).content.decode()
    assert _lang(queue) == "pl"
    assert "(P1 - Krytyczny)" in queue  # the priority badge's accessible label
    assert "P2 - Wysoki" in queue  # the priority filter

    portal_path = reverse("portal:detail", args=[critical_ticket.number])
    requester = web_as(requester_user)
    assert "P1 - Critical" in requester.get(portal_path).content.decode()
    _switch(requester, "pl", portal_path)
    portal = requester.get(portal_path).content.decode()
    assert _lang(portal) == "pl"
    assert "<dd>P1 - Krytyczny</dd>" in portal
    assert "Moje zgłoszenia" in portal

    # And back: the choice is the session's, not the browser's.
    _switch(requester, "en", portal_path)
    assert _lang(requester.get(portal_path, HTTP_ACCEPT_LANGUAGE="pl").content.decode()) == "en"


def test_the_browser_language_applies_until_the_user_chooses(critical_ticket, web_as, requester_user):
    requester = web_as(requester_user)
    path = reverse("portal:detail", args=[critical_ticket.number])
    assert "<dd>P1 - Krytyczny</dd>" in requester.get(path, HTTP_ACCEPT_LANGUAGE="pl-PL,pl;q=0.9").content.decode()
    assert "<dd>P1 - Critical</dd>" in requester.get(path, HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()


def test_an_unknown_language_changes_nothing(critical_ticket, web_as, agent_user):
    agent = web_as(agent_user)
    _switch(agent, "xx", reverse("desk:queue"))
    assert _lang(agent.get(reverse("desk:queue")).content.decode()) == "en"


def test_the_switcher_never_redirects_off_site(tenant, web_as, agent_user):
    response = _switch(web_as(agent_user), "pl", "https://evil.example.com/")
    assert response.status_code == 302
    assert "evil.example.com" not in response["Location"]
