"""The SLA in a real browser (gunicorn + Chromium): the queue with its SLA badges and "Due"
column, a ticket's SLA panel and the SLA dashboard, in English and Polish at 1280 and
375 px (screenshots test-artifacts/screenshots/sla-*.png); axe on the dashboard; the
Chart.js chart draws under the page's CSP without a console error; the due-time preview
of the desk's "New ticket" form follows the fields.

The calendar, the policy (through `apps.sla.services`) and the tickets (through
`apps.tickets.services`, some "created" minutes ago) are committed in tenant alpha and
deleted afterwards.
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import screenshot
from tests.browser.test_agent_desk import LOCALES, expected, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@contextmanager
def created_ago(minutes: float):
    moment = timezone.now() - timedelta(minutes=minutes)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@pytest.fixture
def sla_tickets(alpha):
    """A 24x7 policy for the Desk and Ops teams and one ticket per SLA state."""
    marker = uuid.uuid4().hex[:6]

    def build():
        from apps.accounts.models import Team, User
        from apps.sla import services as sla_services
        from apps.sla.validation import CalendarInput, PolicyInput
        from apps.tickets import services

        admin = User.objects.get(email="admin@alpha.test")
        agent = User.objects.get(email="agent@alpha.test")
        requester = User.objects.get(email="requester@alpha.test")
        desk, ops = Team.objects.get(name="Desk"), Team.objects.get(name="Ops")
        # Re-targeting open clocks after a policy change is a Celery task; these tickets
        # get their clocks from the tickets service, so nothing needs to be enqueued.
        with (
            mock.patch("apps.sla.services.configuration._enqueue_recompute"),
            mock.patch("apps.sla.services.configuration._enqueue_resync"),
        ):
            calendar = sla_services.sla_calendar_save(actor=admin, data=CalendarInput(
                name=f"Browser 24x7 {marker}", timezone="UTC", always_open=True, shifts=[], holidays=[]))
            policy = sla_services.sla_policy_save(actor=admin, data=PolicyInput(
                name=f"Browser standard {marker}", calendar=calendar, order=7000 + int(marker, 16) % 1000, active=True,
                targets={p: {"first_response": 60, "resolution": 240} for p in ("P1", "P2", "P3", "P4")},
                categories=[], teams=[desk, ops], pause_statuses=["pending"], warning_thresholds=[50, 75, 90],
                escalations=[]))

        def make(title, minutes_ago, **fields):
            with created_ago(minutes_ago):
                return services.ticket_create(actor=agent, requester=requester, title=f"{title} {marker}",
                                              description="Reported by phone.", **fields)

        made = {
            "on_track": make("Keyboard missing keys", 5, team=desk),
            "at_risk": make("Projector in room 4 flickers", 50, team=desk, impact=1, urgency=2),
            "breached": make("VPN drops every hour", 70, team=ops, assignee=User.objects.get(email="agent2@alpha.test")),
            "paused": make("Printer on floor 2 is jammed", 10, team=desk),
            "met": make("Password reset for Anna", 20, team=ops),
            "none": make("New laptop for Piotr", 5),
        }
        services.ticket_transition(actor=agent, ticket=made["paused"], to="pending")
        services.ticket_transition(actor=agent, ticket=made["met"], to="resolved", resolution_code="fixed",
                                   resolution_note="Done.")
        return ({key: t.number for key, t in made.items()}, [t.pk for t in made.values()], policy.pk, calendar.pk)

    numbers, pks, policy_pk, calendar_pk = alpha(build)
    numbers["marker"] = marker
    yield numbers

    def clean():
        from apps.sla.models import SlaCalendar, SlaPolicy
        from apps.tickets.models import Ticket

        Ticket.objects.filter(pk__in=pks).delete()
        SlaPolicy.objects.filter(pk=policy_pk).delete()
        SlaCalendar.objects.filter(pk=calendar_pk).delete()

    alpha(clean)


def console_problems(page) -> list[str]:
    """Console errors (CSP violations among them) and script errors of the page from now on.
    The browser's own request for /favicon.ico (the site has none) is not ours."""
    problems: list[str] = []

    def on_console(message):
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and where.endswith("/favicon.ico"):
            return
        problems.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def test_queue_badges_filter_and_due_sort(live_url, page_factory, sla_tickets):
    page = page_factory()
    problems = console_problems(page)
    base = live_url.format(slug="alpha")
    marker = sla_tickets["marker"]
    sign_in(page, base, next_path=f"/desk/?q={marker}")
    states = {int(row.get_attribute("id")[4:]): row.locator(".col-sla .sla-badge").get_attribute("data-sla-state")
              for row in page.locator("tr[data-row]").all()}
    assert states == {sla_tickets[s]: s for s in ("on_track", "at_risk", "breached", "paused", "met", "none")}
    assert "At risk" in page.locator(f"#row-{sla_tickets['at_risk']} .col-sla").inner_text()

    # The SLA filter refreshes the table in place (htmx) and keeps the URL shareable.
    page.get_by_label("Breached", exact=True).check()
    page.wait_for_url(re.compile(r"sla=breached"))
    page.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 1")
    assert page.locator("tr[data-row]").get_attribute("id") == f"row-{sla_tickets['breached']}"
    page.get_by_label("Breached", exact=True).uncheck()
    page.wait_for_function("() => document.querySelectorAll('tr[data-row]').length === 6")

    # Sort by "Due": soonest first, tickets without a running clock last.
    page.locator("th.col-due a").click()
    page.wait_for_url(re.compile(r"sort=due"))
    page.wait_for_function("() => document.querySelector('th.col-due').getAttribute('aria-sort') === 'ascending'")
    order = [int(i[4:]) for i in page.eval_on_selector_all("tr[data-row]", "rows => rows.map(r => r.id)")]
    assert order[:3] == [sla_tickets["breached"], sla_tickets["at_risk"], sla_tickets["on_track"]]
    screenshot(page, "sla-queue-due-sort")
    assert not problems, problems


