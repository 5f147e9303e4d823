# --- verify_pack: checks a whole Warden evidence pack offline --------------------------
# This part is appended to apps/audit/verify.py to make the pack's standalone
# verify_pack.py (Python standard library only). Run it from the unzipped pack:
#     python verify_pack.py [PACK_DIR_OR_ZIP] [--key KEY_ID=ENV_VAR ...] [--json]
# Exit 0: every file matches the manifest and the audit chain verifies.
# Exit 1: something does not match (the first problem is named). Exit 2: unusable input.

# --- imports (dropped when appended to verify.py, which defines these names) ---
import json
import sys

from apps.audit.verify import verify_segment

# --- end imports ---


def _pack_files(location):
    import os
    import zipfile

    if os.path.isdir(location):
        found = {}
        for folder, _dirs, names in os.walk(location):
            for name in names:
                full = os.path.join(folder, name)
                found[os.path.relpath(full, location).replace(os.sep, "/")] = full
        return {rel: open(path, "rb").read() for rel, path in found.items()}  # noqa: SIM115
    with zipfile.ZipFile(location) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def verify_pack(files, keys=None):
    """`files`: {path in pack: bytes}. Returns (ok, lines, audit_result_dict)."""
    import hashlib
    import hmac

    lines = []
    if "manifest.json" not in files:
        return False, ["manifest.json is missing"], None
    manifest_bytes = files["manifest.json"]
    manifest = json.loads(manifest_bytes)
    listed = manifest.get("files", {})
    for name, digest in sorted(listed.items()):
        if name not in files:
            return False, [f"manifest lists {name}, which is missing"], None
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != digest:
            return False, [f"{name}: sha256 {actual} does not match the manifest ({digest})"], None
    extra = sorted(set(files) - set(listed) - {"manifest.json", "manifest.sig"})
    if extra:
        return False, [f"files not in the manifest: {', '.join(extra)}"], None
    lines.append(f"manifest: {len(listed)} files match")
    signature = files.get("manifest.sig", b"").decode("ascii", "replace").strip()
    key_id, _, mac = signature.partition(":")
    if keys and key_id in keys:
        key = keys[key_id]
        expected = hmac.new(key if isinstance(key, bytes) else key.encode(), manifest_bytes, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            return False, [f"manifest signature does not verify with key {key_id}"], None
        lines.append(f"manifest signature: valid (key {key_id})")
    else:
        lines.append(f"manifest signature: not checked (no key {key_id or '?'} given)")
    segment = json.loads(files["audit/segment.json"])
    result = verify_segment(segment, keys=keys or None)
    lines.append("audit chain: " + result.line())
    return result.ok, lines, result.as_dict()


def pack_main(argv=None):
    import argparse
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Verify a Warden evidence pack offline.")
    parser.add_argument("pack", nargs="?", default=here, help="the unzipped pack folder or the .zip (default: here)")
    parser.add_argument("--key", action="append", default=[], metavar="KEY_ID=ENV_VAR",
                        help="an audit signing key, read from an environment variable")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    keys = {}
    for spec in args.key:
        key_id, _, env_name = spec.partition("=")
        if not env_name or env_name not in os.environ:
            print(f"error: --key {spec}: environment variable not set", file=sys.stderr)
            return 2
        keys[key_id] = os.environ[env_name].encode("utf-8")
    try:
        ok, lines, audit = verify_pack(_pack_files(args.pack), keys=keys)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": ok, "checks": lines, "audit": audit}, indent=2))
    else:
        print("\n".join(lines))
        print("PACK OK" if ok else "PACK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(pack_main())
