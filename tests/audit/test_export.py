"""The exported segment is plain JSON and the offline verifier accepts exactly it."""

from __future__ import annotations

import json

from django.db import connection

from apps.audit import keys, verify
from apps.audit.selectors import audit_export_segment, audit_head_get
from apps.audit.services import audit_checkpoint_create, audit_record, audit_record_system


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


def test_a_thousand_random_mutations_of_a_real_export_are_all_detected(tenant, admin_user, agent_user, settings):
    """The same 1,000 mutations as test_verify.py, applied to what `audit_export_segment()`
    returns for a chain written by the real services (real timestamps, actors, targets,
    redacted content, request ids, signed checkpoints)."""
    import copy
    import random

    from apps.core import request_id

    from .test_verify import _mutate

    settings.WARDEN_AUDIT_CHECKPOINT_EVERY = 7
    for i in range(30):
        token = request_id.set(f"req-mutation-{i}")
        try:
            if i % 3 == 0:
                audit_record_system(action="test.mutation", payload={"i": i, "note": "naïve ☕ \U0001f600", "n": -i})
            else:
                actor = admin_user if i % 2 else agent_user
                audit_record(actor=actor, action="ticket.transitioned", target=agent_user,
                             payload={"from": "new", "to": "open", "title": f"Printer {i} on fire", "tags": ["a", i]})
        finally:
            request_id.reset(token)
    audit_checkpoint_create()
    original = json.loads(json.dumps(audit_export_segment()))
    verification_keys = keys.verification_keys()
    assert verify.verify_segment(original, keys=verification_keys).ok
    assert len(original["checkpoints"]) >= 4
    rng = random.Random(8785)
    kinds: set[str] = set()
    for attempt in range(1000):
        segment = copy.deepcopy(original)
        segment["_original_actor"] = [row["actor_id"] for row in original["rows"]]
        kinds.add(_mutate(segment, rng))
        result = verify.verify_segment(segment, keys=verification_keys)
        assert not result.ok, f"mutation #{attempt} went undetected"
        assert result.failure in verify.FAILURES
        assert result.first_bad_seq is not None
    assert len(kinds) == 9
