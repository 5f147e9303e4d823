"""Editing a ticket in place on the desk, in a real browser (gunicorn + Chromium), with the
keyboard only: an agent tabs to each field's Edit button, edits category, impact and
urgency (and sees the new priority at once), tags and the assignee (a refused assignee
first: the error is next to the field, focus on it), Enter saving and Escape cancelling,
focus coming back to the Edit button each time, no CSP violation, axe clean. The page
in English and Polish: test-artifacts/screenshots/desk-edit-*.png.

Layout: a title without spaces (200 characters, the most a title can have) wraps; at 1280 px the queue, the ticket page
and the board do not scroll sideways.

Tickets, a category and tags are made through the services in tenant alpha's committed
schema and deleted afterwards."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import alpha, expected, sign_in  # noqa: F401  (fixtures)
from tests.browser.test_portal_csp import recording_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# + a 6-character marker: 200 characters without a space, the longest title there can be
# (WARDEN_TICKETS_TITLE_MAX_CHARS and the column's varchar(200)).
LONG_TITLE = "W" * 194
PRIORITIES = ("P1", "P2", "P3", "P4")


@pytest.fixture
def editable(alpha):  # noqa: F811
    """A ticket of the Desk team (medium/medium: P3, nobody assigned), a category and two
    tags of this run, and a ticket with a 200-character title without spaces."""
    marker = uuid.uuid4().hex[:6]

    def build():
        from apps.accounts.models import Team, User
        from apps.sla import services as sla_services
        from apps.sla.validation import CalendarInput, PolicyInput
        from apps.tickets import services

        admin = User.objects.get(email="admin@alpha.test")
        desk = Team.objects.get(name="Desk")
        # Targets by priority, so that the SLA panel shows what an impact/urgency change does.
        with (
            mock.patch("apps.sla.services.configuration._enqueue_recompute"),
            mock.patch("apps.sla.services.configuration._enqueue_resync"),
        ):
            calendar = sla_services.sla_calendar_save(actor=admin, data=CalendarInput(
                name=f"Edit 24x7 {marker}", timezone="UTC", always_open=True, shifts=[], holidays=[]))
            policy = sla_services.sla_policy_save(actor=admin, data=PolicyInput(
                name=f"Edit targets {marker}", calendar=calendar, order=8000 + int(marker, 16) % 1000, active=True,
                targets={p: {"first_response": 15 * n, "resolution": 60 * n} for n, p in enumerate(PRIORITIES, 1)},
                categories=[], teams=[desk], pause_statuses=["pending"], warning_thresholds=[50, 75, 90],
                escalations=[]))
        agent = User.objects.get(email="agent@alpha.test")
        requester = User.objects.get(email="requester@alpha.test")
        category = services.category_create(actor=admin, name=f"Network {marker}")
        tags = [services.tag_create(actor=admin, name=f"{name}-{marker}") for name in ("printer", "vip")]
        ticket = services.ticket_create(actor=agent, requester=requester, title=f"VPN drops every hour {marker}",
                                        description="Since **Monday**.", team=desk)
        long = services.ticket_create(actor=agent, requester=requester, title=LONG_TITLE + marker,
                                      description="A pasted identifier as the title.")
        return {"number": ticket.number, "long": long.number, "category": category.name,
                "pks": ([ticket.pk, long.pk], category.pk, [t.pk for t in tags], policy.pk, calendar.pk)}

    made = alpha(build)
    made["marker"] = marker
    yield made

    def clean():
        from apps.sla.models import SlaCalendar, SlaPolicy
        from apps.tickets.models import Category, Tag, Ticket

        tickets, category, tags, policy, calendar = made["pks"]
        Ticket.objects.filter(pk__in=tickets).delete()
        Category.objects.filter(pk=category).delete()
        Tag.objects.filter(pk__in=tags).delete()
        SlaPolicy.objects.filter(pk=policy).delete()
        SlaCalendar.objects.filter(pk=calendar).delete()

    alpha(clean)


def active_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def tab_to(page, element_id: str, *, backwards: bool = False, limit: int = 120) -> None:
    """Press Tab (Shift+Tab) until `element_id` has the focus: reachable by keyboard."""
    for _ in range(limit):
        if active_id(page) == element_id:
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"#{element_id} not reached with the keyboard")


def choose(page, text: str, *, limit: int = 60) -> None:
    """In the focused (closed) select, move with the arrow keys to the option containing `text`."""
    for key in ("Home", *["ArrowDown"] * limit):
        if key == "Home":
            page.keyboard.press("Home")
        if text in page.evaluate("document.activeElement.selectedOptions[0].text"):
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no option with {text!r}")


def wait_saved(page, key: str, message: str) -> None:
    page.wait_for_function(f"() => !document.querySelector('#edit-{key}-form')")
    page.wait_for_function("(m) => document.querySelector('#live-status').textContent === m", arg=message)
    assert active_id(page) == f"edit-{key}-button", "focus returns to the Edit button"


def test_agent_edits_a_ticket_in_place_with_the_keyboard(live_url, page_factory, editable):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    number, marker = editable["number"], editable["marker"]
    sign_in(page, base, next_path=f"/desk/tickets/{number}/")
    assert "P3 - Moderate" in page.locator(".ticket-badges").inner_text()
    resolution = page.locator('#sla [data-metric="resolution"]')
    assert "Target: 3 h 00 min of business time" in resolution.inner_text()  # P3

    # Category: Tab to its Edit button, Enter opens the editor with the focus in the select.
    tab_to(page, "edit-category-button")
    page.keyboard.press("Enter")
    page.locator("#edit-category-form").wait_for()
    page.wait_for_function("() => document.activeElement.id === 'edit-category-category'")
    choose(page, editable["category"])
    screenshot(page, "desk-edit-open-en-GB")
    page.keyboard.press("Enter")  # Enter saves (from a select too)
    wait_saved(page, "category", "Category saved.")
    assert editable["category"] in page.locator("#value-category").inner_text()

    # Impact and urgency: the next Tab stop; the priority follows at once, in the header too.
    page.keyboard.press("Tab")
    assert active_id(page) == "edit-priority-button"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-priority-impact'")
    choose(page, "High")
    page.keyboard.press("Tab")
    assert active_id(page) == "edit-priority-urgency"
    choose(page, "High")
    page.keyboard.press("Enter")
    wait_saved(page, "priority", "Impact and urgency saved: the priority is now P1 - Critical.")
    assert "P1 - Critical" in page.locator(".ticket-badges").inner_text()
    assert "High / High P1 - Critical" in page.locator("#value-priority").inner_text()
    assert "Target: 1 h 00 min of business time" in resolution.inner_text()  # the SLA panel follows: P1

    # Escape cancels: nothing is sent, the value stays, focus goes back to the button.
    page.keyboard.press("Tab")
    assert active_id(page) == "edit-tags-button"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-tags-tags'")
    page.keyboard.type("something else")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#edit-tags-form')")
    assert active_id(page) == "edit-tags-button"
    assert "No tags" in page.locator("#value-tags").inner_text()

    # Tags: typed, Enter saves.
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-tags-tags'")
    page.keyboard.type(f"printer-{marker}, vip-{marker}")
    page.keyboard.press("Enter")
    wait_saved(page, "tags", "Tags saved.")
    assert page.locator("#value-tags .tag").all_inner_texts() == [f"printer-{marker}", f"vip-{marker}"]

    # Team and assignee: agent2 is not in Desk; the refusal is next to the assignee, focus on it.
    tab_to(page, "edit-assignment-button", backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-assignment-team'")
    page.keyboard.press("Tab")
    choose(page, "agent2@alpha.test")
    page.keyboard.press("Enter")
    error = page.locator("#edit-assignment-assignee_error")
    error.wait_for()
    assert "Not a member of the team Desk" in error.inner_text()
    page.wait_for_function("() => document.activeElement.id === 'edit-assignment-assignee'")
    assert page.locator("#edit-assignment-assignee").get_attribute("aria-invalid") == "true"
    assert "agent2@alpha.test" in page.evaluate("document.activeElement.selectedOptions[0].text")  # kept
    screenshot(page, "desk-edit-refused-en-GB")
    choose(page, "agent@alpha.test")
    page.keyboard.press("Enter")
    wait_saved(page, "assignment", "Team and assignee saved.")
    assert page.locator("#value-assignment").inner_text().startswith("Desk / agent@alpha.test")

    # The timeline has an entry for each change, saying who made it.
    timeline = page.locator("#timeline").inner_text()
    assert f"Category: No category → {editable['category']}" in timeline
    assert "Priority: P3 - Moderate → P1 - Critical" in timeline
    assert f"Tags added: printer-{marker} vip-{marker}" in timeline
    assert "agent@alpha.test assigned the ticket to agent@alpha.test" in timeline
    assert "user:" not in timeline

    # The SLA panel was swapped in with the rest; a reload shows the same page.
    assert page.locator("#sla").count() == 1
    assert_no_serious_violations(page, context="desk ticket after in-place edits (en)")
    screenshot(page, "desk-edit-done-en-GB")
    page.reload()
    assert "P1 - Critical" in page.locator(".ticket-badges").inner_text()
    assert violations == []


def test_the_edited_ticket_page_in_polish(live_url, page_factory, editable):
    page, violations = recording_page(page_factory, "pl-PL")
    base = live_url.format(slug="alpha")
    sign_in(page, base, next_path=f"/desk/tickets/{editable['number']}/")
    assert page.locator("html").get_attribute("lang") == "pl"
    tab_to(page, "edit-priority-button")
    assert page.locator("#edit-priority-button").get_attribute("aria-label") == "Edytuj wpływ i pilność"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-priority-impact'")
    choose(page, expected("High", "pl"))
    page.keyboard.press("Enter")
    priority = expected("P2 - High", "pl")
    message = expected("Impact and urgency saved: the priority is now %(priority)s.", "pl") % {"priority": priority}
    wait_saved(page, "priority", message)
    assert priority in page.locator(".ticket-badges").inner_text()
    # An editor left open, with a refusal in Polish next to the field (an unknown tag).
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'edit-tags-tags'")
    page.keyboard.type("no-such-tag")
    page.keyboard.press("Enter")
    page.locator("#edit-tags-tags_error").wait_for()
    assert expected("Enter saves, Escape cancels.", "pl") in page.locator("#edit-tags-form").inner_text()
    assert expected("Impact", "pl") in page.locator("#timeline").inner_text()
    assert_no_serious_violations(page, context="desk ticket after in-place edits (pl)")
    screenshot(page, "desk-edit-done-pl-PL")
    assert violations == []


@pytest.mark.parametrize("width", [1280, 375])
def test_a_long_title_without_spaces_wraps_instead_of_widening_the_page(live_url, page_factory, editable, width):
    page = page_factory(width=width, height=900 if width > 400 else 740)
    base = live_url.format(slug="alpha")
    number = editable["long"]
    sign_in(page, base, next_path=f"/desk/?sort=-number&per_page=25&q={editable['marker']}")
    pages = {
        "queue": "/desk/?sort=-number&per_page=25",
        "detail": f"/desk/tickets/{number}/",
        "board": "/desk/board/",
    }
    for name, path in pages.items():
        page.goto(base + path)
        if name == "queue":
            assert page.locator(f"#row-{number}").count() == 1
        elif name == "board":
            card = page.locator(f"#card-{number}")
            assert card.count() == 1
            assert card.locator(".sla-badge").count() == 1  # cards carry the SLA badge, as the queue does
        width_used = page.evaluate("document.documentElement.scrollWidth")
        assert width_used <= width, f"{name} is {width_used}px wide at {width}px"
        screenshot(page, f"desk-long-title-{name}-{width}px")
