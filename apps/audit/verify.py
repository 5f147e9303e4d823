"""The audit chain format and its verifier, as the app imports them. Standard library only.

This is the single definition of the audit chain format: the service that appends events
imports its hashing and checkpoint functions from here, the selectors the verifier. The
code lives in the parts under apps/audit/verifier/, one concern each (canonical JSON,
event hashing and checkpoint messages, Ed25519, the chain verifier, the command line);
this module re-exports their public names. Evidence packs ship the same parts joined
into one stand-alone file, verify_pack.py (apps/audit/verifier/assemble.py).

    python -m apps.audit.verify SEGMENT.json [--key KEY_ID=ENV_VAR] [--public-key KEY_ID=HEX] [--json]

The format is described in the docstrings of `verifier.hashing` and `verifier.canonical`
and in docs/audit.md.
"""

from __future__ import annotations

import sys

from .verifier.canonical import MAX_SAFE_INTEGER, NonCanonicalError, canonicalize, check_payload, parse_canonical
from .verifier.chain import (
    CHECKPOINT_HEAD,
    CHECKPOINT_SIGNATURE,
    FAILURES,
    GAP,
    HASH_MISMATCH,
    NON_CANONICAL_PAYLOAD,
    NOT_GIVEN,
    PREV_HASH_MISMATCH,
    SEGMENT_FORMAT,
    TRUNCATED,
    ChainVerifier,
    KeyLookup,
    VerifyKeys,
    VerifyResult,
    verify_rows,
    verify_segment,
)
from .verifier.cli import main
from .verifier.ed25519 import Ed25519PublicKey, ed25519_verify
from .verifier.hashing import (
    CHECKPOINT_ALGORITHM,
    CHECKPOINT_DOMAIN_TAG,
    ED25519,
    EVENT_DOMAIN_TAG,
    GENESIS_HASH,
    HMAC_SHA256,
    checkpoint_message,
    checkpoint_signature,
    event_hash,
    event_hash_prefix,
    event_hash_suffix,
    format_timestamp,
)

__all__ = [
    # canonical JSON
    "MAX_SAFE_INTEGER",
    "NonCanonicalError",
    "canonicalize",
    "check_payload",
    "parse_canonical",
    # hashing and checkpoint messages
    "CHECKPOINT_ALGORITHM",
    "CHECKPOINT_DOMAIN_TAG",
    "ED25519",
    "EVENT_DOMAIN_TAG",
    "GENESIS_HASH",
    "HMAC_SHA256",
    "checkpoint_message",
    "checkpoint_signature",
    "event_hash",
    "event_hash_prefix",
    "event_hash_suffix",
    "format_timestamp",
    # Ed25519
    "Ed25519PublicKey",
    "ed25519_verify",
    # the chain verifier
    "CHECKPOINT_HEAD",
    "CHECKPOINT_SIGNATURE",
    "FAILURES",
    "GAP",
    "HASH_MISMATCH",
    "NON_CANONICAL_PAYLOAD",
    "NOT_GIVEN",
    "PREV_HASH_MISMATCH",
    "SEGMENT_FORMAT",
    "TRUNCATED",
    "ChainVerifier",
    "KeyLookup",
    "VerifyKeys",
    "VerifyResult",
    "verify_rows",
    "verify_segment",
    # the command line
    "main",
]

if __name__ == "__main__":
    sys.exit(main())
