"""A person's own time zone: the service (own only, audited), an admin changing someone
else's (policy, audited), the profile page in the desk and the portal, the user admin,
and which zone each request is rendered in (the middleware; the API stays UTC)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts import services, zones
from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, PermissionDenied
from apps.tenants.models import Tenant

WARSAW = ZoneInfo("Europe/Warsaw")
pytestmark = pytest.mark.django_db
PROFILE = "/profile/"


def events(action: str) -> list[dict]:
    return [json.loads(bytes(e.payload)) for e in AuditEvent.objects.filter(action=action).order_by("seq")]


@pytest.fixture
def warsaw(tenant):
    """Tenant alpha in Europe/Warsaw for the test (the row is rolled back with it)."""
    Tenant.objects.filter(pk=tenant.pk).update(time_zone="Europe/Warsaw")
    tenant.time_zone = "Europe/Warsaw"
    return tenant


def header_zone(html: str) -> tuple[str, str]:
    """The header's zone: (title, abbreviation)."""
    found = re.search(r'<abbr class="zone" title="([^"]+)">([^<]+)</abbr>', html)
    assert found, html[:2000]
    return found.group(1), found.group(2)


# --- Services ---------------------------------------------------------------------------------


def test_a_person_sets_their_own_zone_and_it_is_audited(requester_user):
    services.user_set_time_zone(user=requester_user, time_zone=" Asia/Tokyo ", actor=requester_user)
    assert User.objects.get(pk=requester_user.pk).time_zone == "Asia/Tokyo"
    services.user_set_time_zone(user=requester_user, time_zone="Asia/Tokyo", actor=requester_user)  # no change
    services.user_set_time_zone(user=requester_user, time_zone="", actor=requester_user)  # the organisation's again
    assert User.objects.get(pk=requester_user.pk).time_zone == ""
    assert events("user.time_zone_changed") == [{"from": "", "to": "Asia/Tokyo"}, {"from": "Asia/Tokyo", "to": ""}]
    event = AuditEvent.objects.filter(action="user.time_zone_changed").latest("seq")
    assert event.actor_id == requester_user.pk


@pytest.mark.parametrize("actor", ["admin", "other", "anonymous"])
def test_nobody_sets_someone_elses_zone_through_the_self_service(actor, requester_user, requester2_user, admin_user):
    from django.contrib.auth.models import AnonymousUser

    who = {"admin": admin_user, "other": requester2_user, "anonymous": AnonymousUser()}[actor]
    with pytest.raises(PermissionDenied):
        services.user_set_time_zone(user=requester_user, time_zone="Asia/Tokyo", actor=who)
    with pytest.raises(PermissionDenied):
        services.user_set_time_zone(user=requester_user, time_zone="Asia/Tokyo", actor=None)
    assert User.objects.get(pk=requester_user.pk).time_zone == ""
    assert events("user.time_zone_changed") == []


def test_an_unknown_zone_is_refused_with_the_field_named(requester_user, admin_user, agent_user):
    with pytest.raises(ApplicationError) as raised:
        services.user_set_time_zone(user=requester_user, time_zone="Mars/Olympus_Mons", actor=requester_user)
    assert raised.value.errors == {"time_zone": [
        "Unknown time zone 'Mars/Olympus_Mons': use an IANA name such as Europe/Warsaw, or none for the organisation's."]}
    with pytest.raises(ApplicationError):
        services.user_update(user=agent_user, actor=admin_user, time_zone="Europe/Atlantis")
    assert User.objects.get(pk=agent_user.pk).time_zone == ""
    assert events("user.time_zone_changed") == []
    assert not AuditEvent.objects.filter(action="user.updated").exists()


def test_an_admin_changes_someone_elses_zone_with_user_update(admin_user, agent_user, agent2_user):
    services.user_update(user=agent_user, actor=admin_user, time_zone="America/New_York")
    assert User.objects.get(pk=agent_user.pk).time_zone == "America/New_York"
    assert events("user.updated")[-1] == {"changes": {"time_zone": {"from": "", "to": "America/New_York"}}}
    # An agent may not (user.manage is the admins'), not even their own through this service.
    from apps.policies.decisions import PolicyDenied

    with pytest.raises(PolicyDenied):
        services.user_update(user=agent2_user, actor=agent_user, time_zone="Asia/Tokyo")
    assert User.objects.get(pk=agent2_user.pk).time_zone == ""


