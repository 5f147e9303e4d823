"""The segment verifier's command line: `python -m apps.audit.verify SEGMENT.json`.

Standard library only: a part of the pack's verify_pack.py (apps/audit/verifier/__init__.py),
where `main()` is there to call but the pack's own command line is pack_main's.
"""

from __future__ import annotations

import json
import sys

from .chain import verify_segment
from .ed25519 import Ed25519PublicKey


def main(argv: list[str] | None = None) -> int:
    """`python -m apps.audit.verify SEGMENT.json [--key KEY_ID=ENV_VAR ...] [--public-key KEY_ID=HEX ...] [--json]`.

    Exit 0 when intact, 1 when not, 2 on unusable input. HMAC keys are read from the
    named environment variables so they never appear on a command line; Ed25519 public
    keys are public and given directly.
    """
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Verify a Warden audit chain segment.")
    parser.add_argument("segment", help="JSON file written by the Warden evidence export")
    parser.add_argument("--key", action="append", default=[], metavar="KEY_ID=ENV_VAR", help="an HMAC key")
    parser.add_argument("--public-key", action="append", default=[], metavar="KEY_ID=HEX", help="an Ed25519 key")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    keys: dict[str, bytes | Ed25519PublicKey] = {}
    for spec in args.key:
        key_id, _, env_name = spec.partition("=")
        if not env_name or env_name not in os.environ:
            print(f"error: --key {spec}: environment variable not set", file=sys.stderr)
            return 2
        keys[key_id] = os.environ[env_name].encode("utf-8")
    for spec in args.public_key:
        key_id, _, text = spec.partition("=")
        try:
            keys[key_id] = Ed25519PublicKey.from_hex(text)
        except ValueError as exc:
            print(f"error: --public-key {key_id}: {exc}", file=sys.stderr)
            return 2
    try:
        with open(args.segment, encoding="utf-8") as handle:
            segment = json.load(handle)
        result = verify_segment(segment, keys=keys or None)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.line())
    return 0 if result.ok else 1
