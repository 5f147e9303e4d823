"""The Content-Security-Policy on the agent desk, in a real browser: using the queue (htmx
filters, the shortcut dialog), a ticket (preview, the suggestion fetched after load), the
Kanban board (drags that are refused and allowed, the reason dialog), the SLA dashboard
(Chart.js) and "New ticket" (the due-time preview) triggers no `securitypolicyviolation`."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import alpha, desk_tickets, sign_in  # noqa: F401  (fixtures)
from tests.browser.test_portal_csp import recording_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_desk_causes_no_csp_violation(live_url, page_factory, desk_tickets):  # noqa: F811
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    marker = desk_tickets["marker"]

    # Queue: an htmx refresh and the shortcut dialog (agent.js).
    sign_in(page, base, next_path=f"/desk/?q={marker}")
    page.get_by_label("P1 - Critical").check()
    page.wait_for_url(lambda url: "priority=P1" in url)
    page.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 1")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    page.get_by_role("dialog", name="Keyboard shortcuts").wait_for(state="visible")
    page.keyboard.press("Escape")

    # Ticket: the suggestion arrives by htmx after load; the composer's preview.
    page.goto(f"{base}/desk/tickets/{desk_tickets['projector']}/")
    page.locator("#assign-suggestion form").wait_for()
    page.get_by_label("Comment (Markdown)").fill("**bold** text")
    page.get_by_role("button", name="Preview").click()
    page.locator("#comment-preview strong", has_text="bold").wait_for()

    # Board: a refused drag, an allowed one, and the dialog of a move that needs a reason.
    page.goto(f"{base}/desk/board/?q={marker}")
    number = desk_tickets["projector"]
    page.locator(f"#card-{number}").drag_to(page.locator('.board-column[data-status="closed"]'))
    page.wait_for_function("() => document.querySelector('#board-status').textContent.includes('was not moved')")
    page.locator(f"#card-{number}").drag_to(page.locator('.board-column[data-status="open"]'))
    page.wait_for_function(f"() => document.querySelector('#card-{number}').dataset.status === 'open'")
    page.locator(f"#card-{number}").drag_to(page.locator('.board-column[data-status="cancelled"]'))
    page.locator("#move-dialog").wait_for(state="visible")
    page.locator("#move-dialog").get_by_role("button", name="Cancel").click()
    page.wait_for_function(f"() => document.querySelector('#card-{number}').closest('.board-column').dataset.status === 'open'")
    screenshot(page, "csp-desk-board")

    # SLA dashboard (Chart.js draws on a canvas) and "New ticket" (htmx due-time preview).
    page.goto(f"{base}/desk/dashboard/")
    page.wait_for_function("() => typeof window.Chart === 'function'")
    page.goto(f"{base}/desk/tickets/new/")
    page.get_by_label("Impact").select_option("1")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")

    assert page.evaluate("typeof window.htmx") == "object"
    assert violations == []

    # The recorder does see a violation: markup with a style attribute is blocked and reported.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<span style=\"color: red\">x</span>')")
    deadline = time.monotonic() + 5
    while not violations and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert violations, "the recorder saw nothing"
    assert violations[0].startswith("style-src"), violations