# --- Whose zone -------------------------------------------------------------------------------


def test_the_persons_zone_wins_then_the_organisations_then_utc(warsaw, agent_user, settings):
    assert zones.zone_name_for(agent_user, warsaw) == "Europe/Warsaw"
    agent_user.time_zone = "Asia/Tokyo"
    assert zones.zone_name_for(agent_user, warsaw) == "Asia/Tokyo"
    assert zones.zone_name_for(agent_user) == "Asia/Tokyo"
    assert zones.zone_name_for(None) == "Europe/Warsaw"  # the connection's tenant
    agent_user.time_zone = "Mars/Olympus_Mons"  # a name the tz database no longer knows
    assert zones.zone_name_for(agent_user, warsaw) == "Europe/Warsaw"
    warsaw.time_zone = ""
    assert zones.zone_name_for(agent_user, warsaw) == settings.TIME_ZONE == "UTC"
    # What the notifications app reads for quiet hours: plain IANA names on both.
    assert User().time_zone == ""
    assert isinstance(Tenant().time_zone, str)


def test_shown_to_renders_in_the_recipients_zone(warsaw, requester_user):
    from django.template import Context, Template

    requester_user.time_zone = "Asia/Tokyo"
    moment = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    template = Template('{{ t|date:"DATETIME_FORMAT" }}')
    with zones.shown_to(requester_user):
        assert template.render(Context({"t": moment})) == "Nov. 24, 2026, 5 p.m. JST"
    with zones.shown_to(None):
        assert template.render(Context({"t": moment})) == "Nov. 24, 2026, 9 a.m. CET"
    assert timezone.get_current_timezone_name() == "UTC"  # restored afterwards


def test_each_request_is_rendered_in_the_viewers_zone_and_the_api_in_utc(warsaw, web_as, agent_user, requester_user):
    from apps.tickets import services as tickets

    ticket = tickets.ticket_create(actor=agent_user, requester=requester_user, title="Printer jams",
                                   description="Since Monday.")
    agent = web_as(agent_user)
    html = agent.get(f"/desk/tickets/{ticket.number}/").content.decode()
    assert header_zone(html) == ("Times are shown in Europe/Warsaw", timezone.now().astimezone(WARSAW).tzname())
    User.objects.filter(pk=agent_user.pk).update(time_zone="America/New_York")
    html = agent.get(f"/desk/tickets/{ticket.number}/").content.decode()
    title, abbreviation = header_zone(html)
    assert title == "Times are shown in America/New_York"
    assert abbreviation in {"EST", "EDT"}
    created = timezone.localtime(ticket.created_at, zones.zone_for(User.objects.get(pk=agent_user.pk)))
    assert f'datetime="{created.isoformat()}"' in html  # the timeline's opening, in New York
    assert f"{abbreviation}</time>" in html
    # The same person through the API (session or token): UTC, whoever asks.
    body = agent.get(f"/api/v1/tickets/{ticket.number}/").json()
    assert body["created_at"].endswith("Z")
    assert datetime.fromisoformat(body["created_at"]) == ticket.created_at
    # Anonymous visitors see the organisation's zone (the sign-in page has no header zone).
    assert Client(HTTP_HOST="alpha.localhost").get("/accounts/login/").status_code == 200


# --- The profile page -------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "layout"), [("requester", "portal"), ("agent", "desk")])
def test_the_profile_page_offers_the_zones_with_the_organisations_first(who, layout, warsaw, web_as, users):
    page = web_as(users[who]).get(PROFILE)
    assert page.status_code == 200
    html = page.content.decode()
    assert ("tickets/agent.css" in html) is (layout == "desk")
    assert ("tickets/portal.css" in html) is (layout == "portal")
    assert re.search(r'<option value="" selected>Organisation default: Europe/Warsaw \((CET|CEST)\)</option>', html)
    assert '<optgroup label="Europe">' in html
    assert re.search(r'<option value="Europe/Warsaw">Warsaw \(UTC\+0[12]:00\)', html)
    assert 'href="/profile/"' in html  # the header's link to it
    assert "Dates and times are shown to you in <strong>Europe/Warsaw</strong>" in html
    assert 'href="/notifications/preferences/"' in html
    assert 'src="/static/accounts/profile.js"' in html
    assert "<script>" not in html.replace(
        '<script type="application/json"', "")


