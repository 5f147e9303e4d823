"""The pure verifier (apps/audit/verify.py): no database involved."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct

import pytest

from apps.audit import verify


def _lp(data: bytes) -> bytes:
    return struct.pack(">Q", len(data)) + data


def test_event_hash_known_answer():
    """The layout documented in docs/audit.md, built by hand."""
    fields = [
        b"warden.audit.v1",
        b"t_alpha",
        b"1",
        b"0" * 64,
        b"2025-01-02T03:04:05.678901Z",
        b"7",
        b"admin@alpha.test",
        b"ticket.transitioned",
        b"tickets.ticket",
        b"42",
        b"req-1",
        b'{"from":"new","to":"open"}',
    ]
    expected = hashlib.sha256(b"".join(_lp(f) for f in fields)).hexdigest()
    assert expected == "28f5a121abd7e3f502c17da764db3136ac5a25161b764a8b7b32a017a1aa4130"
    assert (
        verify.event_hash(
            tenant_id="t_alpha",
            seq=1,
            prev_hash=verify.GENESIS_HASH,
            created_at="2025-01-02T03:04:05.678901Z",
            actor_id=7,
            actor_label="admin@alpha.test",
            action="ticket.transitioned",
            target_type="tickets.ticket",
            target_id="42",
            request_id="req-1",
            payload=b'{"from":"new","to":"open"}',
        )
        == expected
    )


def test_checkpoint_signature_known_answer():
    signature = verify.checkpoint_signature(key=b"example-key", tenant_id="t_alpha", seq=1, hash="ab" * 32)
    assert signature == "f5a0c35f4f2d4ab68715d6c1863b6ebcc2e287f0aff06e7e2d96c20e64bdadaf"


def test_fields_are_unambiguous():
    """Moving bytes between adjacent fields changes the hash (length prefixes)."""
    common = dict(
        tenant_id="t", seq=1, prev_hash=verify.GENESIS_HASH, created_at="x", actor_id=None,
        target_type="", target_id="", request_id="", payload=b"{}",
    )  # fmt: skip
    a = verify.event_hash(actor_label="ab", action="c", **common)
    b = verify.event_hash(actor_label="a", action="bc", **common)
    assert a != b
    assert verify.event_hash(actor_label="", action="x", **{**common, "actor_id": None}) != verify.event_hash(
        actor_label="", action="x", **{**common, "actor_id": 0}
    )


def test_intact_segment(chain):
    segment = chain.build(40)
    result = verify.verify_segment(segment, keys=chain.keys)
    assert result.ok, result
    assert (result.head_seq, result.head_hash) == (40, segment["rows"][-1]["hash"])
    assert result.checkpoints_verified == 4
    assert result.rows_checked == 40
    assert result.failure is None
    assert result.first_bad_seq is None
    assert result.line().startswith("OK head_seq=40 ")


def test_survives_a_json_round_trip(chain):
    segment = json.loads(json.dumps(chain.build(25)))
    assert verify.verify_segment(segment, keys=chain.keys).ok


def test_empty_chain_is_intact():
    segment = {"format": verify.SEGMENT_FORMAT, "tenant_id": "t", "since_seq": 1, "rows": [], "checkpoints": []}
    result = verify.verify_segment(segment, keys={})
    assert result.ok
    assert result.head_seq == 0
    assert result.head_hash == verify.GENESIS_HASH


def _check(segment, chain, failure, seq, keys="default"):
    result = verify.verify_segment(segment, keys=chain.keys if keys == "default" else keys)
    assert not result.ok
    assert (result.failure, result.first_bad_seq) == (failure, seq), result
    assert result.line().startswith(f"FAIL seq={seq} failure={failure}")
    return result


def test_deleted_row_is_a_gap(chain):
    segment = chain.build(40)
    del segment["rows"][16]  # seq 17
    _check(segment, chain, verify.GAP, 17)


def test_deleted_first_row_is_a_gap(chain):
    segment = chain.build(5, checkpoint_every=0)
    del segment["rows"][0]
    _check(segment, chain, verify.GAP, 1)


def test_swapped_rows_are_a_gap(chain):
    segment = chain.build(40)
    rows = segment["rows"]
    rows[5], rows[6] = rows[6], rows[5]
    _check(segment, chain, verify.GAP, 6)


def test_swapped_contents_with_renumbered_seqs_break_the_links(chain):
    segment = chain.build(40)
    rows = segment["rows"]
    rows[5], rows[6] = rows[6], rows[5]
    rows[5]["seq"], rows[6]["seq"] = 6, 7
    _check(segment, chain, verify.PREV_HASH_MISMATCH, 6)


def test_duplicated_row_is_a_gap(chain):
    segment = chain.build(40)
    segment["rows"].insert(9, dict(segment["rows"][8]))
    _check(segment, chain, verify.GAP, 10)


def test_changed_prev_hash(chain):
    segment = chain.build(40)
    segment["rows"][11]["prev_hash"] = "f" * 64
    _check(segment, chain, verify.PREV_HASH_MISMATCH, 12)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_at", "2030-01-01T00:00:00.000000Z"),
        ("actor_id", 999),
        ("actor_id", None),
        ("actor_label", "someone-else@alpha.test"),
        ("action", "ticket.deleted"),
        ("target_type", "accounts.user"),
        ("target_id", "1"),
        ("request_id", "forged"),
        ("payload", '{"forged":true}'),
        ("hash", "a" * 64),
    ],
)
def test_changed_field_is_a_hash_mismatch(chain, field, value):
    segment = chain.build(40)
    row = segment["rows"][20]
    if row[field] == value:
        value = 12345 if field == "actor_id" else value + "x"
    row[field] = value
    _check(segment, chain, verify.HASH_MISMATCH, 21)


@pytest.mark.parametrize(
    "payload",
    ['{"a": 1}', '{"b":1,"a":2}', '{"a":1.5}', "[]", "not json", '{"a":"\\u0041"}'],
)
def test_non_canonical_payload(chain, payload):
    segment = chain.build(40)
    segment["rows"][3]["payload"] = payload
    _check(segment, chain, verify.NON_CANONICAL_PAYLOAD, 4)


def test_payload_as_base64_bytes(chain):
    segment = chain.build(10, checkpoint_every=0)
    row = segment["rows"][4]
    row["payload_b64"] = base64.b64encode(row.pop("payload").encode()).decode()
    assert verify.verify_segment(segment, keys=chain.keys).ok
    row["payload_b64"] = base64.b64encode(b"\xff{}").decode()
    _check(segment, chain, verify.NON_CANONICAL_PAYLOAD, 5)


def test_rows_from_another_tenant_do_not_verify(chain):
    segment = chain.build(10)
    segment["tenant_id"] = "t_beta"
    _check(segment, chain, verify.HASH_MISMATCH, 1)


def test_recomputed_chain_is_caught_by_the_next_checkpoint(chain):
    """An attacker without the key rewrites seq 23 and re-hashes everything after it."""
    segment = chain.build(40)
    segment["rows"][22]["payload"] = '{"rewritten":true}'
    chain.relink_from(segment, 22)
    _check(segment, chain, verify.CHECKPOINT_HEAD, 30)


def test_recomputed_chain_after_the_last_checkpoint_is_not_caught_without_a_later_one(chain):
    """Documented limit: events after the last checkpoint are only as good as the head."""
    segment = chain.build(45)
    segment["rows"][42]["payload"] = '{"rewritten":true}'
    chain.relink_from(segment, 42)
    assert verify.verify_segment(segment, keys=chain.keys).ok


def test_checkpoint_signed_with_another_key(chain):
    segment = chain.build(40)
    cp = segment["checkpoints"][1]
    segment["checkpoints"][1] = chain.sign(
        seq=cp["seq"], digest=cp["hash"], tenant_id=segment["tenant_id"], key=b"wrong key", key_id=chain.key_id
    )
    _check(segment, chain, verify.CHECKPOINT_SIGNATURE, 20)


def test_checkpoint_with_unknown_key_id(chain):
    segment = chain.build(40)
    segment["checkpoints"][0]["key_id"] = "nobody"
    _check(segment, chain, verify.CHECKPOINT_SIGNATURE, 10)


def test_checkpoint_with_unknown_algorithm(chain):
    segment = chain.build(40)
    segment["checkpoints"][0]["algorithm"] = "none"
    _check(segment, chain, verify.CHECKPOINT_SIGNATURE, 10)


def test_forged_checkpoint_for_a_rewritten_chain(chain):
    """Re-signing needs the key: a recomputed chain with a checkpoint the attacker signed."""
    segment = chain.build(40)
    segment["rows"][22]["payload"] = '{"rewritten":true}'
    chain.relink_from(segment, 22)
    for cp in segment["checkpoints"]:
        if cp["seq"] >= 23:
            cp.update(chain.sign(seq=cp["seq"], digest=segment["rows"][cp["seq"] - 1]["hash"],
                                 tenant_id=segment["tenant_id"], key=b"guess"))  # fmt: skip
    _check(segment, chain, verify.CHECKPOINT_SIGNATURE, 30)


def test_tail_truncated_before_the_last_checkpoint(chain):
    segment = chain.build(40)
    del segment["rows"][34:]  # ends at 34; the checkpoint at 40 proves more existed
    chain.relink_from(segment, 33)  # attacker also fixes up the head
    _check(segment, chain, verify.TRUNCATED, 35)


def test_tail_truncated_after_the_last_checkpoint_is_caught_by_the_head(chain):
    segment = chain.build(45)
    del segment["rows"][42:]
    _check(segment, chain, verify.TRUNCATED, 43)


def test_events_beyond_the_head(chain):
    segment = chain.build(20)
    segment["head"] = {"seq": 18, "hash": segment["rows"][17]["hash"]}
    _check(segment, chain, verify.CHECKPOINT_HEAD, 19)


def test_head_hash_mismatch(chain):
    segment = chain.build(20)
    segment["head"]["hash"] = "e" * 64
    _check(segment, chain, verify.CHECKPOINT_HEAD, 20)


def test_without_keys_signatures_are_skipped_but_checkpoint_hashes_checked(chain):
    segment = chain.build(40)
    result = verify.verify_segment(segment, keys=None)
    assert result.ok
    assert not result.signatures_checked
    assert result.checkpoints_verified == 4
    assert "NOT checked" in result.line()
    segment["rows"][22]["payload"] = '{"rewritten":true}'
    chain.relink_from(segment, 22)
    _check(segment, chain, verify.CHECKPOINT_HEAD, 30, keys=None)


def _tail(segment: dict, since: int, *, anchor: bool) -> dict:
    part = dict(segment)
    part["since_seq"] = since
    part["rows"] = [r for r in segment["rows"] if r["seq"] >= since]
    part["checkpoints"] = [c for c in segment["checkpoints"] if c["seq"] >= since - 1]
    part["anchor_hash"] = segment["rows"][since - 2]["hash"] if anchor else None
    return part


def test_segment_from_a_later_seq(chain):
    segment = chain.build(40)
    for since, anchor in ((11, True), (11, False), (15, True), (15, False)):
        result = verify.verify_segment(_tail(segment, since, anchor=anchor), keys=chain.keys)
        assert result.ok, (since, anchor, result)
        assert result.head_seq == 40


def test_segment_anchored_on_a_checkpoint_detects_a_changed_first_link(chain):
    segment = chain.build(40)
    part = _tail(segment, 11, anchor=False)
    part["rows"][0]["prev_hash"] = "c" * 64
    _check(part, chain, verify.PREV_HASH_MISMATCH, 11)


def test_segment_whose_anchor_disagrees_with_the_checkpoint(chain):
    segment = chain.build(40)
    part = _tail(segment, 11, anchor=True)
    part["anchor_hash"] = "d" * 64
    _check(part, chain, verify.CHECKPOINT_HEAD, 10)


def test_segment_missing_its_first_row(chain):
    segment = chain.build(40)
    part = _tail(segment, 15, anchor=True)
    del part["rows"][0]
    _check(part, chain, verify.GAP, 15)


def test_not_a_segment():
    with pytest.raises(ValueError, match="not a Warden audit segment"):
        verify.verify_segment({"rows": []})


# --- 1,000 random mutations --------------------------------------------------------------

_TEXT_FIELDS = ("created_at", "actor_label", "action", "target_type", "target_id", "request_id", "prev_hash", "hash")


def _flip_bit_in_text(text: str, rng: random.Random) -> str:
    data = bytearray(text.encode("utf-8"))
    if not data:
        return "\x01"
    i = rng.randrange(len(data))
    data[i] ^= 1 << rng.randrange(8)
    return data.decode("utf-8", "surrogateescape")


def _mutate(segment: dict, rng: random.Random) -> str:
    rows = segment["rows"]
    kind = rng.choice(
        ["payload_bit", "hash_bit", "field_bit", "actor_id", "seq", "swap", "duplicate", "delete", "checkpoint_bit"]
    )
    i = rng.randrange(len(rows))
    row = rows[i]
    if kind == "payload_bit":
        data = bytearray(row["payload"].encode("utf-8"))
        j = rng.randrange(len(data))
        data[j] ^= 1 << rng.randrange(8)
        try:
            row["payload"] = data.decode("utf-8")
        except UnicodeDecodeError:
            del row["payload"]
            row["payload_b64"] = base64.b64encode(bytes(data)).decode("ascii")
    elif kind == "hash_bit":
        field = rng.choice(["hash", "prev_hash"])
        row[field] = _flip_bit_in_text(row[field], rng)
    elif kind == "field_bit":
        field = rng.choice(_TEXT_FIELDS)
        row[field] = _flip_bit_in_text(row[field], rng)
    elif kind == "actor_id":
        row["actor_id"] = rng.choice([None, 0, 1, 2, 30, 31, -1])
        if row["actor_id"] == segment["_original_actor"][i]:
            row["actor_id"] = 10**6
    elif kind == "seq":
        row["seq"] ^= 1 << rng.randrange(12)
    elif kind == "swap":
        j = rng.choice([k for k in range(len(rows)) if k != i])
        rows[i], rows[j] = rows[j], rows[i]
    elif kind == "duplicate":
        rows.insert(rng.randrange(len(rows) + 1), dict(row))
    elif kind == "delete":
        del rows[i]
    elif kind == "checkpoint_bit":
        cp = rng.choice(segment["checkpoints"])
        field = rng.choice(["hash", "signature"])
        cp[field] = _flip_bit_in_text(cp[field], rng)
    return kind


def test_a_thousand_random_mutations_are_all_detected(chain):
    rng = random.Random(20250304)
    original = chain.build(40, checkpoint_every=10)
    assert verify.verify_segment(original, keys=chain.keys).ok
    seen: dict[str, int] = {}
    failures: dict[str, int] = {}
    for attempt in range(1000):
        segment = chain.copy(original)
        segment["_original_actor"] = [r["actor_id"] for r in original["rows"]]
        kind = _mutate(segment, rng)
        seen[kind] = seen.get(kind, 0) + 1
        result = verify.verify_segment(segment, keys=chain.keys)
        assert not result.ok, f"mutation #{attempt} ({kind}) went undetected"
        assert result.failure in verify.FAILURES
        assert result.first_bad_seq is not None
        failures[result.failure] = failures.get(result.failure, 0) + 1
    assert len(seen) == 9  # every kind of mutation was exercised
    assert {verify.GAP, verify.HASH_MISMATCH, verify.PREV_HASH_MISMATCH, verify.NON_CANONICAL_PAYLOAD} <= set(failures)


# --- the stand-alone command line ----------------------------------------------------------


def test_command_line(chain, tmp_path, monkeypatch, capsys):
    path = tmp_path / "segment.json"
    segment = chain.build(30)
    path.write_text(json.dumps(segment), encoding="utf-8")
    monkeypatch.setenv("UNIT_AUDIT_KEY", chain.key.decode())
    assert verify.main([str(path), "--key", f"{chain.key_id}=UNIT_AUDIT_KEY"]) == 0
    assert capsys.readouterr().out.startswith("OK head_seq=30")

    segment["rows"][7]["action"] = "forged.action"
    path.write_text(json.dumps(segment), encoding="utf-8")
    assert verify.main([str(path), "--key", f"{chain.key_id}=UNIT_AUDIT_KEY", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["failure"], out["first_bad_seq"]) == ("hash_mismatch", 8)

    assert verify.main([str(path), "--key", "k=UNSET_VARIABLE_FOR_TEST"]) == 2
    assert verify.main([str(tmp_path / "missing.json")]) == 2
