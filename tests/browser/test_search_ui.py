"""Search in a real browser (gunicorn + Chromium): an agent types into the queue's search
box and gets the tickets most relevant first with the matched words marked and a snippet of
an internal note; a requester searches "My requests" and never sees that note. axe on both;
screenshots test-artifacts/screenshots/search-*.png (English and Polish, 1280 and 375 px).

Tickets are made through the services in tenant alpha's committed schema and deleted
afterwards."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def search_tickets(alpha, settings):
    """Three committed tickets sharing a made-up word (one per run), deleted afterwards."""
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    word = "zq" + uuid.uuid4().hex[:6]

    def build():
        from apps.accounts.models import User
        from apps.tickets import services

        agent = User.objects.get(email="agent2@alpha.test")
        requester = User.objects.get(email="requester@alpha.test")

        def make(title, description):
            return services.ticket_create(actor=requester, requester=requester, title=title, description=description)

        made = {
            "title": make(f"Drukarka {word} nie drukuje", "Pokój 12, drugie piętro."),
            "comment": make("Printer queue stuck", "Jobs wait forever."),
            "internal": make("Scanner offline", "Since the morning."),
        }
        services.comment_add(actor=agent, ticket=made["comment"], body=f"The {word}s driver was reinstalled.")
        services.comment_add(actor=agent, ticket=made["internal"], body=f"Vendor case {word} opened, do not share.",
                             internal=True)
        return {key: ticket.number for key, ticket in made.items()}, [t.pk for t in made.values()]

    numbers, pks = alpha(build)
    yield word, numbers

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=pks).delete()

    alpha(clean)


def _rows(page) -> list[int]:
    return [int(n) for n in page.eval_on_selector_all("tr[data-row]", "rows => rows.map(r => r.id.slice(4))")]


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_agent_searches_the_queue(live_url, page_factory, search_tickets, locale):
    word, numbers = search_tickets
    base = live_url.format(slug="alpha")
    for width in (1280, 375):
        page = page_factory(locale=locale, width=width, height=900 if width > 400 else 740)
        sign_in(page, base)
        if width > 400:
            # Typing searches as you go (htmx); the last word is a prefix.
            page.locator("#id_q").fill(word[:-2])
            page.wait_for_url(re.compile(r"q=" + word[:-2]))
            page.locator("#queue-results mark").first.wait_for()
            page.wait_for_function("() => !document.querySelector('#queue-results.htmx-request')")
        else:  # the filters are folded away on a narrow screen: a link with the search
            page.goto(f"{base}/desk/?q={word[:-2]}")
        assert _rows(page)[0] == numbers["title"]  # a title match first
        assert sorted(_rows(page)) == sorted(numbers.values())
        marks = page.eval_on_selector_all("#queue-results mark", "ms => ms.map(m => m.textContent)")
        assert word in marks
        assert f"{word}s" in marks  # another form, in the comment's snippet
        internal = page.locator(f"#row-{numbers['internal']} .search-snippet.is-internal")
        assert word in internal.inner_text()
        assert page.locator(".queue-order").count() == 1
        assert_no_serious_violations(page, context=f"queue search {locale} {width}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the searched queue scrolls sideways by {overflow}px at {width}px"
        screenshot(page, f"search-desk-{locale[:2]}-{width}")


def test_requester_searches_my_requests(live_url, page_factory, search_tickets):
    word, numbers = search_tickets
    base = live_url.format(slug="alpha")
    page = page_factory()
    sign_in(page, base, email="requester@alpha.test", next_path="/portal/")
    page.get_by_label("Search my requests").fill(word)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"q=" + word))
    titles = page.locator(".ticket-list .ticket-title").all_inner_texts()
    assert len(titles) == 2  # the internal note's ticket is not found
    assert f"#{numbers['title']}" in titles[0]
    assert "do not share" not in page.content()
    assert page.locator(".ticket-list mark").count() >= 2
    assert_no_serious_violations(page, context="portal search")
    screenshot(page, "search-portal-en-1280")
