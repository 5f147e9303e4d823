"""Suspension, residency and the platform admin on the public host."""

import pytest
from django.test import Client, override_settings
from django_tenants.utils import schema_context

from apps.tenants.models import Tenant, TenantStatus
from apps.tenants.services import tenant_activate, tenant_suspend

HOST = "alpha.localhost"


def test_suspended_tenant_gets_403_page_and_problem(tenant):
    tenant_suspend(tenant=tenant, reason="unpaid invoice")
    client = Client(HTTP_HOST=HOST)
    page = client.get("/", HTTP_ACCEPT="text/html")
    assert page.status_code == 403
    assert b"suspended" in page.content
    api = client.get("/api/v1/audit/events/")
    assert api.status_code == 403
    assert api["Content-Type"] == "application/problem+json"
    assert "suspended" in api.json()["detail"]
    assert client.get("/health/").status_code == 200
    tenant_activate(tenant=Tenant.objects.get(pk=tenant.pk))
    assert client.get("/api/v1/audit/events/").status_code == 401


def test_suspension_needs_a_reason_and_is_audited(tenant):
    from apps.audit.models import AuditEvent
    from apps.core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        tenant_suspend(tenant=tenant, reason="  ")
    tenant_suspend(tenant=tenant, reason="contract ended")
    assert AuditEvent.objects.filter(action="tenant.suspended").exists()
    assert Tenant.objects.get(pk=tenant.pk).status == TenantStatus.SUSPENDED


def test_residency_refuses_a_tenant_this_region_may_not_serve(tenant):
    from apps.audit.models import AuditEvent

    Tenant.objects.filter(pk=tenant.pk).update(allowed_regions=["us"])
    client = Client(HTTP_HOST=HOST)
    page = client.get("/", HTTP_ACCEPT="text/html")
    assert page.status_code == 403
    assert b"region" in page.content
    api = client.get("/api/v1/audit/events/")
    assert api.status_code == 403
    assert api.json()["title"] == "Data residency"
    with schema_context(tenant.schema_name):
        assert AuditEvent.objects.filter(action="residency.refused").count() == 2
    with override_settings(WARDEN_REGION="us"):
        assert client.get("/api/v1/audit/events/").status_code == 401


def test_residency_refuses_tenant_tasks(tenant):
    from apps.core.tasks import ping
    from apps.tenants.residency import ResidencyViolation

    Tenant.objects.filter(pk=tenant.pk).update(allowed_regions=["us"])
    tenant.allowed_regions = ["us"]
    with pytest.raises(ResidencyViolation):
        ping.apply(throw=True).get()
    from apps.audit.models import AuditEvent

    [refusal] = AuditEvent.objects.filter(action="residency.refused")  # the refusal is audited
    assert refusal.payload_data["kind"] == "task"
    assert refusal.payload_data["detail"] == ping.name


def _platform_admin():
    from apps.accounts.models import User

    return User.objects.filter(email="root@platform.test").first() or User.objects.create_superuser(
        "root@platform.test", "platform-password-1"
    )


def test_platform_admin_lists_and_suspends_tenants(db):
    from django.db import connection

    connection.set_schema_to_public()
    admin = _platform_admin()
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    listing = client.get("/admin/tenants/tenant/")
    assert listing.status_code == 200
    assert b"alpha" in listing.content
    assert b"beta" in listing.content
    beta = Tenant.objects.get(slug="beta")
    response = client.post(
        "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [beta.pk]}
    )
    assert response.status_code == 302
    assert Tenant.objects.get(pk=beta.pk).status == TenantStatus.SUSPENDED


def test_platform_admin_creates_a_tenant(db):
    from django.db import connection

    connection.set_schema_to_public()
    client = Client(HTTP_HOST="localhost")
    client.force_login(_platform_admin())
    response = client.post(
        "/admin/tenants/tenant/add/",
        {"slug": "epsilon", "name": "Epsilon", "region": "eu", "admin_email": "boss@epsilon.test", "admin_password": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    assert Tenant.objects.filter(slug="epsilon", schema_name="t_epsilon").exists()
    bad = client.post(
        "/admin/tenants/tenant/add/",
        {"slug": "Nope!", "name": "", "region": "eu", "admin_email": "x"},
    )
    assert bad.status_code == 200
    assert b"errorlist" in bad.content


def test_tenant_admin_cannot_see_tenants(web_as, admin_user):
    client = web_as(admin_user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/tenants/tenant/").status_code in (403, 404)


def test_agent_is_kept_out_of_the_admin_site(web_as, agent_user):
    response = web_as(agent_user).get("/admin/")
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_each_admin_site_shows_only_the_models_of_its_schema(db, web_as):
    from django.db import connection

    connection.set_schema_to_public()
    platform = Client(HTTP_HOST="localhost")
    platform.force_login(_platform_admin())
    index = platform.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/tenants/tenant/" in index.content
    assert b"/admin/tickets/ticket/" not in index.content
    assert b"/admin/audit/" not in index.content
    assert platform.get("/admin/tickets/ticket/").status_code in (403, 404, 302)

    from apps.accounts.models import User

    connection.set_tenant(Tenant.objects.get(slug="alpha"))
    tenant_admin = web_as(User.objects.get(email="admin@alpha.test"))
    index = tenant_admin.get("/admin/")
    assert b"/admin/tickets/ticket/" in index.content
    assert b"/admin/django_celery_beat/" not in index.content
    assert b"/admin/tenants/tenant/" not in index.content
