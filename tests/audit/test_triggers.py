"""The database refuses to change or remove audit rows, in every tenant schema."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from apps.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from apps.audit.services import audit_checkpoint_create, audit_record_system
from apps.tenants.schema import base_schema_name


def _refused(sql: str, params=None) -> None:
    with (
        pytest.raises(IntegrityError, match="append-only|only move forward"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_orm_update_and_delete_are_refused(tenant):
    event = audit_record_system(action="test.locked", payload={"a": 1})
    event.action = "test.changed"
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        event.save()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=event.seq).update(actor_label="someone")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=event.seq).delete()
    assert AuditEvent.objects.get(seq=event.seq).action == "test.locked"


def test_sql_update_delete_truncate_are_refused(tenant):
    event = audit_record_system(action="test.locked")
    _refused("UPDATE audit_auditevent SET payload = %s WHERE seq = %s", [b"{}", event.seq])
    _refused("DELETE FROM audit_auditevent WHERE seq = %s", [event.seq])
    _refused("TRUNCATE audit_auditevent CASCADE")


def test_checkpoints_are_append_only(tenant):
    audit_record_system(action="test.locked")
    cp = audit_checkpoint_create()
    _refused("UPDATE audit_auditcheckpoint SET signature = 'x' WHERE id = %s", [cp.pk])
    _refused("DELETE FROM audit_auditcheckpoint WHERE id = %s", [cp.pk])
    _refused("TRUNCATE audit_auditcheckpoint")
    assert AuditCheckpoint.objects.filter(pk=cp.pk, signature=cp.signature).exists()


def test_head_only_moves_forward(tenant):
    audit_record_system(action="test.locked")
    _refused("UPDATE audit_audithead SET seq = seq - 1")
    _refused("DELETE FROM audit_audithead")
    _refused("TRUNCATE audit_audithead")
    assert AuditHead.objects.count() == 1


def _triggers(schema: str) -> list[tuple[str, str, str]]:
    """(table, trigger, function schema) of the user triggers in `schema`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, t.tgname, pn.nspname
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_proc p ON p.oid = t.tgfoid
            JOIN pg_namespace pn ON pn.oid = p.pronamespace
            WHERE n.nspname = %s AND NOT t.tgisinternal AND c.relname LIKE 'audit\\_%%'
            ORDER BY 1, 2
            """,
            [schema],
        )
        return cursor.fetchall()


EXPECTED_TRIGGERS = [
    ("audit_auditcheckpoint", "audit_checkpoint_no_change"),
    ("audit_auditcheckpoint", "audit_checkpoint_no_truncate"),
    ("audit_auditevent", "audit_event_no_change"),
    ("audit_auditevent", "audit_event_no_truncate"),
    ("audit_audithead", "audit_head_forward_only"),
    ("audit_audithead", "audit_head_no_truncate"),
]


def test_base_schema_and_provisioned_tenants_have_the_triggers(tenant):
    for schema in (base_schema_name(), "t_alpha", "t_beta"):
        found = _triggers(schema)
        assert [(table, name) for table, name, _ in found] == EXPECTED_TRIGGERS, schema
        # each clone calls its own copy of the functions, not the base schema's
        assert {fn_schema for _, _, fn_schema in found} == {schema}


def test_a_freshly_provisioned_tenant_refuses_changes(fresh_tenant):
    """fresh_tenant is cloned from the base schema by tenant_provision (committed)."""
    schema = fresh_tenant.schema_name
    assert [(t, n) for t, n, _ in _triggers(schema)] == EXPECTED_TRIGGERS
    assert {fn for _, _, fn in _triggers(schema)} == {schema}
    event = AuditEvent.objects.order_by("seq").first()
    assert event is not None
    assert event.seq == 1
    assert event.action == "tenant.provisioned"
    assert AuditHead.objects.get().seq >= 1
    for sql in (
        "UPDATE audit_auditevent SET action = 'x' WHERE seq = 1",
        "DELETE FROM audit_auditevent WHERE seq = 1",
        "TRUNCATE audit_auditevent",
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.filter(seq=1, action="tenant.provisioned").exists()


def test_base_schema_holds_no_events(tenant):
    """New tenants copy the base schema's rows: an event there would start every new
    chain with a link hashed for another tenant id (caught as hash_mismatch at seq 1)."""
    base = base_schema_name()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{base}".audit_auditevent')
        assert cursor.fetchone()[0] == 0
        cursor.execute(f'SELECT id, seq, hash FROM "{base}".audit_audithead')
        assert cursor.fetchall() == [(1, 0, "0" * 64)]
