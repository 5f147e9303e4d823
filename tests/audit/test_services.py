"""Appending events through the services, in tenant alpha (rolled back after each test)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from apps.audit import verify
from apps.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from apps.audit.payloads import REDACTED, AuditPayloadError, content_digest
from apps.audit.selectors import audit_chain_verify, audit_head_get
from apps.audit.services import (
    AuditUnavailable,
    audit_checkpoint_create,
    audit_checkpoint_if_due,
    audit_record,
    audit_record_system,
)
from apps.core import request_id


def _head_seq() -> int:
    return audit_head_get()["seq"]


def test_append_links_to_the_head_and_verifies(tenant):
    start = audit_head_get()
    first = audit_record_system(action="test.first", payload={"n": 1})
    second = audit_record_system(action="test.second", payload={"n": 2})
    assert (first.seq, second.seq) == (start["seq"] + 1, start["seq"] + 2)
    assert first.prev_hash == start["hash"]
    assert second.prev_hash == first.hash
    assert audit_head_get() == {"seq": second.seq, "hash": second.hash}
    stored = AuditEvent.objects.get(seq=second.seq)
    assert stored.payload_bytes == b'{"n":2}'
    assert stored.hash == verify.event_hash(
        tenant_id="t_alpha",
        seq=stored.seq,
        prev_hash=stored.prev_hash,
        created_at=verify.format_timestamp(stored.created_at),
        actor_id=None,
        actor_label="system",
        action="test.second",
        target_type="",
        target_id="",
        request_id=stored.request_id,
        payload=b'{"n":2}',
    )
    assert audit_chain_verify().ok


@pytest.mark.parametrize(
    ("actor_label", "rid", "payload"),
    [
        ("system", "req-1", {}),
        ("zoë@ålpha.test", "req:2.b_c", {"note": 'naïve café ☕ \u2028 "quoted" \\ \n', "emoji": "\U0001f600"}),
        ("", "x", {"big": "x" * 70_000, "n": -(2**53 - 1)}),
        ("platform:ops@warden.test", "r" * 128, {"nested": {"list": [1, "two", None, True, False]}}),
    ],
)
def test_postgresql_hashes_exactly_like_the_verifier(tenant, admin_user, actor_label, rid, payload):
    """The append hashes seq, prev_hash and created_at inside PostgreSQL: the stored hash
    must be verify.event_hash of the stored row, byte for byte, for any text."""
    token = request_id.set(rid)
    try:
        event = audit_record(actor=admin_user, action="test.hash_in_sql", target=admin_user, payload=payload,
                             actor_label=actor_label)
    finally:
        request_id.reset(token)
    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.request_id == rid
    assert (stored.hash, stored.prev_hash, stored.created_at) == (event.hash, event.prev_hash, event.created_at)
    assert stored.hash == verify.event_hash(
        tenant_id="t_alpha",
        seq=stored.seq,
        prev_hash=stored.prev_hash,
        created_at=verify.format_timestamp(stored.created_at),
        actor_id=admin_user.pk,
        actor_label=actor_label or "system",
        action="test.hash_in_sql",
        target_type="accounts.user",
        target_id=str(admin_user.pk),
        request_id=stored.request_id,
        payload=stored.payload_bytes,
    )
    assert audit_chain_verify().ok


def test_created_at_is_stamped_under_the_head_lock_so_it_never_goes_back(tenant):
    events = [audit_record_system(action="test.clock", payload={"i": i}) for i in range(20)]
    stamps = [e.created_at for e in events]
    assert stamps == sorted(stamps)
    assert abs(timezone.now() - stamps[-1]) < timedelta(minutes=1)


def test_actor_target_and_request_id_are_recorded(tenant, admin_user, agent_user):
    token = request_id.set("req-audit-test-1")
    try:
        event = audit_record(actor=admin_user, action="user.role_changed", target=agent_user, payload={"to": "admin"})
    finally:
        request_id.reset(token)
    event = AuditEvent.objects.get(seq=event.seq)
    assert event.actor_id == admin_user.pk
    assert event.actor_label == "admin@alpha.test"
    assert (event.target_type, event.target_id) == ("accounts.user", str(agent_user.pk))
    assert event.request_id == "req-audit-test-1"
    assert event.payload_data == {"to": "admin"}


def test_actor_none_is_the_system_and_labels_can_be_given(tenant, admin_user):
    assert audit_record(actor=None, action="test.sys").actor_label == "system"
    assert audit_record(actor=admin_user, action="test.x", actor_label="platform:ops").actor_label == "platform:ops"
    platform = audit_record_system(action="tenant.suspended", actor_label="platform:ops@warden.test")
    assert (platform.actor_id, platform.actor_label) == (None, "platform:ops@warden.test")


def _business_write_that_fails_after_auditing() -> None:
    with transaction.atomic():
        audit_record_system(action="test.doomed", payload={})
        raise RuntimeError("business rule failed after the audit call")


def test_a_rolled_back_business_transaction_consumes_no_seq(tenant):
    before = _head_seq()
    with pytest.raises(RuntimeError):
        _business_write_that_fails_after_auditing()
    assert _head_seq() == before
    assert audit_record_system(action="test.after").seq == before + 1
    assert audit_chain_verify().ok


def test_payload_errors_leave_the_callers_transaction_usable(tenant):
    """Bad payloads are refused before any SQL runs, so the caller may handle the error."""
    with transaction.atomic():
        with pytest.raises(AuditPayloadError):
            audit_record_system(action="test.bad", payload={"ratio": 0.5})
        audit_record_system(action="test.good")


@pytest.mark.parametrize("action", ["", "nodot", "Upper.case", "a..b", "x" * 101 + ".y", "spaces in.it"])
def test_bad_action_names_are_refused(tenant, action):
    with pytest.raises(AuditPayloadError):
        audit_record_system(action=action)


def test_unsaved_target_is_refused(tenant):
    from apps.accounts.models import User

    with pytest.raises(AuditPayloadError, match="not saved"):
        audit_record_system(action="test.target", target=User(email="x@y.test"))


def test_floats_are_refused_and_nothing_is_written(tenant):
    before = _head_seq()
    with pytest.raises(ValueError, match="floats are not allowed"):
        audit_record_system(action="test.float", payload={"score": 0.7})
    assert _head_seq() == before


def test_secrets_never_reach_the_table(tenant, admin_user):
    event = audit_record(
        actor=admin_user,
        action="connector.configured",
        payload={"url": "https://example.test", "api_key": "sk-live-123", "auth": {"client_secret": "s3"}},
    )
    data = AuditEvent.objects.get(seq=event.seq).payload_bytes
    assert b"sk-live-123" not in data
    assert b"s3" not in data
    assert json.loads(data) == {"url": "https://example.test", "api_key": REDACTED, "auth": {"client_secret": REDACTED}}


def test_metadata_only_tenant_stores_content_digests(tenant):
    assert tenant.data_mode == "metadata_only"
    event = audit_record_system(action="ticket.created", payload={"title": "Payroll leak", "priority": "p1"})
    assert AuditEvent.objects.get(seq=event.seq).payload_data == {
        "title": content_digest("Payroll leak"),
        "priority": "p1",
    }


def test_full_content_tenant_stores_content(tenant):
    tenant.data_mode = "full_content"  # connection.tenant is this instance
    event = audit_record_system(action="ticket.created", payload={"title": "Payroll leak"})
    assert AuditEvent.objects.get(seq=event.seq).payload_data == {"title": "Payroll leak"}


def test_data_mode_is_looked_up_under_schema_context(tenant):
    """schema_context() gives a FakeTenant without data_mode: the real row decides."""
    from django_tenants.utils import schema_context

    from apps.tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(data_mode="full_content")
    with schema_context("t_alpha"):
        event = audit_record_system(action="ticket.created", payload={"title": "kept"})
    assert AuditEvent.objects.get(seq=event.seq).payload_data == {"title": "kept"}
    Tenant.objects.filter(pk=tenant.pk).update(data_mode="metadata_only")
    with schema_context("t_alpha"):
        event = audit_record_system(action="ticket.created", payload={"title": "hidden"})
    assert AuditEvent.objects.get(seq=event.seq).payload_data == {"title": content_digest("hidden")}


def test_public_schema_is_refused(tenant):
    connection.set_schema_to_public()
    try:
        with pytest.raises(AuditUnavailable):
            audit_record_system(action="test.public")
    finally:
        connection.set_tenant(tenant)


def test_tenant_chains_are_independent(tenant, other_tenant):
    alpha_before = _head_seq()
    connection.set_tenant(other_tenant)
    beta_event = audit_record_system(action="test.beta")
    assert audit_chain_verify().ok
    connection.set_tenant(tenant)
    assert _head_seq() == alpha_before
    assert not AuditEvent.objects.filter(hash=beta_event.hash).exists()


@override_settings(WARDEN_AUDIT_CHECKPOINT_EVERY=5)
def test_checkpoint_every_n_events(tenant):
    before = AuditCheckpoint.objects.count()
    events = [audit_record_system(action="test.tick", payload={"i": i}) for i in range(12)]
    signed = list(AuditCheckpoint.objects.filter(seq__gte=events[0].seq).order_by("seq"))
    assert len(signed) == AuditCheckpoint.objects.count() - before
    assert [cp.seq % 5 for cp in signed] == [0] * len(signed)
    assert len(signed) >= 2
    by_seq = {e.seq: e for e in events}
    for cp in signed:
        assert cp.hash == by_seq[cp.seq].hash
        assert cp.key_id == "test-k1"
        assert cp.algorithm == "hmac-sha256"
        assert cp.signature == verify.checkpoint_signature(
            key=settings.WARDEN_AUDIT_SIGNING_KEY.encode(), tenant_id="t_alpha", seq=cp.seq, hash=cp.hash
        )
    result = audit_chain_verify()
    assert result.ok
    assert result.checkpoints_verified >= len(signed)


@override_settings(WARDEN_AUDIT_CHECKPOINT_EVERY=0, WARDEN_AUDIT_CHECKPOINT_MINUTES=60)
def test_checkpoint_when_due_by_time(tenant):
    now = timezone.now()
    audit_record_system(action="test.tick")
    first = audit_checkpoint_if_due(now=now)
    head = AuditHead.objects.get()
    if first is None:  # the head was already signed less than an hour ago: make it unsigned
        audit_record_system(action="test.tick")
        head = AuditHead.objects.get()
        assert audit_checkpoint_if_due(now=now) is None  # signed recently: not due
        first = audit_checkpoint_if_due(now=now + timedelta(minutes=61))
    assert first is not None
    assert (first.seq, first.hash) == (head.seq, head.hash)
    assert audit_checkpoint_if_due(now=now + timedelta(minutes=200)) is None  # nothing new to sign
    audit_record_system(action="test.tick")
    assert audit_checkpoint_if_due(now=first.created_at + timedelta(minutes=30)) is None
    second = audit_checkpoint_if_due(now=first.created_at + timedelta(minutes=61))
    assert second is not None
    assert second.seq == first.seq + 1
    assert audit_chain_verify().ok


def test_checkpoint_create_signs_the_head_once(tenant):
    audit_record_system(action="test.tick")
    cp = audit_checkpoint_create()
    assert cp.seq == _head_seq()
    assert audit_checkpoint_create().pk == cp.pk


def test_checkpoint_task_runs_in_the_tenant(tenant):
    from apps.audit.tasks import audit_checkpoint_if_due_task

    audit_record_system(action="test.tick")
    with override_settings(WARDEN_AUDIT_CHECKPOINT_MINUTES=0):
        result = audit_checkpoint_if_due_task.apply()
    assert result.get() == _head_seq()


def test_periodic_entry_is_registered():
    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "audit-checkpoints")
    assert entry.tenant_task == "audit.checkpoint_if_due"
