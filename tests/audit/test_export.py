"""The exported segment is plain JSON and the offline verifier accepts exactly it."""

from __future__ import annotations

import json

from django.db import connection

from apps.audit import keys, verify
from apps.audit.selectors import audit_export_segment, audit_head_get
from apps.audit.services import audit_checkpoint_create, audit_record_system


def test_export_round_trips_through_json_and_verifies_offline(tenant):
    for i in range(5):
        audit_record_system(action="test.export", payload={"i": i, "note": "naïve ☕"})
    audit_checkpoint_create()
    segment = json.loads(json.dumps(audit_export_segment()))
    assert segment["format"] == verify.SEGMENT_FORMAT
    assert segment["tenant_id"] == connection.schema_name == "t_alpha"
    assert segment["head"] == audit_head_get()
    assert segment["rows"][-1]["seq"] == segment["head"]["seq"]
    assert segment["rows"][0]["seq"] == 1
    assert json.loads(segment["rows"][-1]["payload"]) == {"i": 4, "note": "naïve ☕"}
    result = verify.verify_segment(segment, keys=keys.verification_keys())
    assert result.ok, result
    assert result.checkpoints_verified >= 1
    assert result.signatures_checked


def test_export_from_a_later_seq(tenant):
    events = [audit_record_system(action="test.export", payload={"i": i}) for i in range(6)]
    since = events[3].seq
    segment = audit_export_segment(since_seq=since)
    assert [r["seq"] for r in segment["rows"]] == [e.seq for e in events[3:]]
    assert segment["anchor_hash"] == events[2].hash
    assert verify.verify_segment(segment, keys=keys.verification_keys()).ok


def test_tampered_export_fails_offline(tenant):
    audit_record_system(action="test.export", payload={"i": 1})
    segment = audit_export_segment()
    segment["rows"][-1]["payload"] = '{"i":2}'
    result = verify.verify_segment(segment, keys=keys.verification_keys())
    assert (result.failure, result.first_bad_seq) == ("hash_mismatch", segment["rows"][-1]["seq"])


def test_verifier_module_is_standard_library_only():
    """verify.py must run alone inside an evidence pack."""
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(verify.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
