"""Tampering around the triggers (superuser SQL with triggers disabled) is detected by
`manage.py audit_verify`, which names the first bad seq and the failure class."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from apps.audit import verify
from apps.audit.models import AuditCheckpoint, AuditEvent
from apps.audit.services import audit_checkpoint_create, audit_record_system


def _sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def triggers_off(tenant):
    """Disable the audit triggers for the rest of this (rolled-back) test transaction."""

    def disable() -> None:
        for table in ("audit_auditevent", "audit_auditcheckpoint", "audit_audithead"):
            _sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    return disable


def run_verify(*extra: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("audit_verify", "--tenant", "alpha", *extra, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def _events(n: int) -> list[AuditEvent]:
    return [audit_record_system(action="test.tamper", payload={"i": i, "note": "é"}, target=None) for i in range(n)]


def _assert_broken(seq: int, failure: str) -> None:
    code, out = run_verify()
    assert code == 1, out
    assert out.count("\n") == 1, out  # one line
    assert f"seq={seq} failure={failure}" in out, out


def test_intact_chain_exits_zero_and_prints_the_head(tenant):
    events = _events(3)
    code, out = run_verify()
    assert code == 0
    assert out.startswith("tenant=alpha OK ")
    assert f"head_seq={events[-1].seq} head_hash={events[-1].hash}" in out
    assert "checkpoints_verified=" in out


def test_json_output(tenant):
    events = _events(2)
    code, out = run_verify("--json")
    data = json.loads(out)
    assert code == 0
    assert data["ok"]
    assert data["head_seq"] == events[-1].seq
    assert data["tenant"] == "alpha"


def test_unknown_tenant_exits_two(tenant):
    with pytest.raises(CommandError, match="no tenant") as caught:
        call_command("audit_verify", "--tenant", "nope", stdout=StringIO())
    assert caught.value.returncode == 2


def test_verification_does_not_append(tenant):
    events = _events(1)
    run_verify()
    assert AuditEvent.objects.order_by("-seq").first().seq == events[-1].seq


# Each column of the middle of three rows, changed with the trigger off.
COLUMN_TAMPERING = [
    ("seq", "seq = seq + 1000000", "gap"),
    ("created_at", "created_at = created_at + interval '1 microsecond'", "hash_mismatch"),
    ("actor_id", "actor_id = 424242", "hash_mismatch"),
    ("actor_label", "actor_label = 'admin@alpha.test'", "hash_mismatch"),
    ("action", "action = 'test.innocent'", "hash_mismatch"),
    ("target_type", "target_type = 'accounts.user'", "hash_mismatch"),
    ("target_id", "target_id = '1'", "hash_mismatch"),
    ("payload", """payload = convert_to('{"i":99,"note":"é"}', 'UTF8')""", "hash_mismatch"),
    ("payload", """payload = convert_to('{"note":"é", "i":1}', 'UTF8')""", "non_canonical_payload"),
    ("payload", "payload = '\\xff00'::bytea", "non_canonical_payload"),
    ("request_id", "request_id = 'forged'", "hash_mismatch"),
    ("prev_hash", "prev_hash = repeat('a', 64)", "prev_hash_mismatch"),
    ("hash", "hash = repeat('b', 64)", "hash_mismatch"),
]


@pytest.mark.parametrize(("column", "assignment", "failure"), COLUMN_TAMPERING)
def test_changing_any_column_is_detected(triggers_off, column, assignment, failure):
    events = _events(3)
    target = events[1].seq
    triggers_off()
    _sql(f"UPDATE audit_auditevent SET {assignment} WHERE seq = %s", [target])
    _assert_broken(target, failure)


def test_deleting_a_row_names_the_gap(triggers_off):
    events = _events(3)
    triggers_off()
    _sql("DELETE FROM audit_auditevent WHERE seq = %s", [events[1].seq])
    _assert_broken(events[1].seq, "gap")


def test_deleting_the_last_row_is_truncation(triggers_off):
    events = _events(3)
    triggers_off()
    _sql("DELETE FROM audit_auditevent WHERE seq = %s", [events[-1].seq])
    _assert_broken(events[-1].seq, "truncated")


def test_swapping_two_rows(triggers_off):
    events = _events(4)
    a, b = events[1].seq, events[2].seq
    triggers_off()
    _sql("UPDATE audit_auditevent SET seq = 999999999 WHERE seq = %s", [a])
    _sql("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [a, b])
    _sql("UPDATE audit_auditevent SET seq = %s WHERE seq = 999999999", [b])
    _assert_broken(a, "prev_hash_mismatch")


def test_truncating_the_tail_after_a_checkpoint(triggers_off):
    events = _events(5)
    cp = audit_checkpoint_create()
    assert cp.seq == events[-1].seq
    cut = events[2].seq
    triggers_off()
    _sql("DELETE FROM audit_auditevent WHERE seq >= %s", [cut])
    # a careful attacker also moves the head back to the new last row
    _sql("UPDATE audit_audithead SET seq = %s, hash = %s", [cut - 1, events[1].hash])
    _assert_broken(cut, "truncated")


def test_rehashed_chain_without_the_key_is_caught_by_the_checkpoint(triggers_off):
    """Rewrite row k and recompute every later hash (and the head): no key, no checkpoint."""
    events = _events(6)
    cp = audit_checkpoint_create()
    k = events[1].seq
    triggers_off()
    _sql("""UPDATE audit_auditevent SET payload = convert_to('{"i":1,"note":"rewritten"}', 'UTF8') WHERE seq = %s""", [k])
    prev = events[0].hash
    for row in AuditEvent.objects.filter(seq__gte=k).order_by("seq"):
        new_hash = verify.event_hash(
            tenant_id=connection.schema_name,
            seq=row.seq,
            prev_hash=prev,
            created_at=verify.format_timestamp(row.created_at),
            actor_id=row.actor_id,
            actor_label=row.actor_label,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            request_id=row.request_id,
            payload=row.payload_bytes,
        )
        _sql("UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [prev, new_hash, row.seq])
        prev = new_hash
    _sql("UPDATE audit_audithead SET hash = %s", [prev])
    _assert_broken(cp.seq, "checkpoint_head")


def test_checkpoint_signed_with_a_wrong_key(tenant):
    _events(2)
    with override_settings(WARDEN_AUDIT_SIGNING_KEY="not-the-real-key"):
        cp = audit_checkpoint_create()
    _assert_broken(cp.seq, "checkpoint_signature")


def test_forged_checkpoint_row(triggers_off):
    events = _events(2)
    cp = audit_checkpoint_create()
    triggers_off()
    _sql("UPDATE audit_auditcheckpoint SET signature = repeat('0', 64) WHERE id = %s", [cp.pk])
    _assert_broken(events[-1].seq, "checkpoint_signature")


def test_checkpoint_under_a_retired_key_still_verifies(tenant):
    _events(2)
    with override_settings(WARDEN_AUDIT_SIGNING_KEY="old-key-material", WARDEN_AUDIT_KEY_ID="k0"):
        audit_checkpoint_create()
    assert AuditCheckpoint.objects.order_by("-seq").first().key_id == "k0"
    assert run_verify()[0] == 1
    with override_settings(WARDEN_AUDIT_RETIRED_KEYS={"k0": "old-key-material"}):
        code, out = run_verify()
    assert code == 0, out
