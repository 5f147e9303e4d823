"""A tenant's time zone: set at provisioning from its region (the zone of its default
office calendar) or named by the operator / platform admin; changed by a tenant admin
on the Time zone page (policy tenant.configure) or by a platform admin; audited in the
tenant's chain either way; existing tenants get their region's zone in the migration."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.audit.models import AuditEvent
from apps.core.errors import ApplicationError, PermissionDenied
from apps.tenants.models import REGION_TIME_ZONES, Tenant
from apps.tenants.services import tenant_provision, tenant_set_time_zone

PAGE = "/admin/time-zone/"


def _provision(capsys, *args) -> dict:
    call_command("provision_tenant", *args)
    return json.loads(capsys.readouterr().out)


def payloads(action: str) -> list[dict]:
    return [json.loads(bytes(e.payload)) for e in AuditEvent.objects.filter(action=action).order_by("seq")]


@pytest.mark.parametrize(("region", "zone"), [("eu", "Europe/Warsaw"), ("us", "America/New_York")])
def test_a_new_tenant_shows_times_on_the_clock_of_its_office_calendar(db, capsys, region, zone):
    from apps.sla.models import SlaCalendar

    slug = f"zone-{region}"
    printed = _provision(capsys, "--slug", slug, "--name", "Zoned", "--region", region, "--admin-email", "b@z.test")
    assert printed["time_zone"] == zone == REGION_TIME_ZONES[region]
    tenant = Tenant.objects.get(slug=slug)
    assert tenant.time_zone == zone
    with schema_context(tenant.schema_name):
        office = SlaCalendar.objects.get(always_open=False)
        assert office.timezone == tenant.time_zone
        [provisioned] = payloads("tenant.provisioned")
        assert provisioned["time_zone"] == zone


def test_the_operator_or_platform_admin_may_name_another_zone(db, capsys):
    printed = _provision(capsys, "--slug", "zone-lon", "--name", "London", "--region", "eu",
                         "--admin-email", "b@lon.test", "--time-zone", "Europe/London")
    assert printed["time_zone"] == "Europe/London"
    assert Tenant.objects.get(slug="zone-lon").time_zone == "Europe/London"
    # Again with the same zone, or without one: idempotent. With another: refused, nothing changed.
    assert _provision(capsys, "--slug", "zone-lon", "--name", "London", "--region", "eu", "--admin-email",
                      "b@lon.test", "--time-zone", "Europe/London")["created"] is False
    assert _provision(capsys, "--slug", "zone-lon", "--name", "London", "--region", "eu",
                      "--admin-email", "b@lon.test")["time_zone"] == "Europe/London"
    with pytest.raises(CommandError, match="already exists with the time zone Europe/London"):
        call_command("provision_tenant", "--slug", "zone-lon", "--name", "London", "--region", "eu",
                     "--admin-email", "b@lon.test", "--time-zone", "Europe/Dublin")
    assert Tenant.objects.get(slug="zone-lon").time_zone == "Europe/London"


def test_an_unknown_zone_is_refused_before_anything_is_created(db):
    with pytest.raises(ApplicationError) as raised:
        tenant_provision(slug="zone-bad", name="Bad", region="eu", admin_email="b@bad.test", time_zone="Europe/Atlantis")
    assert raised.value.errors["time_zone"] == ["Unknown time zone 'Europe/Atlantis': use an IANA name such as Europe/Warsaw."]
    assert not Tenant.objects.filter(slug="zone-bad").exists()
    with pytest.raises(CommandError, match="Unknown time zone"):
        call_command("provision_tenant", "--slug", "zone-bad", "--name", "Bad", "--region", "eu",
                     "--admin-email", "b@bad.test", "--time-zone", "Mars/Olympus_Mons")


def test_the_migration_gives_existing_tenants_their_regions_zone(tenant, other_tenant):
    migration = importlib.import_module("apps.tenants.migrations.0003_time_zone")
    connection.set_schema_to_public()
    Tenant.objects.update(time_zone="UTC")
    Tenant.objects.filter(pk=other_tenant.pk).update(region="us")
    migration.zones_from_regions(django_apps, None)
    zones = dict(Tenant.objects.values_list("slug", "time_zone"))
    assert zones["alpha"] == "Europe/Warsaw"
    assert zones["beta"] == "America/New_York"
    assert zones["public"] == "UTC"
    connection.set_tenant(tenant)


# --- Changing it ---------------------------------------------------------------------------------


def test_a_tenant_admin_changes_it_on_the_time_zone_page(tenant, web_as, admin_user):
    client = web_as(admin_user)
    assert f'href="{PAGE}"'.encode() in client.get("/admin/").content  # found from the admin index
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<option value="UTC" selected>UTC (UTC+00:00)</option>' in html
    assert "0 people have chosen their own time zone" in html
    response = client.post(PAGE, {"time_zone": "Europe/Warsaw"})
    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "Europe/Warsaw"
    event = AuditEvent.objects.filter(action="tenant.time_zone_changed").latest("seq")
    assert event.actor_id == admin_user.pk
    assert json.loads(bytes(event.payload)) == {"time_zone": "Europe/Warsaw", "previous": "UTC"}
    html = client.get(PAGE).content.decode()
    assert "The organisation&#x27;s time zone is now Europe/Warsaw (CE" in html
    # The admin pages now show Warsaw times with their abbreviation (the header too).
    assert '<abbr class="zone" title="Times are shown in Europe/Warsaw">' not in html  # the admin has its own header
    assert client.post(PAGE, {"time_zone": "Europe/Warsaw"}).status_code == 302  # unchanged: no second event
    assert len(payloads("tenant.time_zone_changed")) == 1


def test_an_unknown_zone_on_the_page_is_a_field_error(tenant, web_as, admin_user):
    response = web_as(admin_user).post(PAGE, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "UTC"


@pytest.mark.parametrize("who", ["agent", "requester"])
def test_only_admins_reach_the_page(tenant, web_as, users, who):
    response = web_as(users[who]).post(PAGE, {"time_zone": "Europe/Warsaw"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "UTC"


def test_the_tenants_policies_decide_who_changes_it(tenant, web_as, admin_user):
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    deny = {"name": "the clock is frozen", "subject": "role:admin", "action": "tenant.configure",
            "effect": "deny", "priority": 50}
    policy_publish(actor=None, rules=[*BASELINE_RULES, deny])
    response = web_as(admin_user).post(PAGE, {"time_zone": "Europe/Warsaw"})
    assert response.status_code == 403
    assert Tenant.objects.get(pk=tenant.pk).time_zone == "UTC"
    denied = AuditEvent.objects.filter(action="policy.denied").latest("seq")
    assert json.loads(bytes(denied.payload))["action"] == "tenant.configure"
    assert not AuditEvent.objects.filter(action="tenant.time_zone_changed").exists()


def test_a_tenant_admin_cannot_change_another_tenant_and_a_platform_admin_can(tenant, other_tenant, admin_user):
    with pytest.raises(PermissionDenied):
        tenant_set_time_zone(tenant=other_tenant, time_zone="Asia/Tokyo", actor=admin_user)
    connection.set_schema_to_public()
    assert Tenant.objects.get(pk=other_tenant.pk).time_zone == "UTC"
    root = User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1"
    )
    with pytest.raises(ApplicationError):
        tenant_set_time_zone(tenant=Tenant.objects.get(schema_name="public"), time_zone="Asia/Tokyo", actor=root)
    client = Client(HTTP_HOST="localhost")
    client.force_login(root)
    url = f"/admin/tenants/tenant/{other_tenant.pk}/change/"
    page = client.get(url).content.decode()
    assert '<option value="UTC" selected>' in page
    beta = Tenant.objects.get(pk=other_tenant.pk)
    form = {
        "name": beta.name, "allowed_regions": "[]", "data_mode": beta.data_mode, "status": beta.status,
        "suspended_reason": "", "display_name": "", "logo": "", "primary_colour": beta.primary_colour,
        "time_zone": "Asia/Tokyo", "domains-TOTAL_FORMS": "0", "domains-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content[:3000]
    assert Tenant.objects.get(pk=other_tenant.pk).time_zone == "Asia/Tokyo"
    with schema_context(other_tenant.schema_name):
        event = AuditEvent.objects.filter(action="tenant.time_zone_changed").latest("seq")
        assert event.actor_label == "platform:root@platform.test"
        assert json.loads(bytes(event.payload)) == {"time_zone": "Asia/Tokyo", "previous": "UTC"}
    response = client.post(url, {**form, "time_zone": "Europe/Atlantis"})
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert Tenant.objects.get(pk=other_tenant.pk).time_zone == "Asia/Tokyo"
    connection.set_tenant(tenant)


def test_the_platform_admins_new_tenant_form_takes_a_zone_or_the_regions(db):
    connection.set_schema_to_public()
    root = User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(root)
    page = client.get("/admin/tenants/tenant/add/").content.decode()
    assert '<option value="" selected>The region&#x27;s (Europe/Warsaw for eu, America/New_York for us)</option>' in page
    base = {"slug": "zone-form", "name": "Form", "region": "us", "admin_email": "b@form.test", "admin_password": ""}
    assert client.post("/admin/tenants/tenant/add/", {**base, "time_zone": ""}).status_code == 302
    assert Tenant.objects.get(slug="zone-form").time_zone == "America/New_York"
    assert client.post("/admin/tenants/tenant/add/", {**base, "slug": "zone-form2", "time_zone": "America/Chicago"}
                       ).status_code == 302
    assert Tenant.objects.get(slug="zone-form2").time_zone == "America/Chicago"
