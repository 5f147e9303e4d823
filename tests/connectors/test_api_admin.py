"""Services, API and admin: admins only, audited, the secret write-only everywhere."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.connectors.models import Connector
from apps.connectors.services.connectors import connector_update
from apps.policies.decisions import PolicyDenied
from tests.connectors.conftest import SECRET

HOST = "alpha.localhost"


def _api(user):
    client = APIClient(HTTP_HOST=HOST)
    client.force_authenticate(user)
    return client


def test_agents_may_not_configure_connectors(make_connector, agent_user):
    connector = make_connector()
    with pytest.raises(PolicyDenied):
        connector_update(actor=agent_user, connector=connector, dry_run=True)


def test_dry_run_switch_is_audited(make_connector, admin_user):
    connector = make_connector(dry_run=False)
    connector_update(actor=admin_user, connector=connector, dry_run=True)
    event = AuditEvent.objects.filter(action="connector.dry_run_changed").latest("seq")
    assert b'"from":false' in bytes(event.payload)
    assert b'"to":true' in bytes(event.payload)


def test_api_is_admin_only_and_the_secret_write_only(admin_user, agent_user):
    body = {"kind": "servicenow", "name": "snow-api", "base_url": "https://acme.service-now.com",
            "auth_scheme": "bearer", "secret": SECRET}
    assert _api(agent_user).post("/api/v1/connectors/", body, format="json").status_code == 403
    assert _api(agent_user).get("/api/v1/connectors/").status_code == 403
    admin = _api(admin_user)
    created = admin.post("/api/v1/connectors/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["secret_set"] is True
    assert "secret" not in data
    assert data["dry_run"] is True
    listed = admin.get("/api/v1/connectors/")
    changed = admin.patch(f"/api/v1/connectors/{data['id']}/", {"dry_run": False, "secret": "another-one"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["dry_run"] is False
    for response in (created, listed, changed, admin.get(f"/api/v1/connectors/{data['id']}/")):
        assert SECRET.encode() not in response.content
        assert b"another-one" not in response.content
        assert Connector.objects.get(pk=data["id"]).secret.encode() not in response.content
    refused = admin.post("/api/v1/connectors/", {**body, "name": "bad", "base_url": "https://169.254.169.254"},
                         format="json")
    assert refused.status_code == 400
    assert "base_url" in refused.json()["errors"]
    assert admin.delete(f"/api/v1/connectors/{data['id']}/").status_code == 204
    for event in AuditEvent.objects.filter(action__startswith="connector."):
        assert SECRET.encode() not in bytes(event.payload)
        assert b"another-one" not in bytes(event.payload)


def test_admin_pages_never_show_the_secret(make_connector, admin_user, loopback, service):
    from apps.connectors.services.connectors import connector_create

    connector = connector_create(actor=admin_user, kind="servicenow", name="pages", base_url=service.url,
                                 auth_scheme="bearer", secret=SECRET)
    client = Client(HTTP_HOST=HOST)
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    pages = [
        client.get("/admin/connectors/connector/"),
        client.get(f"/admin/connectors/connector/{connector.pk}/change/"),
        client.get(f"/admin/connectors/connector/{connector.pk}/test/"),
    ]
    tested = client.post(f"/admin/connectors/connector/{connector.pk}/test/")
    pages.append(tested)
    for page in pages:
        assert page.status_code == 200
        assert SECRET.encode() not in page.content
        assert connector.secret.encode() not in page.content
    assert b"Connected." in tested.content
    assert b"127.0.0.1" in tested.content
    assert service.requests[0].path.startswith("/api/now/table/sys_user")
    assert AuditEvent.objects.filter(action="connector.tested").exists()
    agent = Client(HTTP_HOST=HOST)
    from apps.accounts.models import User

    agent.force_login(User.objects.get(email="agent@alpha.test"), backend="django.contrib.auth.backends.ModelBackend")
    assert agent.get(f"/admin/connectors/connector/{connector.pk}/test/").status_code in (302, 403)


def test_kinds_register_from_ready():
    from apps.connectors.registry import KINDS

    assert {"servicenow", "github"} <= set(KINDS.names())
    assert KINDS.get("servicenow").hosts == ("*.service-now.com",)
    assert KINDS.get("github").hosts == ("api.github.com",)


def test_production_refuses_loopback(monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    env = {"DJANGO_SETTINGS_MODULE": "config.settings.production", "WARDEN_CONNECTORS_ALLOW_LOOPBACK": "true",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode != 0
    assert "WARDEN_CONNECTORS_ALLOW_LOOPBACK must be off" in done.stderr
