"""The agent desk in a real browser (gunicorn + Chromium): find a ticket with the filters,
write an internal note, resolve it; a Kanban drag the workflow forbids is refused and the
card goes back; j/k/Enter; axe on every page; screenshots of every page in English and
Polish at 1280 and 375 px (test-artifacts/screenshots/desk-*.png).

Tickets are made through the services in tenant alpha's committed schema and deleted
afterwards."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest
from django.utils import translation

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-battery-staple"
LOCALES = ["en-GB", "pl-PL"]


def sign_in(page, base: str, email: str = "agent@alpha.test", next_path: str = "/desk/") -> None:
    page.goto(f"{base}/accounts/login/?next={quote(next_path)}")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + next_path.split("?")[0])))


def expected(text: str, locale: str) -> str:
    """`text` as the server will show it in `locale` (Polish once the catalogue has it)."""
    with translation.override(locale[:2]):
        return str(translation.gettext(text))


@pytest.fixture
def alpha(alpha, settings):
    """The shared `alpha`, with the comment cooldown off in this process (not the live server)."""
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    return alpha


@pytest.fixture
def desk_tickets(alpha):
    """A handful of committed tickets in alpha (one marker per test run); deleted afterwards."""
    marker = uuid.uuid4().hex[:6]

    def build():
        from apps.accounts.models import Team, User
        from apps.tickets import services

        agent = User.objects.get(email="agent@alpha.test")
        # agent2 writes the fixture's comments: the live server's comment cooldown is per
        # author, and agent@ comments in the browser a moment later.
        colleague = User.objects.get(email="agent2@alpha.test")
        requester = User.objects.get(email="requester@alpha.test")
        desk = Team.objects.get(name="Desk")

        def make(title, **fields):
            return services.ticket_create(actor=agent, requester=requester, title=f"{title} {marker}",
                                          description="Reported by phone. **Room 4**.", **fields)

        made = {
            "projector": make("Projector in room 4 flickers", team=desk, impact=1, urgency=1),
            "vpn": make("VPN drops every hour", team=desk, assignee=agent),
            "laptop": make("New laptop for Anna", urgency=3),
            "printer": make("Printer on floor 2 is jammed", team=desk),
        }
        services.comment_add(actor=colleague, ticket=made["vpn"], body="Asked for the **client log**.")
        services.comment_add(actor=colleague, ticket=made["vpn"], body="Looks like the *ISP* again.", internal=True)
        services.ticket_transition(actor=agent, ticket=made["printer"], to="pending")
        return {key: ticket.number for key, ticket in made.items()}, [t.pk for t in made.values()]

    numbers, pks = alpha(build)
    numbers["marker"] = marker
    yield numbers

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=pks).delete()

    alpha(clean)


def row_numbers(page) -> list[int]:
    return [int(n) for n in page.eval_on_selector_all("tr[data-row]", "rows => rows.map(r => r.id.slice(4))")]


def test_agent_finds_a_ticket_comments_internally_and_resolves_it(live_url, page_factory, desk_tickets):
    page = page_factory()
    base = live_url.format(slug="alpha")
    sign_in(page, base)
    marker, number = desk_tickets["marker"], desk_tickets["projector"]

    # Filters refresh the table in place (htmx) and keep the URL shareable.
    page.get_by_label("Search").fill(f"projector {marker}")
    page.wait_for_function("() => [...document.querySelectorAll('tr[data-row]')].length === 1")
    assert row_numbers(page) == [number]
    assert "q=projector" in page.url
    page.get_by_label("P1 - Critical").check()
    page.wait_for_url(re.compile(r"priority=P1"))
    page.get_by_label("New", exact=True).check()
    page.wait_for_url(re.compile(r"status=new"))
    page.wait_for_function("() => !document.querySelector('#queue-results.htmx-request')")
    assert row_numbers(page) == [number]
    screenshot(page, "desk-flow-filtered")

    page.get_by_role("link", name=f"Projector in room 4 flickers {marker}").click()
    page.wait_for_url(f"{base}/desk/tickets/{number}/")

    # An internal note, previewed first (htmx -> the tickets Markdown renderer).
    page.get_by_label("Internal note (agents only)").check()
    page.get_by_label("Comment (Markdown)").fill("Vendor ticket **VX-12** opened; do not tell the user yet.")
    page.get_by_role("button", name="Preview").click()
    page.locator("#comment-preview strong", has_text="VX-12").wait_for()
    page.get_by_role("button", name="Add comment").click()
    page.wait_for_url(re.compile(rf"/desk/tickets/{number}/#comment-\d+$"))
    note = page.locator("li.tl-comment.is-internal", has_text="VX-12")
    assert note.count() == 1
    assert "internal note" in note.inner_text().lower()

    # Resolving without a note: the errors are shown next to the fields.
    page.get_by_label("New status").select_option("resolved")
    page.get_by_role("button", name="Change status").click()
    error = page.locator("#id_resolution_note_error")
    error.wait_for()
    assert "required" in error.inner_text()
    assert page.get_by_label("Resolution note").get_attribute("aria-invalid") == "true"
    screenshot(page, "desk-flow-transition-error")

    page.get_by_label("New status").select_option("resolved")
    page.get_by_label("Resolution", exact=True).select_option("fixed")
    page.get_by_label("Resolution note").fill("Replaced the lamp.")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_url(f"{base}/desk/tickets/{number}/#main")
    assert "Resolved" in page.locator(".ticket-badges").inner_text()
    assert "New → Resolved" in page.locator(".timeline").inner_text()
    screenshot(page, "desk-flow-resolved")


def test_a_forbidden_kanban_drag_is_refused_and_the_card_returns(live_url, page_factory, desk_tickets):
    page = page_factory()
    base = live_url.format(slug="alpha")
    # Only this test's cards (other tests leave committed tickets behind): the text filter.
    sign_in(page, base, next_path=f"/desk/board/?q={desk_tickets['marker']}")
    number = desk_tickets["projector"]  # new
    card = page.locator(f"#card-{number}")
    assert card.evaluate("c => c.closest('.board-column').dataset.status") == "new"

    card.drag_to(page.locator('.board-column[data-status="closed"]'))  # new -> closed: not in the workflow
    status = page.locator("#board-status")
    page.wait_for_function("() => document.querySelector('#board-status').textContent.includes('was not moved')")
    assert "cannot go from new to closed" in status.inner_text()
    assert "is-error" in status.get_attribute("class")
    page.wait_for_function(f"() => document.querySelector('#card-{number}').closest('.board-column').dataset.status === 'new'")
    screenshot(page, "desk-board-refused")

    # An allowed drag sticks (the server moved it), and survives a reload.
    card.drag_to(page.locator('.board-column[data-status="open"]'))
    page.wait_for_function(f"() => document.querySelector('#card-{number}').dataset.status === 'open'")
    assert card.evaluate("c => c.closest('.board-column').dataset.status") == "open"
    page.wait_for_function(f"() => document.querySelector('#board-status').textContent.startsWith('#{number} moved to')")
    assert "is-ok" in status.get_attribute("class")
    page.reload()
    assert page.locator(f"#card-{number}").evaluate("c => c.closest('.board-column').dataset.status") == "open"

    # Without a mouse: the card's "Move to" list and button.
    other = desk_tickets["laptop"]
    page.get_by_label(f"Move #{other} to").select_option("pending")
    page.locator(f"#card-{other}").get_by_role("button", name="Move").click()
    page.wait_for_function(f"() => document.querySelector('#card-{other}').dataset.status === 'pending'")
    page.wait_for_function(f"() => document.querySelector('#board-status').textContent.startsWith('#{other} moved to')")
    assert page.evaluate("document.activeElement.id") == f"move-{other}"  # focus stays on the card's control

    # A move that needs a reason asks for it in a dialog; cancelling puts the card back.
    page.get_by_label(f"Move #{other} to").select_option("cancelled")
    page.locator(f"#card-{other}").get_by_role("button", name="Move").click()
    dialog = page.locator("#move-dialog")
    dialog.wait_for(state="visible")
    assert page.get_by_label("Reason", exact=True).is_visible()
    screenshot(page, "desk-board-needs-reason")
    dialog.get_by_role("button", name="Cancel").click()
    page.wait_for_function(f"() => document.querySelector('#card-{other}').closest('.board-column').dataset.status === 'pending'")


def test_keyboard_j_k_enter_and_the_shortcut_dialog(live_url, page_factory, desk_tickets):
    page = page_factory()
    base = live_url.format(slug="alpha")
    sign_in(page, base, next_path=f"/desk/?q={desk_tickets['marker']}&sort=-number")
    numbers = row_numbers(page)
    assert len(numbers) == 4
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator("tr.is-current")
    assert current.get_attribute("id") == f"row-{numbers[1]}"
    assert page.evaluate("document.activeElement.classList.contains('row-link')")
    page.keyboard.press("x")
    assert page.locator(f"#select-{numbers[1]}").is_checked()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for(state="visible")
    screenshot(page, "desk-shortcuts")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    page.locator(f"#row-{numbers[1]} .row-link").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/desk/tickets/{numbers[1]}/")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("width", [1280, 375])
def test_desk_pages_screenshots_axe_and_narrow_screens(live_url, page_factory, desk_tickets, locale, width):
    page = page_factory(locale=locale, width=width, height=900 if width > 400 else 740)
    base = live_url.format(slug="alpha")
    sign_in(page, base)
    assert page.locator("html").get_attribute("lang") == locale[:2]
    pages = {
        "queue": f"/desk/?q={desk_tickets['marker']}",
        "detail": f"/desk/tickets/{desk_tickets['vpn']}/",
        "board": f"/desk/board/?q={desk_tickets['marker']}",
    }
    headings = {"queue": expected("Queue", locale), "board": expected("Board", locale)}
    for name, path in pages.items():
        page.goto(base + path)
        if name in headings:
            assert page.locator("h1").inner_text() == headings[name]
        if name == "detail":
            assert page.locator("li.tl-comment.is-internal .marker").inner_text().strip().lower() == \
                expected("Internal note", locale).lower()
        suffix = f"{locale}" if width > 400 else f"375px-{locale}"
        screenshot(page, f"desk-{name}-{suffix}")
        assert_no_serious_violations(page, context=f"desk {name} ({locale}, {width}px)")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
