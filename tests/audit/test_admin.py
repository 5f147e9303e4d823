"""The audit admin is read-only, and only on tenant hosts."""

from __future__ import annotations

from apps.audit.services import audit_record_system

LIST = "/admin/audit/auditevent/"


def test_admin_can_browse_and_search(web_as, admin_user):
    event = audit_record_system(action="test.admin_view", payload={"answer": 42})
    client = web_as(admin_user)
    page = client.get(LIST)
    assert page.status_code == 200
    assert b"test.admin_view" in page.content
    assert client.get(LIST, {"q": "admin_view"}).status_code == 200
    assert client.get(LIST, {"action": "test.admin_view"}).status_code == 200
    detail = client.get(f"{LIST}{event.seq}/change/")
    assert detail.status_code == 200
    assert b"&quot;answer&quot;: 42" in detail.content  # payload shown decoded


def test_nobody_adds_changes_or_deletes(web_as, admin_user):
    event = audit_record_system(action="test.admin_view")
    client = web_as(admin_user)
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.get(f"{LIST}{event.seq}/delete/").status_code == 403
    response = client.post(f"{LIST}{event.seq}/change/", {"action": "test.changed"})
    assert response.status_code == 403
    assert b"delete_selected" not in client.get(LIST).content


def test_agents_cannot_see_it(web_as, agent_user):
    response = web_as(agent_user).get(LIST)
    assert response.status_code in (302, 403)


def test_hidden_on_the_platform_admin(tenant, admin_user, rf):
    from django.contrib import admin
    from django.db import connection

    from apps.audit.models import AuditCheckpoint, AuditEvent

    request = rf.get("/admin/")
    request.user = admin_user
    for model in (AuditEvent, AuditCheckpoint):
        model_admin = admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        connection.set_schema_to_public()
        try:
            assert not model_admin.has_module_permission(request)
            assert not model_admin.has_view_permission(request)
        finally:
            connection.set_tenant(tenant)
