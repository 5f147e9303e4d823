"""Notifications in a real browser (gunicorn + Chromium, English and Polish):

1. an agent has the desk open; the requester replies on the agent's ticket (the service,
   then the outbox relay as a worker runs it); the bell's count goes up without a reload
   (htmx polling, every 2 s under the test settings), and the inbox names the reply;
2. on the ticket page the agent types "@agen" in the composer, picks a colleague from the
   suggestions with the keyboard, sends an internal note, and the timeline shows the
   mention as a link; the colleague is told.

Screenshots: test-artifacts/screenshots/notifications-*.png.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import expected
from tests.browser.test_agent_desk import sign_in as desk_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AGENTS = {"en-GB": ("agent@alpha.test", "agent2@alpha.test"), "pl-PL": ("agent2@alpha.test", "agent@alpha.test")}


@pytest.fixture
def assigned(alpha):
    """`assigned(agent_email)`: (number, marker) of a requester's ticket assigned to the
    agent, with everything it caused delivered; deleted afterwards."""
    made: list[int] = []

    def make(email: str):
        def build():
            from apps.accounts.models import Team, User
            from apps.events.services.relay import relay_run
            from apps.tickets import services

            agent = User.objects.get(email=email)
            marker = uuid.uuid4().hex[:8]
            ticket = services.ticket_create(actor=User.objects.get(email="requester@alpha.test"),
                                            title=f"Badge reader refuses my card {marker}")
            services.ticket_assign(actor=agent, ticket=ticket, team=Team.objects.filter(members=agent).first(), assignee=agent)
            made.append(ticket.pk)
            relay_run()
            return ticket.number, marker

        return alpha(build)

    yield make

    def clean():
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=made).delete()

    alpha(clean)


def _unread(alpha, email: str) -> int:
    def count():
        from apps.notifications.models import Notification

        return Notification.objects.filter(recipient__email=email, read_at__isnull=True).count()

    return alpha(count)


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_the_bell_counts_a_reply_without_a_reload_and_mentions_are_offered_and_linked(
    live_url, page_factory, assigned, alpha, locale
):
    base = live_url.format(slug="alpha")
    me, colleague = AGENTS[locale]
    number, marker = assigned(me)
    before = _unread(alpha, me)

    # 1. The bell counts the requester's reply while the queue stays open.
    page = page_factory(locale=locale)
    desk_sign_in(page, base, me)
    bell = page.locator("#notification-bell")
    shown = bell.locator(".bell-count")
    assert (shown.inner_text() if shown.count() else "0") == str(before)
    page.evaluate("() => { window.__stillHere = true; }")

    def reply():
        from apps.accounts.models import User
        from apps.events.services.relay import relay_run
        from apps.tickets import services
        from apps.tickets.models import Ticket

        services.comment_add(actor=User.objects.get(email="requester@alpha.test"),
                             ticket=Ticket.objects.get(number=number), body=f"It fails at the door too ({marker}).")
        relay_run()

    alpha(reply)
    assert _unread(alpha, me) == before + 1
    page.wait_for_function(
        "(n) => { const c = document.querySelector('#notification-bell .bell-count'); return c && c.textContent === n; }",
        arg=str(before + 1), timeout=10_000,
    )
    assert page.evaluate("() => window.__stillHere === true")  # no reload
    label = bell.get_attribute("aria-label")
    assert str(before + 1) in label
    screenshot(page, f"notifications-1-bell-{locale}")

    bell.click()
    page.wait_for_url(re.compile(r"/notifications/"))
    def requester_name():
        from apps.accounts.models import User

        person = User.objects.get(email="requester@alpha.test")
        return person.full_name or person.email

    headline = expected("%(actor)s replied on ticket #%(number)s", locale) % {
        "actor": alpha(requester_name), "number": number}
    assert headline in page.locator(".notification-list li").first.inner_text()
    assert_no_serious_violations(page)
    screenshot(page, f"notifications-2-inbox-{locale}")

    # 2. A mention picked from the suggestions, with the keyboard.
    page.goto(f"{base}/desk/tickets/{number}/")
    page.locator("input[name=visibility][value=internal]").check()
    box = page.locator("textarea[name=body]")
    box.click()
    box.type("Please check this with @" + colleague.split("@")[0][:4], delay=30)
    options = page.locator("#mention-suggestions [role=option]")
    options.first.wait_for()
    texts = [options.nth(i).inner_text() for i in range(options.count())]
    assert any(colleague in text for text in texts), texts
    assert not any("requester" in text for text in texts)  # an internal note never offers the requester
    assert box.get_attribute("aria-expanded") == "true"
    screenshot(page, f"notifications-3-mention-suggestions-{locale}")
    while colleague not in page.locator("[role=option][aria-selected=true]").inner_text():
        box.press("ArrowDown")
    box.press("Enter")
    handle = colleague.split("@")[0]
    assert box.input_value() == f"Please check this with @{handle} "
    assert page.locator("#mention-suggestions [role=option]").count() == 0
    page.locator("button[name=action][value=send]").click()
    page.wait_for_load_state()
    link = page.locator("#timeline a.mention").last
    assert link.inner_text() == f"@{handle}"
    assert link.get_attribute("href") == f"mailto:{colleague}"
    screenshot(page, f"notifications-4-mention-linked-{locale}")

    def told():
        from apps.events.services.relay import relay_run
        from apps.notifications.models import Notification

        relay_run()
        return Notification.objects.filter(recipient__email=colleague, kind="mentioned", ticket__number=number).count()

    assert alpha(told) == 1


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_a_requester_copies_a_colleague_in_who_reads_the_request(live_url, page_factory, alpha, locale):
    from tests.browser.test_portal_flows import REQUESTERS
    from tests.browser.test_portal_flows import sign_in as portal_sign_in

    base = live_url.format(slug="alpha")
    owner_email = REQUESTERS[locale]
    colleague_email = REQUESTERS["pl-PL" if locale == "en-GB" else "en-GB"]

    def build():
        from apps.accounts.models import User
        from apps.tickets import services

        marker = uuid.uuid4().hex[:8]
        ticket = services.ticket_create(actor=User.objects.get(email=owner_email), title=f"Printer jams {marker}")
        return ticket.number, ticket.pk

    number, pk = alpha(build)
    try:
        owner = page_factory(locale=locale)
        portal_sign_in(owner, base, owner_email, f"/portal/tickets/{number}/")
        owner.locator("#copied-in summary").click()
        owner.locator("#cc_email").fill("nobody@elsewhere.test")
        owner.locator("#copied-in button[type=submit]").click()
        error = expected("Nobody of this organisation has that address.", locale)
        assert error in owner.locator("#copied-in").inner_text()
        assert owner.locator("#cc_email").input_value() == "nobody@elsewhere.test"  # what was typed is kept
        owner.locator("#cc_email").fill(colleague_email)
        owner.locator("#copied-in button[type=submit]").click()
        owner.wait_for_url(re.compile(rf"/portal/tickets/{number}/"))
        assert colleague_email in owner.locator("#copied-in").inner_text()
        assert_no_serious_violations(owner)
        screenshot(owner, f"notifications-5-copied-in-owner-{locale}")

        colleague = page_factory(locale=locale)
        portal_sign_in(colleague, base, colleague_email, "/portal/?show=copied")
        colleague.locator(f'a[href="/portal/tickets/{number}/"]').click()
        colleague.wait_for_url(re.compile(rf"/portal/tickets/{number}/$"))
        assert colleague.locator("#reply-form").count() == 0  # read only
        assert colleague.locator("#copied-in button[type=submit]").count() == 1  # "stop receiving updates"
        assert_no_serious_violations(colleague)
        screenshot(colleague, f"notifications-6-copied-in-colleague-{locale}")
    finally:
        def clean():
            from apps.tickets.models import Ticket

            Ticket.objects.filter(pk=pk).delete()

        alpha(clean)
