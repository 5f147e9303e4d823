"""Event hashes and checkpoint messages: the audit chain format itself.

* Every event is hashed as SHA-256 over a sequence of length-prefixed fields
  (8-byte big-endian length, then the bytes):

      "warden.audit.v1", tenant id, seq, prev_hash, created_at, actor_id,
      actor_label, action, target_type, target_id, request_id, payload

  Text is UTF-8; seq and actor_id are ASCII decimal (actor_id empty when none);
  prev_hash is the previous event's hash as 64 lower-case hex characters (64 zeros
  for seq 1); created_at is `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC); payload is the
  stored RFC 8785 canonical JSON bytes.
* A checkpoint signs the length-prefixed fields "warden.audit.checkpoint.v1",
  tenant id, seq, hash, with HMAC-SHA256 (`hmac-sha256`, a shared secret) or Ed25519
  (`ed25519`, RFC 8032; verified with the public key only).

The appending service imports these functions (through apps.audit.verify), so the app
and the verifier share one definition. Standard library only: a part of the pack's
verify_pack.py (apps/audit/verifier/__init__.py).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from datetime import datetime, timezone

EVENT_DOMAIN_TAG = b"warden.audit.v1"
CHECKPOINT_DOMAIN_TAG = b"warden.audit.checkpoint.v1"
CHECKPOINT_ALGORITHM = "hmac-sha256"  # the default; HMAC_SHA256
HMAC_SHA256 = CHECKPOINT_ALGORITHM
ED25519 = "ed25519"
GENESIS_HASH = "0" * 64


_LENGTH = struct.Struct(">Q").pack


def _field(data: bytes) -> bytes:
    return _LENGTH(len(data)) + data


def _text(value: object) -> bytes:
    # surrogatepass: malformed input must hash to *something* (and then mismatch),
    # never crash the verifier.
    return str(value).encode("utf-8", "surrogatepass")


def format_timestamp(moment: datetime) -> str:
    """The hashed form of created_at: UTC, microseconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: UP017 (runs on 3.9+)


def event_hash_prefix(*, tenant_id: str) -> bytes:
    """The fields before `seq`: F(domain tag) || F(tenant id)."""
    return _field(EVENT_DOMAIN_TAG) + _field(_text(tenant_id))


def event_hash_suffix(
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    payload: bytes,
) -> bytes:
    """The fields after `created_at`, through the payload."""
    return b"".join(
        _field(part)
        for part in (
            b"" if actor_id is None else _text(actor_id),
            _text(actor_label),
            _text(action),
            _text(target_type),
            _text(target_id),
            _text(request_id),
            bytes(payload),
        )
    )


def event_hash(
    *,
    tenant_id: str,
    seq: int,
    prev_hash: str,
    created_at: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    payload: bytes,
) -> str:
    """Hex SHA-256 of one event (see the module docstring for the exact layout).

    The layout is prefix || F(seq) || F(prev_hash) || F(created_at) || suffix: the
    appending service computes the same digest inside PostgreSQL from the prefix and
    suffix built here, because seq, prev_hash and created_at are only known under the
    chain head's lock (docs/decisions/0010-audit-append-in-one-statement.md).
    """
    digest = hashlib.sha256(event_hash_prefix(tenant_id=tenant_id))
    for part in (_text(seq), _text(prev_hash), _text(created_at)):
        digest.update(_field(part))
    digest.update(
        event_hash_suffix(
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=request_id,
            payload=payload,
        )
    )
    return digest.hexdigest()


def checkpoint_message(*, tenant_id: str, seq: int, hash: str) -> bytes:  # noqa: A002
    return b"".join(_field(p) for p in (CHECKPOINT_DOMAIN_TAG, _text(tenant_id), _text(seq), _text(hash)))


def checkpoint_signature(*, key: bytes, tenant_id: str, seq: int, hash: str) -> str:  # noqa: A002
    message = checkpoint_message(tenant_id=tenant_id, seq=seq, hash=hash)
    return hmac.new(key, message, hashlib.sha256).hexdigest()
