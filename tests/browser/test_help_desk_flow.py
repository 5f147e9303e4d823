"""The help desk's whole story in one browser scenario, on one ticket, across two people:

1. a requester (in Polish) submits a request with an attachment in the portal;
2. an agent (in English) finds THAT ticket in the desk's queue with the filters
   (requester, status, text), sees the attachment, writes an internal note and a public
   reply in the composer, and resolves it with a resolution code and note;
3. the requester's page shows the public reply and the resolution note, never the
   internal note; the requester reopens the request with a reason;
4. the agent sees the reopen and its reason in the ticket's timeline.

gunicorn + Chromium, nothing mocked: every step goes through the real views and services.
Screenshots of every page: test-artifacts/screenshots/flow-*.png.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import row_numbers
from tests.browser.test_agent_desk import sign_in as desk_sign_in
from tests.browser.test_portal_flows import TEXT
from tests.browser.test_portal_flows import sign_in as portal_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REQUESTER = "requester@alpha.test"
AGENT = "agent@alpha.test"
PL = TEXT["pl-PL"]


@pytest.fixture
def created_numbers(alpha):
    """Numbers of the tickets the scenario creates; deleted afterwards."""
    numbers: list[int] = []
    yield numbers

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(number__in=numbers).delete()

    alpha(clean)


def test_a_request_goes_from_the_portal_through_the_desk_and_back(live_url, page_factory, alpha, created_numbers):
    base = live_url.format(slug="alpha")
    marker = uuid.uuid4().hex[:8]
    title = f"Wi-Fi drops in the meeting room {marker}"
    internal_text = f"Vendor case VX-{marker} opened; firmware bug, keep it quiet."
    public_text = f"We replaced the access point in room 2 ({marker}). Please try again."
    resolution_text = f"New access point installed ({marker})."
    reopen_reason = f"It still drops every ten minutes ({marker})."

    # 1. The requester submits the request with an attachment (portal, Polish).
    requester = page_factory(locale="pl-PL")
    portal_sign_in(requester, base, REQUESTER, "/portal/new/")
    assert requester.locator("html").get_attribute("lang") == "pl"
    requester.get_by_label(PL["summary"]).fill(title)
    requester.get_by_label(PL["details"]).fill("Since the move to the **new building**.")
    requester.get_by_label(PL["impact"]).check()
    requester.get_by_label(PL["urgency"]).check()
    requester.get_by_label(PL["files"]).set_input_files(
        {"name": f"wifi-log-{marker}.txt", "mimeType": "text/plain", "buffer": b"10:02 wlan0: deauthenticated\n" * 200})
    screenshot(requester, "flow-01-portal-new")
    requester.get_by_role("button", name=PL["send"]).click()
    requester.wait_for_url(re.compile(r"/portal/tickets/\d+/$"))
    number = int(re.search(r"/portal/tickets/(\d+)/$", requester.url).group(1))
    created_numbers.append(number)
    assert title in requester.locator("h1").inner_text()
    assert requester.get_by_role("link", name=f"wifi-log-{marker}.txt").is_visible()
    screenshot(requester, "flow-02-portal-submitted")

    # 2. The agent finds THAT ticket with the queue's filters (English desk).
    agent = page_factory(locale="en-GB")
    desk_sign_in(agent, base, AGENT)
    agent.get_by_label("Requester's email").fill(REQUESTER)
    agent.get_by_label("Requester's email").press("Tab")  # "change": htmx refreshes the table
    agent.wait_for_url(re.compile(r"requester=requester%40alpha\.test"))
    agent.get_by_label("New", exact=True).check()
    agent.wait_for_url(re.compile(r"status=new"))
    agent.get_by_label("Search").fill(marker)
    agent.wait_for_url(re.compile(rf"q={marker}"))
    agent.wait_for_function("() => !document.querySelector('#queue-results.htmx-request')")
    agent.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 1")
    assert row_numbers(agent) == [number]
    screenshot(agent, "flow-03-desk-queue-filtered")
    agent.get_by_role("link", name=title).click()
    agent.wait_for_url(f"{base}/desk/tickets/{number}/")
    timeline = agent.locator(".timeline")
    assert f"wifi-log-{marker}.txt" in timeline.inner_text()  # the requester's file is on the timeline
    assert agent.get_by_role("link", name=f"wifi-log-{marker}.txt").is_visible()

    # An internal note, then at once a public reply, through the composer (the comment
    # cooldown holds back requesters only).
    agent.get_by_label("Internal note (agents only)").check()
    agent.get_by_label("Comment (Markdown)").fill(internal_text)
    agent.get_by_role("button", name="Add comment").click()
    agent.wait_for_url(re.compile(rf"/desk/tickets/{number}/#comment-\d+$"))
    note = agent.locator("li.tl-comment.is-internal", has_text=f"VX-{marker}")
    assert note.count() == 1
    assert "internal note" in note.inner_text().lower()

    agent.get_by_label("Public reply (the requester sees it)").check()
    agent.get_by_label("Comment (Markdown)").fill(public_text)
    note_url = agent.url
    agent.get_by_role("button", name="Add comment").click()
    agent.wait_for_url(lambda url: url != note_url and re.search(rf"/desk/tickets/{number}/#comment-\d+$", url))
    reply = agent.locator("li.tl-comment:not(.is-internal)", has_text=public_text)
    assert "public reply" in reply.inner_text().lower()
    screenshot(agent, "flow-04-desk-note-and-reply")

    # Resolved with a resolution code and note.
    agent.get_by_label("New status").select_option("resolved")
    agent.get_by_label("Resolution", exact=True).select_option("fixed")
    agent.get_by_label("Resolution note").fill(resolution_text)
    agent.get_by_role("button", name="Change status").click()
    agent.wait_for_url(f"{base}/desk/tickets/{number}/#main")
    assert "Resolved" in agent.locator(".ticket-badges").inner_text()
    assert f"Resolution: Fixed: {resolution_text}" in agent.locator(".timeline").inner_text()
    screenshot(agent, "flow-05-desk-resolved")

    # 3. The requester sees the public reply and the resolution, never the internal note.
    requester.goto(f"{base}/portal/tickets/{number}/")
    assert public_text in requester.locator("#conversation").inner_text()
    assert resolution_text in requester.locator(".resolution").inner_text()
    html = requester.content()
    assert f"VX-{marker}" not in html
    assert "firmware bug" not in html
    screenshot(requester, "flow-06-portal-resolved")

    requester.get_by_text(PL["reopen_open"]).click()
    requester.get_by_label(PL["reason"]).fill(reopen_reason)
    with requester.expect_navigation(url=f"{base}/portal/tickets/{number}/"):  # POST, then back to the same URL
        requester.get_by_role("button", name=PL["reopen"]).click()
    assert PL["reopened"] in requester.locator(".messages").inner_text()
    assert requester.locator("#ticket-status").inner_text() == PL["open"]
    screenshot(requester, "flow-07-portal-reopened")

    # 4. The agent sees the reopen and why.
    agent.goto(f"{base}/desk/tickets/{number}/")
    text = agent.locator(".timeline").inner_text()
    assert f"{REQUESTER} changed the status: Resolved → Open" in text
    assert f"Reason: {reopen_reason}" in text
    # The reason is on the reopen entry itself, after the resolution.
    assert text.index(f"Resolution: Fixed: {resolution_text}") < text.index(f"Reason: {reopen_reason}")
    assert "Open" in agent.locator(".ticket-badges").inner_text()
    screenshot(agent, "flow-08-desk-reopen-reason")
