"""Isolation by construction: nothing one tenant holds means anything on another."""

import uuid

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django_tenants.utils import schema_context

from apps.accounts.models import User
from apps.core.tasks import TenantContextMissing, ping

OTHER = "beta.localhost"


def test_session_cookie_from_one_tenant_means_nothing_on_another(web_as, agent_user):
    client = web_as(agent_user)
    assert client.get("/desk/", HTTP_ACCEPT="text/html").status_code == 200
    cookie = client.cookies["sessionid"].value
    from django.test import Client

    other = Client(HTTP_HOST=OTHER)
    other.cookies["sessionid"] = cookie
    response = other.get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


PASSWORD = "correct-horse-battery-staple"


def test_a_user_of_one_tenant_cannot_sign_in_on_another(tenant, other_tenant):
    from django.test import Client

    from apps.audit.models import AuditEvent

    home = Client(HTTP_HOST="alpha.localhost")
    assert home.post("/accounts/login/", {"login": "agent@alpha.test", "password": PASSWORD}).status_code == 302

    away = Client(HTTP_HOST=OTHER)
    page = away.post("/accounts/login/", {"login": "agent@alpha.test", "password": PASSWORD})
    assert page.status_code == 200  # the form again, with its error
    assert b"agent@alpha.test" in page.content
    assert "_auth_user_id" not in away.session
    landing = away.get("/", HTTP_ACCEPT="text/html")
    assert landing.status_code == 302
    assert "/accounts/login/" in landing["Location"]
    with schema_context(other_tenant.schema_name):
        failed = AuditEvent.objects.filter(action="auth.login_failed", actor_label="anonymous:agent@alpha.test")
        assert failed.count() == 1


def test_the_token_endpoint_of_another_tenant_refuses_a_users_credentials(tenant, other_tenant):
    from django.test import Client

    body = {"email": "admin@alpha.test", "password": PASSWORD}
    home = Client(HTTP_HOST="alpha.localhost").post("/api/v1/auth/token/", body, content_type="application/json")
    assert home.status_code == 200
    away = Client(HTTP_HOST=OTHER).post("/api/v1/auth/token/", body, content_type="application/json")
    assert away.status_code == 400
    assert away["Content-Type"] == "application/problem+json"
    assert "token" not in away.json()
    assert away.json()["detail"] == "Email or password is wrong."
    # And the token alpha's endpoint handed out means nothing on beta's API.
    token = home.json()["token"]
    elsewhere = Client(HTTP_HOST=OTHER).get("/api/v1/tickets/", HTTP_AUTHORIZATION=f"Token {token}")
    assert elsewhere.status_code == 401
    assert elsewhere["Content-Type"] == "application/problem+json"


def test_token_from_one_tenant_is_rejected_on_another(api_as, admin_user):
    mine = api_as(admin_user)
    assert mine.get("/api/v1/audit/events/").status_code == 200
    elsewhere = api_as(admin_user, host=OTHER)
    response = elsewhere.get("/api/v1/audit/events/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_users_live_in_tenant_schemas_and_contenttypes_only_in_public(tenant, other_tenant):
    assert User.objects.filter(email="agent@alpha.test").exists()
    assert not User.objects.filter(email="agent@beta.test").exists()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'django_content_type'"
        )
        assert {row[0] for row in cur.fetchall()} == {"public"}
        cur.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name IN "
            "('django_session', 'authtoken_token', 'account_emailaddress', 'mfa_authenticator') "
            "AND table_schema = %s",
            [tenant.schema_name],
        )
        assert len(cur.fetchall()) == 4


def test_cache_keys_carry_the_tenant(tenant, other_tenant):
    name = f"colour-{uuid.uuid4().hex}"
    cache.set(name, "blue")
    with schema_context(other_tenant.schema_name):
        assert cache.get(name) is None
        cache.set(name, "red")
    assert cache.get(name) == "blue"
    key = cache.make_key(name)
    assert key.startswith(f"{tenant.schema_name}:")


def test_media_paths_are_computed_per_tenant_per_call(tenant, other_tenant):
    name = default_storage.save("probe.txt", ContentFile(b"alpha"))
    alpha_path = default_storage.path(name)
    with schema_context(other_tenant.schema_name):
        assert not default_storage.exists(name)
        beta_path = default_storage.path(name)
    assert f"/tenants/{tenant.schema_name}/" in alpha_path
    assert f"/tenants/{other_tenant.schema_name}/" in beta_path
    default_storage.delete(name)


def test_tenant_task_sent_without_tenant_is_refused(db, caplog):
    connection.set_schema_to_public()
    with pytest.raises(TenantContextMissing):
        ping.delay()
    assert "without a tenant" in caplog.text


def test_worker_refuses_to_run_a_tenant_task_in_public(db, caplog):
    connection.set_schema_to_public()
    result = ping.apply(args=["orphan"], headers={"_schema_name": "public"})
    assert result.state == "REJECTED"
    assert "refused to run tenant task core.ping" in caplog.text
    assert cache.get("core.ping:orphan") is None


def test_tenant_task_runs_in_its_tenant(tenant):
    assert ping.apply().get() == tenant.schema_name
