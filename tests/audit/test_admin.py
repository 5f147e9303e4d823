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


# --- filters and the date hierarchy that never scan the chain ------------------------------


def _old_event(seq_offset: int, created_at: str) -> int:
    """An event dated in the past (INSERT is all the triggers allow; the test rolls back)."""
    from django.db import connection

    from apps.audit.selectors import audit_head_get

    seq = audit_head_get()["seq"] + seq_offset
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, created_at, actor_id, actor_label, action, target_type, target_id, "
            "payload, request_id, prev_hash, hash) VALUES (%s, %s, NULL, 'system', 'test.old', '', '', %s, '-', %s, %s)",
            [seq, created_at, b"{}", "0" * 64, "f" * 64],
        )
    return seq


def test_the_changelist_runs_no_distinct_query(web_as, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    audit_record_system(action="test.admin_view")
    client = web_as(admin_user)
    client.get(LIST)  # warm up sessions and caches
    with CaptureQueriesContext(connection) as queries:
        page = client.get(LIST)
    assert page.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]


def test_the_date_hierarchy_offers_only_periods_with_events(web_as, admin_user):
    from django.utils import timezone

    audit_record_system(action="test.admin_view")
    _old_event(1000, "2023-05-06T07:08:09Z")
    client = web_as(admin_user)
    years = client.get(LIST).content.decode()
    this_year = timezone.localtime().year
    assert "created_at__year=2023" in years
    assert f"created_at__year={this_year}" in years
    assert "created_at__year=2024" not in years or this_year == 2024  # an empty year is not offered
    months = client.get(LIST, {"created_at__year": "2023"}).content.decode()
    assert "created_at__month=5" in months
    assert "created_at__month=6" not in months
    days = client.get(LIST, {"created_at__year": "2023", "created_at__month": "5"}).content.decode()
    assert "created_at__day=6" in days
    assert "created_at__day=7" not in days
    listed = client.get(LIST, {"created_at__year": "2023", "created_at__month": "5", "created_at__day": "6"})
    assert b"test.old" in listed.content
    assert b"test.admin_view" not in listed.content


def test_filters_by_area_actor_kind_and_target(web_as, admin_user, agent_user):
    from apps.audit.services import audit_record

    audit_record(actor=admin_user, action="policy.test_filter", target=agent_user, payload={})
    audit_record_system(action="ticket.test_filter")
    client = web_as(admin_user)

    def shown(**params) -> str:
        response = client.get(LIST, params)
        assert response.status_code == 200
        return response.content.decode()

    policy = shown(area="policy")
    assert "policy.test_filter" in policy
    assert "ticket.test_filter" not in policy
    system = shown(actor_kind="system", q="test_filter")
    assert "ticket.test_filter" in system
    assert "policy.test_filter" not in system
    people = shown(actor_kind="user", q="test_filter")
    assert "policy.test_filter" in people
    assert "ticket.test_filter" not in people
    target = shown(target_type="accounts.user", q="test_filter")
    assert "policy.test_filter" in target
    assert "ticket.test_filter" not in target
    untargeted = shown(target_type="-", q="test_filter")
    assert "ticket.test_filter" in untargeted
    assert "policy.test_filter" not in untargeted
    by_id = shown(actor_id=str(admin_user.pk), q="test_filter")
    assert "policy.test_filter" in by_id
    assert "ticket.test_filter" not in by_id
