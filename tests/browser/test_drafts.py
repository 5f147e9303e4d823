"""Drafts kept in the browser (static/core/drafts.js), in a real browser (gunicorn + Chromium).

- Desk: a half-written internal note survives a reload (text and visibility, with the
  "Draft restored" notice), and a lost connection on sending; once the server took it, it
  is gone. A restored draft can be discarded with the keyboard.
- Desk "New ticket": a submit the server refuses (400, plain POST) keeps the draft.
- Portal: a refused new request (htmx, 422) keeps the draft; signing out removes it (a tab
  still open on the form saves nothing more), and the next person on the same browser sees
  nothing; someone whose session simply ended leaves their draft behind, which the next
  person's first page removes.
- Portal reply (Polish): restored with the notice in the page's language, kept when the
  request fails to reach the server, gone once sent (htmx 200).

No CSP violation anywhere. Screenshots: test-artifacts/screenshots/drafts-*.png."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import expected
from tests.browser.test_agent_desk import sign_in as desk_sign_in
from tests.browser.test_portal_csp import recording_page
from tests.browser.test_portal_flows import TEXT, alpha, conversation_ticket, sign_in  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DRAFT_KEYS = "() => Object.keys(localStorage).filter(k => k.startsWith('warden:draft:'))"


def drafts(page) -> list[str]:
    return page.evaluate(DRAFT_KEYS)


def wait_saved(page, name: str) -> None:
    """Until the draft of form `name` is in localStorage (saving waits for typing to pause)."""
    page.wait_for_function(f"() => ({DRAFT_KEYS})().some(k => k.endsWith(':' + {name!r}))")


def notice(page, locale: str = "en-GB"):
    return page.locator(".draft-notice[role=status]", has_text=expected("Draft restored", locale))


@pytest.fixture
def desk_ticket(alpha):  # noqa: F811
    """A ticket of the Desk team, and whatever tickets the test opens with its marker; deleted afterwards."""
    marker = uuid.uuid4().hex[:6]

    def build():
        from apps.accounts.models import Team, User
        from apps.tickets import services

        ticket = services.ticket_create(
            actor=User.objects.get(email="agent@alpha.test"), requester=User.objects.get(email="requester@alpha.test"),
            title=f"Switch port flaps {marker}", team=Team.objects.get(name="Desk"))
        return ticket.number

    yield {"number": alpha(build), "marker": marker}

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(title__endswith=marker).delete()

    alpha(clean)


def test_a_desk_note_survives_a_reload_and_a_lost_connection_until_it_is_sent(live_url, page_factory, desk_ticket):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    number = desk_ticket["number"]
    name = f"desk:comment:{number}"
    desk_sign_in(page, base, next_path=f"/desk/tickets/{number}/")
    box = page.get_by_label("Comment (Markdown)")
    internal = page.get_by_label("Internal note (agents only)")
    text = "Checked the switch: port 12 **still flaps**."

    internal.check()
    box.fill(text)
    wait_saved(page, name)
    page.reload()
    notice(page).wait_for()
    assert box.input_value() == text
    assert internal.is_checked(), "the visibility comes back with the text: a note stays a note"
    assert re.search(r"^\d+ seconds? ago$", page.locator(".draft-notice time").inner_text())
    screenshot(page, "drafts-desk-restored-en")
    assert_no_serious_violations(page, context="restored desk draft", include="#comment")

    # The connection drops as the note is sent: the browser shows its own error page.
    page.route("**/comment/", lambda route: route.abort("internetdisconnected"))
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Add comment").click(no_wait_after=True)
    page.unroute("**/comment/")
    page.goto(f"{base}/desk/tickets/{number}/")
    notice(page).wait_for()
    assert box.input_value() == text

    # Sent (redirect, "Internal note added."): the draft is gone, now and after a reload.
    page.get_by_role("button", name="Add comment").click()
    page.wait_for_url(re.compile(rf"/desk/tickets/{number}/#comment-\d+$"))
    assert page.locator("li.tl-comment.is-internal", has_text="port 12").count() == 1
    assert box.input_value() == ""
    assert drafts(page) == []
    page.reload()
    assert box.input_value() == ""
    assert page.locator(".draft-notice").count() == 0

    # Discarded with the keyboard: the form is as the server sent it, focus in the text box.
    box.fill("Half a thought")
    wait_saved(page, name)
    page.reload()
    notice(page).wait_for()
    page.get_by_role("button", name="Discard draft").focus()
    page.keyboard.press("Enter")
    page.locator(".draft-notice", has_text="Draft discarded.").wait_for()
    assert box.input_value() == ""
    assert page.evaluate("document.activeElement.id") == "id_body"
    assert drafts(page) == []
    assert violations == []


def test_a_new_ticket_the_desk_refuses_keeps_its_draft(live_url, page_factory, desk_ticket):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    title = f"Printer on floor 3 is offline {desk_ticket['marker']}"
    desk_sign_in(page, base, next_path="/desk/tickets/new/")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Urgency").select_option(label="High")
    wait_saved(page, "desk:new")

    page.get_by_role("button", name="Open ticket").click()  # no requester: 400, the form again
    page.locator("#id_requester_error").wait_for()
    assert page.locator(".draft-notice").count() == 0, "a form the server filled in is not 'restored'"
    page.goto(f"{base}/desk/tickets/new/")
    notice(page).wait_for()
    assert page.get_by_label("Title", exact=True).input_value() == title
    assert page.get_by_label("Urgency").input_value() == "1"

    page.get_by_label("Requester's email").fill("requester@alpha.test")
    page.get_by_role("button", name="Open ticket").click()
    page.wait_for_url(re.compile(r"/desk/tickets/\d+/$"))
    assert drafts(page) == []
    page.goto(f"{base}/desk/tickets/new/")
    assert page.get_by_label("Title", exact=True).input_value() == ""
    assert violations == []


def test_no_draft_is_left_for_the_next_person_on_the_same_browser(live_url, page_factory):
    page, violations = recording_page(page_factory)
    base = live_url.format(slug="alpha")
    words = TEXT["en-GB"]
    details = "The badge reader at the side door beeps red for everyone."
    sign_in(page, base, "requester@alpha.test", "/portal/new/")

    page.get_by_label(words["details"]).fill(details)
    page.get_by_label(words["impact"]).check()
    wait_saved(page, "portal:new")
    page.get_by_role("button", name=words["send"]).click()  # no summary: 422, swapped in by htmx
    page.locator("[data-error-summary]").wait_for()
    assert page.get_by_label(words["details"]).input_value() == details
    page.goto(f"{base}/portal/new/")
    notice(page).wait_for()
    assert page.get_by_label(words["details"]).input_value() == details
    assert page.get_by_label(words["impact"]).is_checked()
    screenshot(page, "drafts-portal-restored-en")
    other_tab = page.context.new_page()
    other_tab.goto(f"{base}/portal/new/")
    notice(other_tab).wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/|/$"))
    assert drafts(page) == []
    # The form still open in another tab saves nothing more once its person signed out.
    other_tab.get_by_label(words["summary"]).fill("Typed after signing out")
    other_tab.wait_for_timeout(1000)
    assert drafts(page) == []
    other_tab.close()
    sign_in(page, base, "requester2@alpha.test", "/portal/new/")
    assert page.get_by_label(words["details"]).input_value() == ""
    assert page.locator(".draft-notice").count() == 0

    # requester2 leaves without signing out (the session ends); requester signs in next.
    page.get_by_label(words["summary"]).fill("Parking card lost")
    wait_saved(page, "portal:new")
    page.context.clear_cookies()
    sign_in(page, base, "requester@alpha.test", "/portal/new/")
    assert page.get_by_label(words["summary"]).input_value() == ""
    assert page.locator(".draft-notice").count() == 0
    assert drafts(page) == []
    assert violations == []


def test_a_portal_reply_draft_in_polish_is_kept_until_it_is_sent(live_url, page_factory, conversation_ticket):  # noqa: F811
    locale = "pl-PL"
    words = TEXT[locale]
    number, _marker = conversation_ticket("requester2@alpha.test")
    page, violations = recording_page(page_factory, locale)
    base = live_url.format(slug="alpha")
    sign_in(page, base, "requester2@alpha.test", f"/portal/tickets/{number}/")
    reply = page.get_by_label(words["reply"])

    reply.fill("Wentylator nadal hałasuje.")
    wait_saved(page, f"portal:reply:{number}")
    page.reload()
    notice(page, locale).wait_for()
    assert reply.input_value() == "Wentylator nadal hałasuje."
    assert "ago" not in page.locator(".draft-notice time").inner_text(), "the time is said in Polish"
    screenshot(page, "drafts-portal-reply-restored-pl")
    # Playwright's screenshot leaves style="" on the inputs, which htmx's settle would copy
    # (blocked by the CSP): a fresh page for what follows.
    page.reload()
    notice(page, locale).wait_for()

    # The request never reaches the server: the form says so and the draft stays.
    page.route("**/reply/", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name=words["send_reply"]).click()
    page.locator("[data-request-error]:not([hidden])").wait_for()
    page.unroute("**/reply/")
    assert len(drafts(page)) == 1

    page.get_by_role("button", name=words["send_reply"]).click()
    page.locator("#conversation").get_by_text(words["reply_sent"]).wait_for()
    assert reply.input_value() == ""
    assert drafts(page) == []
    page.reload()
    assert reply.input_value() == ""
    assert page.locator(".draft-notice").count() == 0
    assert violations == []
