"""The queue offers every filter of `TicketFilterSet` (apps/tickets/filters.py), not only
some: requester (by email) and the created-at range too, in the page, in its htmx
refresh, on the board, and in saved views."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.desk import forms as desk_forms
from apps.desk import saved_views
from apps.tickets import filters as ticket_filters
from apps.tickets import services
from apps.tickets.models import Ticket

HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-results"}


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-row id="row-(\d+)"', html)]


@pytest.fixture
def make_ticket(tenant, agent_user):
    def make(title: str, requester, *, days_ago: int = 0):
        created = timezone.now() - timedelta(days=days_ago)
        # The service stamps created_at with timezone.now(): read it `days_ago` earlier.
        with mock.patch("django.utils.timezone.now", return_value=created):
            return services.ticket_create(actor=agent_user, requester=requester, title=title)

    return make


@pytest.fixture
def spread(make_ticket, requester_user, requester2_user):
    """Tickets of two requesters created 10, 5 and 0 days ago."""
    return {
        "mine_old": make_ticket("Old printer", requester_user, days_ago=10),
        "mine_mid": make_ticket("Mid printer", requester_user, days_ago=5),
        "mine_new": make_ticket("New printer", requester_user),
        "theirs_mid": make_ticket("Their printer", requester2_user, days_ago=5),
    }


def test_every_filter_of_the_filterset_is_offered_by_the_queue_form():
    offered = set(desk_forms.QueueFilterForm.FILTER_KEYS)
    # `ordering` is the API's sort; the queue sorts with its own keyset pagination (queue.py).
    assert set(ticket_filters.TicketFilterSet.base_filters) - {"ordering"} == offered
    assert offered <= set(saved_views.QUERY_KEYS)


def test_the_queue_filters_by_the_requesters_email(spread, web_as, agent_user, requester_user):
    browser = web_as(agent_user)
    numbers = {key: t.number for key, t in spread.items()}
    for email in (requester_user.email, requester_user.email.upper()):
        html = browser.get(reverse("desk:queue"), {"requester": email, "sort": "number"}).content.decode()
        assert rows(html) == [numbers["mine_old"], numbers["mine_mid"], numbers["mine_new"]]
        assert f'value="{email}"' in html  # the form keeps what was typed
    fragment = browser.get(reverse("desk:queue"), {"requester": "requester2@alpha.test"}, **HTMX_RESULTS)
    assert rows(fragment.content.decode()) == [numbers["theirs_mid"]]
    assert "<html" not in fragment.content.decode()


def test_an_unknown_requester_is_a_field_error_and_matches_nothing(spread, web_as, agent_user):
    response = web_as(agent_user).get(reverse("desk:queue"), {"requester": "nobody@alpha.test"})
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == []
    assert re.search(r'id="id_requester_error"[^>]*>\s*<li>Nobody in this organisation has this email', html)
    assert "No ticket matches these filters." in html
    malformed = web_as(agent_user).get(reverse("desk:queue"), {"requester": "not an email"}).content.decode()
    assert 'id="id_requester_error"' in malformed


def test_a_requester_of_another_tenant_is_unknown_here(spread, web_as, agent_user):
    html = web_as(agent_user).get(reverse("desk:queue"), {"requester": "requester@beta.test"}).content.decode()
    assert rows(html) == []
    assert 'id="id_requester_error"' in html


def test_the_queue_filters_by_creation_days(spread, web_as, agent_user):
    browser = web_as(agent_user)
    numbers = {key: t.number for key, t in spread.items()}
    today = timezone.localdate()
    six_days_ago = (today - timedelta(days=6)).isoformat()
    four_days_ago = (today - timedelta(days=4)).isoformat()

    html = browser.get(reverse("desk:queue"), {"created_after": six_days_ago, "created_before": four_days_ago,
                                                "sort": "number"}).content.decode()
    assert rows(html) == [numbers["mine_mid"], numbers["theirs_mid"]]
    assert f'type="date" name="created_after" value="{six_days_ago}"' in html

    # "from" includes its day, "before" does not (the API's gte / lt).
    html = browser.get(reverse("desk:queue"), {"created_after": today.isoformat(), "sort": "number"}).content.decode()
    assert numbers["mine_new"] in rows(html)
    assert numbers["mine_mid"] not in rows(html)
    html = browser.get(reverse("desk:queue"), {"created_before": today.isoformat(), "sort": "number"}).content.decode()
    assert numbers["mine_new"] not in rows(html)
    assert {numbers["mine_old"], numbers["mine_mid"]} <= set(rows(html))


def test_three_new_filters_together_with_text(spread, web_as, agent_user, requester_user):
    today = timezone.localdate()
    html = web_as(agent_user).get(reverse("desk:queue"), {
        "requester": requester_user.email, "created_after": (today - timedelta(days=7)).isoformat(),
        "created_before": (today + timedelta(days=1)).isoformat(), "q": "printer", "sort": "number",
    }).content.decode()
    assert rows(html) == [spread["mine_mid"].number, spread["mine_new"].number]


def test_bad_days_are_field_errors_and_the_page_still_answers(spread, web_as, agent_user):
    browser = web_as(agent_user)
    response = browser.get(reverse("desk:queue"), {"created_after": "yesterday"})
    assert response.status_code == 200
    assert 'id="id_created_after_error"' in response.content.decode()
    assert len(rows(response.content.decode())) == Ticket.objects.count()  # ignored, as other bad values are
    today = timezone.localdate().isoformat()
    reversed_range = browser.get(reverse("desk:queue"), {"created_after": today, "created_before": today})
    assert re.search(r'id="id_created_before_error"[^>]*>\s*<li>Choose a day after', reversed_range.content.decode())


def test_days_start_at_midnight_in_the_current_time_zone(settings):
    settings.TIME_ZONE = "Europe/Warsaw"
    with timezone.override("Europe/Warsaw"):
        form = desk_forms.QueueFilterForm({"created_after": "2026-03-02"})
        assert form.is_valid(), form.errors
        value = form.selector_filters()["created_after"]
    assert datetime.fromisoformat(value) == datetime.fromisoformat("2026-03-02T00:00:00+01:00")


def test_the_board_honours_the_new_filters_and_links_to_the_queue_with_them(spread, web_as, agent_user,
                                                                            requester_user, monkeypatch):
    from apps.desk import views

    monkeypatch.setattr(views, "BOARD_COLUMN_LIMIT", 1)  # so the "new" column has a "20+"-style link
    html = web_as(agent_user).get(reverse("desk:board"), {"requester": requester_user.email}).content.decode()
    cards = [int(n) for n in re.findall(r'id="card-(\d+)"', html)]
    assert spread["theirs_mid"].number not in cards
    assert cards  # the requester's newest ticket
    link = re.search(r'<p class="more"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "requester=requester%40alpha.test" in link
    assert "status=new" in link


def test_saved_views_keep_the_new_filters(spread, web_as, agent_user, requester_user):
    from apps.tickets.models import SavedView

    browser = web_as(agent_user)
    query = f"requester={requester_user.email}&created_after=2026-01-01&created_before=2026-02-01&status=new"
    browser.post(reverse("desk:saved-view-create"), {"name": "Requester's January", "scope": "personal",
                                                     "query": query})
    view = SavedView.objects.get(name="Requester's January")
    assert view.query == {"status": ["new"], "requester": requester_user.email, "created_after": "2026-01-01",
                          "created_before": "2026-02-01"}
    html = browser.get(reverse("desk:queue")).content.decode()
    link = re.search(r'<a href="(/desk/\?[^"]+)">Requester&#x27;s January</a>', html).group(1)
    assert "requester=requester%40alpha.test" in link
    assert "created_after=2026-01-01" in link


def test_the_new_filters_speak_polish(tenant, web_as, agent_user):
    html = web_as(agent_user).get(reverse("desk:queue"), {"requester": "nobody@alpha.test"},
                                  HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert '<label for="id_created_after">Utworzone od</label>' in html
    assert '<label for="id_created_before">Utworzone przed</label>' in html
    assert "Nikt w tej organizacji nie ma tego adresu e-mail." in html
