"""Helpers for the audit tests: build valid chains without a database."""

from __future__ import annotations

import copy
import random

import pytest

from apps.audit import verify

TEST_KEY = b"unit-test-checkpoint-key"
TEST_KEY_ID = "unit-k1"


def _payload(rng: random.Random, seq: int) -> dict:
    choices = [
        {"from": "new", "to": "open", "ticket": seq},
        {"note": 'naïve café ☕ \u2028 "quoted" \\ back', "n": -seq},
        {"nested": {"list": [1, "two", None, True, False], "emoji": "\U0001f600"}, "z": {}},
        {},
        {"title": {"sha256": "ab" * 32, "length": seq}},
    ]
    return rng.choice(choices)


def build_segment(
    n: int = 40,
    *,
    tenant_id: str = "t_unit",
    checkpoint_every: int = 10,
    key: bytes = TEST_KEY,
    key_id: str = TEST_KEY_ID,
    seed: int = 7,
) -> dict:
    """A valid exported segment of `n` events, signed every `checkpoint_every`."""
    rng = random.Random(seed)
    rows, checkpoints = [], []
    prev = verify.GENESIS_HASH
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "created_at": f"2025-03-04T05:06:{seq % 60:02d}.{seq:06d}Z",
            "actor_id": rng.choice([None, 1, 2, 30]),
            "actor_label": rng.choice(["system", "admin@alpha.test", "platform:ops@warden.test"]),
            "action": rng.choice(["ticket.transitioned", "user.created", "tenant.provisioned"]),
            "target_type": "tickets.ticket",
            "target_id": str(seq * 3),
            "request_id": f"req-{seq}",
            "payload": verify.canonicalize(_payload(rng, seq)).decode("utf-8"),
            "prev_hash": prev,
        }
        row["hash"] = rehash(row, tenant_id=tenant_id)
        prev = row["hash"]
        rows.append(row)
        if checkpoint_every and seq % checkpoint_every == 0:
            checkpoints.append(sign(seq=seq, digest=prev, tenant_id=tenant_id, key=key, key_id=key_id))
    return {
        "format": verify.SEGMENT_FORMAT,
        "tenant_id": tenant_id,
        "since_seq": 1,
        "anchor_hash": None,
        "exported_at": "2025-03-04T06:00:00.000000Z",
        "head": {"seq": n, "hash": prev},
        "checkpoints": checkpoints,
        "rows": rows,
    }


def rehash(row: dict, *, tenant_id: str) -> str:
    """What an attacker without the key can always do: recompute a row's hash."""
    return verify.event_hash(
        tenant_id=tenant_id,
        seq=row["seq"],
        prev_hash=row["prev_hash"],
        created_at=row["created_at"],
        actor_id=row["actor_id"],
        actor_label=row["actor_label"],
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        request_id=row["request_id"],
        payload=row["payload"].encode("utf-8"),
    )


def relink_from(segment: dict, index: int) -> None:
    """Recompute prev_hash/hash from rows[index] on, and the head (no key needed)."""
    rows = segment["rows"]
    for i in range(index, len(rows)):
        if i > 0:
            rows[i]["prev_hash"] = rows[i - 1]["hash"]
        rows[i]["hash"] = rehash(rows[i], tenant_id=segment["tenant_id"])
    segment["head"] = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}


def sign(*, seq: int, digest: str, tenant_id: str, key: bytes = TEST_KEY, key_id: str = TEST_KEY_ID) -> dict:
    return {
        "seq": seq,
        "hash": digest,
        "created_at": "2025-03-04T05:59:00.000000Z",
        "key_id": key_id,
        "signature": verify.checkpoint_signature(key=key, tenant_id=tenant_id, seq=seq, hash=digest),
        "algorithm": verify.CHECKPOINT_ALGORITHM,
    }


class ChainKit:
    build = staticmethod(build_segment)
    rehash = staticmethod(rehash)
    relink_from = staticmethod(relink_from)
    sign = staticmethod(sign)
    key = TEST_KEY
    key_id = TEST_KEY_ID
    keys = {TEST_KEY_ID: TEST_KEY}

    @staticmethod
    def copy(segment: dict) -> dict:
        return copy.deepcopy(segment)


@pytest.fixture
def chain() -> type[ChainKit]:
    return ChainKit
