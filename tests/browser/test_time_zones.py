"""Every person reads times on their own clock (issue 11, item 6), through the real pages
(gunicorn + Chromium, English and Polish, nothing mocked):

1. an agent picks Asia/Tokyo on their profile page (the select, then Save); the header names
   JST and the desk's ticket page says when the request was opened in Tokyo time;
2. the requester, with no zone of their own, reads the same moment on the organisation's
   clock (UTC for the test tenant) in the portal; after picking America/New_York on their
   profile, in New York time with its abbreviation.

Zones without daylight saving (Tokyo) or computed from the stored instant (New York), so
the expected strings hold on any day. Both people's zones are reset afterwards (the alpha
tenant is shared by the browser tests). Screenshots: test-artifacts/screenshots/tz-*.png.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import sign_in as desk_sign_in
from tests.browser.test_portal_flows import REQUESTERS
from tests.browser.test_portal_flows import sign_in as portal_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
AGENT = "agent@alpha.test"


@pytest.fixture
def opened_ticket(alpha):
    """`opened_ticket(requester_email)`: (number, created_at) of a new request; the request
    is deleted and both people's zones are emptied afterwards."""
    made: list[int] = []
    people: list[str] = [AGENT]

    def make(email: str):
        def build():
            from apps.accounts.models import User
            from apps.tickets import services

            requester = User.objects.get(email=email)
            ticket = services.ticket_create(actor=requester, title=f"Clock in the meeting room is off {uuid.uuid4().hex[:6]}")
            made.append(ticket.pk)
            return ticket.number, ticket.created_at

        people.append(email)
        return alpha(build)

    yield make

    def clean():
        from apps.accounts.models import User
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=made).delete()
        User.objects.filter(email__in=people).update(time_zone="")

    alpha(clean)


def _clock(instant: datetime, zone: str) -> tuple[str, str]:
    """The hour:minute and the abbreviation the page must show for `instant` in `zone`."""
    local = instant.astimezone(ZoneInfo(zone))
    return local.strftime("%H:%M"), local.tzname()


def _pick_zone(page, base: str, zone: str) -> None:
    page.goto(f"{base}/profile/")
    page.select_option("select[name=time_zone]", zone)
    page.click("form[data-profile-zone] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("select[name=time_zone]").input_value() == zone


@pytest.mark.parametrize("locale", ["en-GB", "pl-PL"])
def test_agent_and_requester_read_times_on_their_own_clock(live_url, page_factory, opened_ticket, locale):
    base = live_url.format(slug="alpha")
    requester_email = REQUESTERS[locale]
    number, created = opened_ticket(requester_email)

    # 1. The agent chooses Tokyo; the header and the ticket page follow.
    agent = page_factory(locale=locale)
    desk_sign_in(agent, base, AGENT)
    _pick_zone(agent, base, "Asia/Tokyo")
    hour, abbreviation = _clock(created, "Asia/Tokyo")
    assert abbreviation == "JST"
    agent.goto(f"{base}/desk/tickets/{number}/")
    header = agent.locator("header.topbar").inner_text()
    assert "JST" in header, header
    opened = agent.locator("main .meta").first.inner_text()
    assert f"{hour} JST" in opened or f"{_twelve_hour(created, 'Asia/Tokyo')} JST" in opened, opened
    screenshot(agent, f"tz-desk-ticket-tokyo-{locale}")

    # 2. The requester reads the organisation's clock (UTC), then their own (New York).
    requester = page_factory(locale=locale)
    portal_sign_in(requester, base, requester_email, f"/portal/tickets/{number}/")
    sent = requester.locator("time").first.inner_text()
    hour_utc, _ = _clock(created, "UTC")
    assert "UTC" in sent, sent
    assert hour_utc in sent or _twelve_hour(created, "UTC") in sent, sent
    _pick_zone(requester, base, "America/New_York")
    requester.goto(f"{base}/portal/tickets/{number}/")
    sent = requester.locator("time").first.inner_text()
    hour_ny, abbreviation_ny = _clock(created, "America/New_York")
    assert abbreviation_ny in sent, sent
    assert hour_ny in sent or _twelve_hour(created, "America/New_York") in sent, sent
    assert "UTC" not in sent
    screenshot(requester, f"tz-portal-detail-new-york-{locale}")


def _twelve_hour(instant: datetime, zone: str) -> str:
    """Django's English "P" format: '9 a.m.', '9:30 p.m.', 'noon', 'midnight'."""
    local = instant.astimezone(ZoneInfo(zone))
    if (local.hour, local.minute) == (0, 0):
        return "midnight"
    if (local.hour, local.minute) == (12, 0):
        return "noon"
    hour = local.hour % 12 or 12
    suffix = "a.m." if local.hour < 12 else "p.m."
    return f"{hour} {suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d} {suffix}"