def test_new_ticket_preview_follows_the_fields(live_url, page_factory, sla_tickets):
    page = page_factory()
    problems = console_problems(page)
    base = live_url.format(slug="alpha")
    sign_in(page, base, next_path="/desk/tickets/new/")
    preview = page.locator("#sla-preview")
    assert "No SLA" in preview.inner_text()  # no team yet: the policy is for Desk and Ops
    page.get_by_label("Team", exact=True).select_option(label="Desk")
    page.wait_for_function("() => document.querySelector('#sla-preview').textContent.includes('Resolution due by')")
    assert f"Browser standard {sla_tickets['marker']}" in preview.inner_text()
    assert "P3" in preview.inner_text()
    page.get_by_label("Impact", exact=True).select_option("1")
    page.get_by_label("Urgency", exact=True).select_option("1")
    page.wait_for_function("() => document.querySelector('#sla-preview').textContent.includes('P1')")
    screenshot(page, "sla-new-ticket")
    assert not problems, problems


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("width", [1280, 375])
def test_sla_pages_screenshots_axe_and_chart(live_url, page_factory, sla_tickets, locale, width):
    page = page_factory(locale=locale, width=width, height=900 if width > 400 else 740)
    problems = console_problems(page)
    base = live_url.format(slug="alpha")
    sign_in(page, base)
    suffix = locale if width > 400 else f"375px-{locale}"
    pages = {
        "queue": f"/desk/?q={sla_tickets['marker']}&sort=due",
        "detail": f"/desk/tickets/{sla_tickets['at_risk']}/",
        "dashboard": "/desk/dashboard/",
        "new-ticket": "/desk/tickets/new/",
    }
    for name, path in pages.items():
        page.goto(base + path)
        if name == "dashboard":
            assert page.locator("h1").inner_text() == expected("SLA dashboard", locale)
            canvas = page.locator("#sla-chart")
            page.wait_for_function("() => document.querySelector('#sla-chart').dataset.chartReady === 'true'")
            page.wait_for_timeout(400)  # the bars' short animation
            box = canvas.bounding_box()
            assert box is not None
            assert (box["width"] > 200, box["height"] > 100) == (True, True), box
            drawn = page.evaluate("""() => {
                const c = document.getElementById('sla-chart');
                const chart = window.Chart && window.Chart.getChart(c);
                const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let ink = 0;
                for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) { ink += 1; } }
                return {chart: Boolean(chart), datasets: chart ? chart.data.datasets.length : 0, ink: ink};
            }""")
            assert (drawn["chart"], drawn["datasets"], drawn["ink"] > 1000) == (True, 5, True), drawn
            assert page.locator("table.sla-table caption").text_content().strip() == expected(
                "Open tickets by SLA state per team", locale)
        elif name == "detail":
            panel = page.locator("#sla")
            assert panel.locator('[data-metric="first_response"] .sla-badge').get_attribute("data-sla-state") == "at_risk"
            assert panel.locator('[data-metric="resolution"] .sla-badge').get_attribute("data-sla-state") == "on_track"
        elif name == "queue":
            assert page.locator("tr[data-row]").count() == 6
        else:
            assert page.locator("#sla-preview").inner_text().strip()
        screenshot(page, f"sla-{name}-{suffix}")
        assert_no_serious_violations(page, context=f"SLA {name} ({locale}, {width}px)")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
    assert not problems, problems  # no CSP violation, no script error


