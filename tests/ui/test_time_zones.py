"""Every page in the viewer's time zone, with the zone's abbreviation: the desk's ticket
page (SLA badge and panel, opening, timeline), the queue, the portal's request, list and
due-time preview, the admin; the SLA badge gives the due time on the viewer's clock next
to the business time left.

The scene (issue 11, item 6): an office calendar Monday to Friday 08:00-17:00 in Warsaw
and a resolution target of 2 business hours. A ticket opened on Monday 23 November 2026 at
16:00 in Warsaw has 1 hour that day and 1 hour on Tuesday morning: due Tuesday 09:00 CET.
Seen a minute later, "1 h 59 min left" sits next to "due tomorrow 09:00 CET" in Warsaw,
"due tomorrow 03:00 EST" in New York and "due today 17:00 JST" in Tokyo (where it is
already Tuesday). The pages are read with `django.utils.timezone.now` reading that minute.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.sla import services as sla_services
from apps.sla.validation import CalendarInput, PolicyInput, ShiftInput
from apps.tenants.models import Tenant
from apps.tickets import services
from apps.tickets.models import Ticket

pytestmark = pytest.mark.django_db
WARSAW = ZoneInfo("Europe/Warsaw")
OPENED = datetime(2026, 11, 23, 16, 0, tzinfo=WARSAW)  # a Monday, 15:00 UTC
SEEN = OPENED + timedelta(minutes=1)
DUE = datetime(2026, 11, 24, 9, 0, tzinfo=WARSAW)  # 08:00 UTC


@contextmanager
def at(moment: datetime):
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(UTC)):
        yield


@pytest.fixture
def warsaw(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(time_zone="Europe/Warsaw")
    tenant.time_zone = "Europe/Warsaw"
    return tenant


@pytest.fixture
def office_policy(warsaw, admin_user):
    calendar = sla_services.sla_calendar_save(actor=admin_user, data=CalendarInput(
        name="Office hours (Warsaw)", timezone="Europe/Warsaw", always_open=False,
        shifts=[ShiftInput(day, time(8), time(17)) for day in range(5)], holidays=[]))
    return sla_services.sla_policy_save(actor=admin_user, data=PolicyInput(
        name="Office", calendar=calendar, targets={p: {"resolution": 120} for p in ("P1", "P2", "P3", "P4")},
        order=10, active=True, categories=[], teams=[], pause_statuses=["pending"], warning_thresholds=[50, 75, 90],
        escalations=[]))


@pytest.fixture
def ticket(office_policy, agent_user, requester_user):
    with at(OPENED):
        made = services.ticket_create(actor=agent_user, requester=requester_user, title="VPN drops every hour",
                                      description="Since the update.", assignee=None)
        services.comment_add(actor=requester_user, ticket=made, body="It dropped again.")
    made = Ticket.objects.get(pk=made.pk)
    clock = made.sla_clocks.get(metric="resolution")
    assert clock.due_at == DUE  # the engine's answer: the scene holds
    return made


def zone_of(user, name: str) -> User:
    User.objects.filter(pk=user.pk).update(time_zone=name)
    return User.objects.get(pk=user.pk)


def get(client, path: str, **extra) -> str:
    with at(SEEN):
        response = client.get(path, **extra)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def badge(html: str) -> str:
    found = re.search(r'<span class="sla-badge [^"]*" data-sla-state="[a-z_]+"[^>]*>.*?</span>', html, re.S)
    assert found, html[:3000]
    return found.group(0)


def plain(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def region(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</section>", start)]


# --- The desk -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "due_text", "iso"),
    [
        ("", "due tomorrow 09:00 CET", "2026-11-24T09:00:00+01:00"),  # the organisation's zone
        ("America/New_York", "due tomorrow 03:00 EST", "2026-11-24T03:00:00-05:00"),
        ("Asia/Tokyo", "due today 17:00 JST", "2026-11-24T17:00:00+09:00"),
    ],
)
def test_the_sla_badge_gives_the_business_time_left_and_the_due_time_on_the_viewers_clock(
        ticket, web_as, agent_user, zone, due_text, iso):
    agent = zone_of(agent_user, zone)
    client = web_as(agent)
    html = get(client, f"/desk/tickets/{ticket.number}/")
    first = badge(html)  # the header's
    assert plain(first) == f"On track 1 h 59 min left {due_text}"
    assert f'<time datetime="{iso}">{due_text}</time>' in first
    panel = region(html, "sla")
    assert plain(badge(panel)) == f"On track 1 h 59 min left {due_text}"
    assert f'{due_text.replace("due ", "", 1)}</time>' in panel
    assert "1 h 59 min of business time left." in plain(panel)
    assert "Business hours: “Office hours (Warsaw)” (Europe/Warsaw)." in plain(panel)
    assert "Target: 2 h 00 min of business time" in plain(panel)
    # The queue's SLA column says the same, its Due column is on the same clock.
    queue = get(client, "/desk/")
    row = re.search(rf'<tr data-row id="row-{ticket.number}">.*?</tr>', queue, re.S).group(0)
    assert f"1 h 59 min left {due_text}" in plain(row)
    local = DUE.astimezone(ZoneInfo(zone or "Europe/Warsaw"))
    assert f'<span>{local.strftime("%-d %b")}</span> <span>{local.strftime("%H:%M")} {local.tzname()}</span>' in row


def test_every_time_on_the_ticket_page_is_in_the_viewers_zone_with_its_abbreviation(ticket, web_as, agent_user):
    client = web_as(zone_of(agent_user, "America/New_York"))
    html = get(client, f"/desk/tickets/{ticket.number}/")
    # Opened Monday 16:00 in Warsaw = 10:00 in New York.
    assert "on Nov. 23, 2026, 10 a.m. EST" in plain(html)
    times = re.findall(r'<time datetime="([^"]+)"[^>]*>([^<]+)</time>', html)
    assert times, "no <time> on the page"
    for stamp, shown in times:
        moment = datetime.fromisoformat(stamp)
        assert moment.utcoffset() == timedelta(hours=-5), (stamp, shown)  # New York's wall clock
        assert shown.strip().endswith("EST"), (stamp, shown)
    # The header names the zone.
    assert '<abbr class="zone" title="Times are shown in America/New_York">EST</abbr>' in html


def test_polish_pages_use_polish_dates_with_the_abbreviation(ticket, web_as, agent_user):
    client = web_as(agent_user)
    client.cookies["django_language"] = "pl"
    html = get(client, f"/desk/tickets/{ticket.number}/")
    assert '<html lang="pl">' in html
    assert 'title="24 listopada 2026 09:00 CET"' in region(html, "sla")  # the due time in full
    assert "23 listopada 2026 16:00 CET" in plain(html)  # opened


def test_a_paused_or_finished_clock_has_no_due_time_to_plan_by(ticket, web_as, agent_user):
    with at(OPENED + timedelta(minutes=2)):
        services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
    html = get(web_as(agent_user), f"/desk/tickets/{ticket.number}/")
    paused = badge(html)
    assert 'data-sla-state="paused"' in paused
    assert "due" not in plain(paused)
    assert "Paused since Nov. 23, 2026, 4:02 p.m. CET" in plain(region(html, "sla"))


def test_the_dashboard_and_previews_name_the_zone(office_policy, web_as, agent_user):
    client = web_as(zone_of(agent_user, "Asia/Tokyo"))
    html = get(client, "/desk/dashboard/")
    assert re.search(r'<time datetime="2026-11-24T00:01:00\+09:00">Nov\. 24, 2026, 12:01 a\.m\. JST</time>', html)
    preview = get(client, "/desk/sla-preview/", data={"impact": "3", "urgency": "3"}, HTTP_HX_REQUEST="true")
    # Opened at 16:01 in Warsaw: 59 min on Monday, 61 on Tuesday: 09:01 CET = 17:01 JST.
    assert '<time datetime="2026-11-24T17:01:00+09:00">Nov. 24, 2026, 5:01 p.m. JST</time>' in preview


# --- The portal -----------------------------------------------------------------------------------


def test_a_requester_sees_their_request_on_their_own_clock(ticket, web_as, requester_user):
    client = web_as(zone_of(requester_user, "Asia/Tokyo"))
    detail = get(client, f"/portal/tickets/{ticket.number}/")
    # Sent Monday 16:00 in Warsaw: Tuesday midnight in Tokyo.
    assert re.search(r'<dt>Sent</dt><dd><time datetime="2026-11-24T00:00:00\+09:00">Nov\. 24, 2026, midnight JST</time>',
                     detail)
    assert '<time datetime="2026-11-24T00:00:00+09:00">Nov. 24, 2026, midnight JST</time>' in detail  # the reply
    listing = get(client, "/portal/")
    assert 'title="Nov. 24, 2026, midnight JST"' in listing
    preview = get(client, "/portal/new/due/", data={"impact": "3", "urgency": "3", "category": ""},
                  HTTP_HX_REQUEST="true")
    assert "Resolution due by" in preview
    assert '<time datetime="2026-11-24T17:01:00+09:00">Nov. 24, 2026, 5:01 p.m. JST</time>' in preview


def test_a_requester_without_a_zone_of_their_own_sees_the_organisations(ticket, web_as, requester_user):
    detail = get(web_as(requester_user), f"/portal/tickets/{ticket.number}/")
    assert '<time datetime="2026-11-23T16:00:00+01:00">Nov. 23, 2026, 4 p.m. CET</time>' in detail
    assert '<abbr class="zone" title="Times are shown in Europe/Warsaw">CET</abbr>' in detail


# --- The admin and the API --------------------------------------------------------------------------


def test_the_admin_lists_times_in_the_admins_zone(ticket, web_as, admin_user):
    client = web_as(zone_of(admin_user, "America/New_York"))
    html = get(client, "/admin/tickets/ticket/")
    assert "Nov. 23, 2026, 10 a.m. EST" in html


def test_the_api_answers_in_utc_whoever_asks(ticket, web_as, api_as, agent_user):
    agent = zone_of(agent_user, "Asia/Tokyo")
    for client in (web_as(agent), api_as(agent)):
        with at(SEEN):
            body = client.get(f"/api/v1/tickets/{ticket.number}/").json()
        assert body["created_at"] == "2026-11-23T15:00:00Z"
        assert body["sla"]["resolution"]["due_at"] == "2026-11-24T08:00:00Z"
    assert timezone.get_current_timezone_name() == "UTC"
