"""The proof of an applied triage write: its audit event carries the classifier, the
approver and channel, the policy version and the undo record; the evidence pack lists it
in triage/writes.jsonl, and verify_pack.py (offline, standard library only) checks it
against the decision's and the write-back's audit events."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from apps.audit.evidence import evidence_pack_build
from apps.audit.models import AuditEvent
from apps.triage import services
from tests.audit.test_evidence import _extract, _rehash_manifest, _run, pack_dir  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def written(snow, routed, agent_user, relay):
    snow.add_group("Database")
    sys_id, ticket, proposal = routed()
    services.proposal_decide(actor=agent_user, proposal_id=proposal.pk, verdict="approve", version=1)
    relay()
    proposal.refresh_from_db()
    assert proposal.writeback_status == "sent"
    return proposal


def test_the_write_carries_its_proof_in_one_audit_event(written, agent_user):
    event = AuditEvent.objects.get(action="triage.written_back")
    proof = event.payload_data
    assert (proof["proposal_id"], proof["status"], proof["classifier"], proof["rule"]) == (
        written.pk, "sent", "rules", "ServiceNow incidents")
    assert (proof["approved_by"], proof["channel"]) == (agent_user.email, "web")
    assert proof["policy_version"] == written.decision.policy_version
    assert proof["undo"]["writeback_id"] == written.writeback_id
    assert proof["undo"]["prior"]["urgency"] == "2"


def test_the_pack_lists_the_write_and_verifies_offline(tenant, admin_user, written, pack_dir):  # noqa: F811
    files = _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    [line] = files["triage/writes.jsonl"].splitlines()
    row = json.loads(line)
    assert (row["proposal_id"], row["approved_by"], row["channel"]) == (written.pk, "agent@alpha.test", "web")
    assert row["undo"]["writeback_id"] == written.writeback_id
    key_id = settings.WARDEN_AUDIT_KEY_ID
    result = _run(pack_dir, "--key", f"{key_id}=AUDIT_KEY", key=settings.WARDEN_AUDIT_SIGNING_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PACK OK" in result.stdout


@pytest.mark.parametrize(("dropped", "message"), [(False, "is not a triage.written_back event"), (True, "is missing")])
def test_an_edited_or_dropped_write_is_caught(tenant, admin_user, written, pack_dir, dropped, message):  # noqa: F811
    _extract(evidence_pack_build(tenant=tenant, actor=admin_user), pack_dir)
    folder = pack_dir[0]
    path = folder / "triage" / "writes.jsonl"
    [line] = path.read_bytes().splitlines()
    row = json.loads(line)
    row["approved_by"] = "someone.else@alpha.test"  # claims another approver
    path.write_bytes(b"" if dropped else json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    _rehash_manifest(folder)
    result = _run(pack_dir)
    assert result.returncode == 1, result.stdout
    assert any(line.startswith("triage/writes.jsonl: ") and message in line for line in result.stdout.splitlines()), \
        result.stdout