@pytest.mark.parametrize("locale", LOCALES)
def test_portal_new_request_shows_the_resolution_due_time(live_url, page_factory, sla_tickets, alpha, locale):
    """A policy for any team's P1 tickets: the requester's default answers (P4) get no SLA;
    "the whole company" + "I cannot work" (P1) show when it would be due, and nothing
    about the policy."""
    marker = sla_tickets["marker"]

    def add_policy():
        from apps.accounts.models import User
        from apps.sla import services as sla_services
        from apps.sla.models import SlaCalendar
        from apps.sla.validation import PolicyInput

        admin = User.objects.get(email="admin@alpha.test")
        calendar = SlaCalendar.objects.get(name=f"Browser 24x7 {marker}")
        with mock.patch("apps.sla.services.configuration._enqueue_recompute"):
            return sla_services.sla_policy_save(actor=admin, data=PolicyInput(
                name=f"Portal P1 {marker}", calendar=calendar, order=6000 + int(marker, 16) % 1000, active=True,
                targets={"P1": {"first_response": 30, "resolution": 120}}, categories=[], teams=[],
                pause_statuses=["pending"], warning_thresholds=[50, 75, 90], escalations=[])).pk

    policy_pk = alpha(add_policy)
    try:
        page = page_factory(locale=locale, width=1280)
        problems = console_problems(page)
        base = live_url.format(slug="alpha")
        sign_in(page, base, email="requester@alpha.test", next_path="/portal/new/")
        preview = page.locator("#due-preview")
        assert expected("No SLA applies to this kind of request, so there is no resolution due time.", locale) \
            in preview.inner_text()
        page.get_by_label(expected("The whole company", locale)).check()
        page.get_by_label(expected("I cannot work", locale)).check()
        wanted = expected("Resolution due by", locale)
        page.wait_for_function(f"() => document.querySelector('#due-preview').textContent.includes({wanted!r})")
        text = preview.inner_text()
        assert f"Portal P1 {marker}" not in text
        assert "P1" not in text
        assert preview.locator("time").count() == 1
        screenshot(page, f"sla-portal-new-{locale}")
        assert_no_serious_violations(page, context=f"portal new request with due time ({locale})")
        assert not problems, problems
    finally:
        def drop():
            from apps.sla.models import SlaPolicy

            SlaPolicy.objects.filter(pk=policy_pk).delete()

        alpha(drop)
