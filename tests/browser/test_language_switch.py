"""The language switcher in a real browser: an agent whose browser speaks English picks
"Polski" in the header on a ticket page and comes back to the same page in Polish (with
"P1 - Krytyczny"); the choice holds on the next pages and on the portal; and back."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import alpha, sign_in  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def critical_ticket(alpha):  # noqa: F811
    def build():
        from apps.accounts.models import User
        from apps.tickets import services

        ticket = services.ticket_create(actor=User.objects.get(email="agent@alpha.test"),
                                        requester=User.objects.get(email="agent@alpha.test"),
                                        title="Core switch down", impact=1, urgency=1)
        return ticket.number, ticket.pk

    number, pk = alpha(build)
    yield number

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk=pk).delete()

    alpha(clean)


def test_clicking_the_switcher_changes_the_language_and_keeps_it(live_url, page_factory, critical_ticket):
    page = page_factory(locale="en-GB")
    base = live_url.format(slug="alpha")
    path = f"/desk/tickets/{critical_ticket}/"
    sign_in(page, base, next_path=path)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "P1 - Critical" in page.locator(".ticket-badges").inner_text()

    page.get_by_label("Language").select_option("pl")
    # The form posts to set_language, which redirects back to `next`: the same URL, so wait
    # for the navigation itself (a predicate polled across it could hit the old page).
    with page.expect_navigation(url=base + path):
        page.get_by_role("button", name="Change", exact=True).click()
    assert page.locator("html").get_attribute("lang") == "pl"
    assert page.url == base + path  # back on the same page
    assert "P1 - Krytyczny" in page.locator(".ticket-badges").inner_text()
    assert page.get_by_role("heading", name="Historia").is_visible()
    assert page.get_by_label("Język").input_value() == "pl"
    screenshot(page, "lang-desk-ticket-switched-pl")

    # The choice holds on the next pages, the portal included (the agent's own request).
    page.get_by_role("navigation", name="Główna").get_by_role("link", name="Kolejka").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/desk/$"))
    assert page.locator("h1").inner_text() == "Kolejka"
    page.goto(f"{base}/portal/tickets/{critical_ticket}/")
    assert page.locator("html").get_attribute("lang") == "pl"
    assert "P1 - Krytyczny" in page.locator(".facts").inner_text()
    screenshot(page, "lang-portal-detail-switched-pl")

    page.get_by_label("Język").select_option("en")
    with page.expect_navigation(url=f"{base}/portal/tickets/{critical_ticket}/"):
        page.get_by_role("button", name="Zmień", exact=True).click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "P1 - Critical" in page.locator(".facts").inner_text()