def test_choosing_a_zone_on_the_profile_page_changes_every_page_after_it(warsaw, web_as, requester_user):
    client = web_as(requester_user)
    response = client.post(PROFILE, {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert response["Location"] == PROFILE
    assert User.objects.get(pk=requester_user.pk).time_zone == "Asia/Tokyo"
    assert events("user.time_zone_changed") == [{"from": "", "to": "Asia/Tokyo"}]
    html = client.get(PROFILE).content.decode()
    assert "Saved: dates and times are now shown in Asia/Tokyo (JST)." in html
    assert header_zone(html) == ("Times are shown in Asia/Tokyo", "JST")
    assert '<option value="Asia/Tokyo" selected>Tokyo (UTC+09:00)</option>' in html
    header_title, _ = header_zone(client.get("/portal/").content.decode())
    assert header_title == "Times are shown in Asia/Tokyo"
    # Back to the organisation's.
    assert client.post(PROFILE, {"time_zone": ""}).status_code == 302
    assert User.objects.get(pk=requester_user.pk).time_zone == ""
    assert header_zone(client.get(PROFILE).content.decode())[0] == "Times are shown in Europe/Warsaw"


def test_an_unknown_zone_on_the_profile_page_is_a_field_error_and_nothing_changes(warsaw, web_as, agent_user):
    response = web_as(agent_user).post(PROFILE, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_time_zone_error"' in html
    assert "Select a valid choice." in html
    assert 'aria-invalid="true"' in html
    assert User.objects.get(pk=agent_user.pk).time_zone == ""
    assert events("user.time_zone_changed") == []


def test_the_profile_page_is_for_signed_in_members_of_the_tenant(tenant, web_as, requester_user):
    anonymous = Client(HTTP_HOST="alpha.localhost")
    response = anonymous.get(PROFILE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/profile/")
    assert anonymous.post(PROFILE, {"time_zone": "Asia/Tokyo"}).status_code in (302, 403)
    assert web_as(requester_user).put(PROFILE).status_code == 405
    assert User.objects.get(pk=requester_user.pk).time_zone == ""
    # The platform host has no profile page (platform admins see UTC).
    assert Client(HTTP_HOST="localhost").get(PROFILE).status_code == 404


def test_the_profile_page_needs_the_csrf_token(tenant, requester_user):
    client = Client(HTTP_HOST="alpha.localhost", enforce_csrf_checks=True)
    client.force_login(requester_user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.post(PROFILE, {"time_zone": "Asia/Tokyo"}).status_code == 403
    assert User.objects.get(pk=requester_user.pk).time_zone == ""


# --- The user admin -----------------------------------------------------------------------------


def test_the_user_admin_sets_and_keeps_a_persons_zone(tenant, web_as, admin_user, agent_user):
    client = web_as(admin_user)
    url = f"/admin/accounts/user/{agent_user.pk}/change/"
    page = client.get(url).content.decode()
    assert '<option value="" selected>Organisation default</option>' in page
    data = {"email": agent_user.email, "full_name": "", "role": "agent", "is_active": "on", "language": "",
            "time_zone": "America/New_York", "new_password1": "", "new_password2": ""}
    assert client.post(url, data).status_code == 302
    assert User.objects.get(pk=agent_user.pk).time_zone == "America/New_York"
    assert events("user.updated")[-1] == {"changes": {"time_zone": {"from": "", "to": "America/New_York"}}}
    # A legacy name stored elsewhere is shown and saved back unchanged.
    User.objects.filter(pk=agent_user.pk).update(time_zone="US/Eastern")
    page = client.get(url).content.decode()
    assert '<option value="US/Eastern" selected>US/Eastern' in page
    assert client.post(url, {**data, "time_zone": "US/Eastern"}).status_code == 302
    assert User.objects.get(pk=agent_user.pk).time_zone == "US/Eastern"
    response = client.post(url, {**data, "time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert User.objects.get(pk=agent_user.pk).time_zone == "US/Eastern"
