"""A requester's reply on a resolved request reopens it, and the agent finds it open in the
desk's queue again (gunicorn + Chromium, English and Polish, nothing mocked):

1. a resolved ticket of the requester, in Desk's queue, assigned to agent@alpha;
2. the requester opens it in the portal, is told that replying reopens it, replies, and
   sees the reply, the "reopened" message and the status Open (no resolution box);
3. the agent filters the queue by status Open and the ticket's marker and finds it there.

Screenshots: test-artifacts/screenshots/reply-reopens-*.png.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import row_numbers
from tests.browser.test_agent_desk import sign_in as desk_sign_in
from tests.browser.test_portal_flows import REQUESTERS, TEXT
from tests.browser.test_portal_flows import sign_in as portal_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUTCOME = {
    "en-GB": {"hint": "Replying reopens this request for the team.",
              "reopened": "Your reply reopened this request. The team will look at it again.",
              "resolved": "The team marked this request as resolved"},
    "pl-PL": {"hint": "Odpowiedź ponownie otworzy to zgłoszenie dla zespołu.",
              "reopened": "Twoja odpowiedź ponownie otworzyła to zgłoszenie. Zespół znów się nim zajmie.",
              "resolved": None},
}


@pytest.fixture
def resolved_in_queue(alpha):
    """`resolved_in_queue(email)`: (number, marker) of a resolved ticket of that requester,
    in Desk's queue and assigned to agent@alpha; deleted afterwards."""
    made: list[int] = []

    def make(email: str):
        def build():
            from apps.accounts.models import Team, User
            from apps.tickets import services

            requester = User.objects.get(email=email)
            agent = User.objects.get(email="agent@alpha.test")
            marker = uuid.uuid4().hex[:8]
            ticket = services.ticket_create(actor=requester, title=f"Scanner saves blank pages {marker}")
            services.ticket_assign(actor=agent, ticket=ticket, team=Team.objects.get(name="Desk"), assignee=agent)
            services.ticket_transition(actor=agent, ticket=ticket, to="resolved", resolution_code="fixed",
                                       resolution_note="Cleaned the **glass**.")
            made.append(ticket.pk)
            return ticket.number, marker

        return alpha(build)

    yield make

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=made).delete()

    alpha(clean)


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_a_reply_on_a_resolved_request_reopens_it_into_the_agents_queue(live_url, page_factory, resolved_in_queue,
                                                                        alpha, locale):
    base = live_url.format(slug="alpha")
    words, outcome = TEXT[locale], OUTCOME[locale]
    number, marker = resolved_in_queue(REQUESTERS[locale])
    reply = f"Still blank on every second page ({marker})."

    # 2. The requester replies in the portal and sees the request reopened.
    requester = page_factory(locale=locale)
    portal_sign_in(requester, base, REQUESTERS[locale], f"/portal/tickets/{number}/")
    if outcome["resolved"]:
        assert outcome["resolved"] in requester.locator(".resolution").inner_text()
    assert requester.locator("#reply-hint").inner_text() == outcome["hint"]
    screenshot(requester, f"reply-reopens-1-resolved-{locale}")
    requester.get_by_label(words["reply"]).fill(reply)
    with requester.expect_navigation(url=f"{base}/portal/tickets/{number}/"):  # htmx: HX-Redirect to the page
        requester.get_by_role("button", name=words["send_reply"]).click()
    assert outcome["reopened"] in requester.locator(".messages").inner_text()
    assert requester.locator("#ticket-status").inner_text() == words["open"]
    assert reply in requester.locator("#conversation").inner_text()
    assert requester.locator(".resolution").count() == 0
    assert requester.locator("#reply-hint").count() == 0
    screenshot(requester, f"reply-reopens-2-reopened-{locale}")

    def stored():
        from apps.tickets.models import Ticket

        ticket = Ticket.objects.get(number=number)
        return ticket.status, ticket.reopen_count, ticket.assignee.email

    assert alpha(stored) == ("open", 1, "agent@alpha.test")

    # 3. The agent finds it in the queue, open again.
    agent = page_factory(locale="en-GB")
    desk_sign_in(agent, base)
    agent.get_by_label("Open", exact=True).check()
    agent.wait_for_url(re.compile(r"status=open"))
    agent.get_by_label("Search").fill(marker)
    agent.wait_for_url(re.compile(rf"q={marker}"))
    agent.wait_for_function("() => !document.querySelector('#queue-results.htmx-request')")
    agent.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 1")
    assert row_numbers(agent) == [number]
    assert "Open" in agent.locator(f"#row-{number}").inner_text()
    screenshot(agent, f"reply-reopens-3-desk-queue-{locale}")
