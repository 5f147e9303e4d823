"""verify_pack: checks a whole Warden evidence pack offline.

The last section of the pack's stand-alone verify_pack.py (Python standard library
only), after the audit chain verifier's parts in apps/audit/verifier/, which define the
names imported from them here (apps/audit/verifier/assemble.py joins the files). The app
imports this module too: evidence.py writes the pack's files with the same functions the
pack's checks use. Run it from the unzipped pack:

    python verify_pack.py [PACK_DIR_OR_ZIP] [--key KEY_ID=ENV_VAR ...] [--trust KEY_ID=FINGERPRINT ...] [--json]

Exit 0: every file is the one Warden wrote, every signature verifies, and the files
        agree with each other and with the audit chain.
Exit 1: something does not; every problem found is listed, each naming its file.
Exit 2: unusable input (no such file, not a zip, a --key variable not set).
Exit 3: nothing is wrong as far as could be checked, but HMAC signatures could not be
        checked without the key (give it with --key): the pack is NOT verified.
"""

import hashlib
import hmac
import json
import sys
from datetime import datetime

from .verifier.chain import NOT_GIVEN, SEGMENT_FORMAT, _as_int, verify_segment
from .verifier.ed25519 import Ed25519PublicKey
from .verifier.hashing import ED25519, HMAC_SHA256

PACK_FORMAT = "warden.evidence.v1"
PACK_MANIFEST = "manifest.json"
PACK_SIGNATURE = "manifest.sig"
PACK_SEGMENT = "audit/segment.json"
PACK_KEYS = "audit/keys.json"
PACK_VERSIONS = "policies/versions.json"
PACK_DECISIONS = "policies/decisions.jsonl"
PACK_DEPLOYMENT = "deployment.json"
PACK_RESIDENCY = "residency.json"
PACK_WRITES = "triage/writes.jsonl"
PACK_CONTENT_FILES = (
    "README.txt",
    PACK_RESIDENCY,
    PACK_DEPLOYMENT,
    PACK_VERSIONS,
    PACK_DECISIONS,
    PACK_WRITES,
    PACK_SEGMENT,
    PACK_KEYS,
    "verify_pack.py",
)
PACK_FILES = (PACK_MANIFEST, PACK_SIGNATURE, *PACK_CONTENT_FILES)
PACK_DECISION_FIELDS = ("id", "created_at", "actor_label", "action", "resource_type", "resource_id", "facts",
                        "outcome", "allowed", "reasons", "rule_version", "mode")
PACK_DECISION_EVENTS = ("policy.denied", "policy.allowed", "policy.error")
# Writes that triage decisions sent to outside systems, one line per `triage.written_back`
# audit event: what proposed it (classifier, rule or model and prompt template hash), who
# approved it and where, the policy version, and the undo record.
PACK_WRITE_EVENT = "triage.written_back"
PACK_WRITE_FIELDS = ("seq", "proposal_id", "ticket_id", "status", "classifier", "rule", "model", "prompt_version",
                     "prompt_hash", "confidence", "approved_by", "channel", "policy_version", "undo")
PACK_OK, PACK_FAILED, PACK_UNVERIFIED = "ok", "failed", "unverified"


def pack_json(data) -> bytes:
    """The one way every JSON file of a pack is written (evidence.py uses this too)."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def pack_decision_line(row) -> bytes:
    return json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def pack_write_line(event) -> bytes:
    """The line of triage/writes.jsonl for one `triage.written_back` audit event (decoded)."""
    payload = event["payload"]
    row = {"seq": event["seq"], **{name: payload.get(name) for name in PACK_WRITE_FIELDS if name != "seq"}}
    return json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"


def pack_writes(events) -> bytes:
    """triage/writes.jsonl from the segment's decoded events (evidence.py writes it so)."""
    return b"".join(pack_write_line(e) for e in events if e["action"] == PACK_WRITE_EVENT)


def pack_rules_digest(rules) -> str:
    """SHA-256 of a version's rules, as the `policy.published` audit event records it."""
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pack_files(location):
    import os
    import zipfile

    if os.path.isdir(location):
        found = {}
        for folder, _dirs, names in os.walk(location):
            for name in names:
                full = os.path.join(folder, name)
                rel = os.path.relpath(full, location).replace(os.sep, "/")
                if rel.startswith("__pycache__/"):
                    continue  # left by running verify_pack.py from the folder
                with open(full, "rb") as handle:
                    found[rel] = handle.read()
        return found
    with zipfile.ZipFile(location) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


class _Pack:
    """The checks of one pack. Every problem is recorded as (file, message), and checking
    goes on after a problem wherever the data still allows it."""

    def __init__(self, files, hmac_keys, trusted):
        self.files = files
        self.hmac_keys = {k: (v.encode("utf-8") if isinstance(v, str) else bytes(v)) for k, v in (hmac_keys or {}).items()}
        self.trusted = dict(trusted or {})
        self.problems = []
        self.notes = []
        self.unverified = []
        self.parsed = {}
        self.audit = None

    def problem(self, name, message):
        self.problems.append((name, message))

    # -- reading

    def _json(self, name, *, canonical=True):
        """The parsed JSON of `name`, or None (with a problem) when it is missing or broken."""
        if name in self.parsed:
            return self.parsed[name]
        value = None
        data = self.files.get(name)
        if data is not None:
            try:
                value = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                self.problem(name, f"not valid JSON ({exc})")
            else:
                if not isinstance(value, dict):
                    self.problem(name, "not a JSON object")
                    value = None
                elif canonical and pack_json(value) != data:
                    self.problem(name, "not in the exact form Warden writes (edited by hand?)")
        self.parsed[name] = value
        return value

    # -- checks

    def check_file_list(self):
        for name in PACK_FILES:
            if name not in self.files:
                self.problem(name, "missing from the pack")
        for name in sorted(set(self.files) - set(PACK_FILES)):
            self.problem(name, "not part of a Warden evidence pack")

    def check_manifest(self):
        manifest = self._json(PACK_MANIFEST)
        if manifest is None:
            return
        if manifest.get("format") != PACK_FORMAT:
            self.problem(PACK_MANIFEST, f"format is {manifest.get('format')!r}, expected {PACK_FORMAT!r}")
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            self.problem(PACK_MANIFEST, "has no file list")
            return
        for name in PACK_CONTENT_FILES:
            if name not in listed:
                self.problem(PACK_MANIFEST, f"does not list {name}")
        for name in sorted(set(listed) - set(PACK_CONTENT_FILES)):
            self.problem(PACK_MANIFEST, f"lists {name}, which is not part of a Warden evidence pack")
        matched = 0
        for name in PACK_CONTENT_FILES:
            if name not in listed or name not in self.files:
                continue
            actual = hashlib.sha256(self.files[name]).hexdigest()
            if actual != listed[name]:
                self.problem(name, f"sha256 {actual} does not match {PACK_MANIFEST} ({listed[name]})")
            else:
                matched += 1
        self.notes.append(f"manifest: {matched} of {len(PACK_CONTENT_FILES)} files match")

    def public_keys(self):
        data = self._json(PACK_KEYS)
        found = {}
        if data is None:
            return found
        entries = data.get("keys")
        if not isinstance(entries, dict):
            self.problem(PACK_KEYS, "has no key list")
            return found
        for key_id, entry in sorted(entries.items()):
            if not isinstance(entry, dict) or entry.get("algorithm") != ED25519:
                self.problem(PACK_KEYS, f"key {key_id!r} is not an Ed25519 public key")
                continue
            try:
                found[key_id] = Ed25519PublicKey.from_hex(str(entry.get("public_key")))
            except ValueError as exc:
                self.problem(PACK_KEYS, f"key {key_id!r}: {exc}")
                continue
            if entry.get("fingerprint") != found[key_id].fingerprint:
                self.problem(PACK_KEYS, f"key {key_id!r}: the fingerprint does not belong to the key")
        for key_id, pinned in sorted(self.trusted.items()):
            key = found.get(key_id)
            if key is None:
                self.problem(PACK_KEYS, f"has no key {key_id!r}, which you asked to trust")
            elif pinned.lower() not in (key.fingerprint, key.hex):
                self.problem(PACK_KEYS, f"key {key_id!r} is not the key you trust (its fingerprint is {key.fingerprint})")
        return found

    def check_signature(self, public):
        data = self.files.get(PACK_SIGNATURE)
        if data is None:
            return None
        try:
            sig = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            sig = None
        if not isinstance(sig, dict) or set(sig) != {"key_id", "algorithm", "signature"} or pack_json(sig) != data:
            self.problem(PACK_SIGNATURE, "not a Warden manifest signature")
            return None
        key_id, algorithm, signature = str(sig["key_id"]), sig["algorithm"], str(sig["signature"])
        manifest = self.files.get(PACK_MANIFEST, b"")
        if algorithm == ED25519:
            key = public.get(key_id)
            if key is None:
                self.problem(PACK_SIGNATURE, f"signed with Ed25519 key {key_id!r}, which {PACK_KEYS} does not hold")
            elif not key.verify(signature, manifest):
                self.problem(PACK_SIGNATURE, f"the signature does not verify {PACK_MANIFEST} with key {key_id!r}")
            else:
                pinned = "trusted" if key_id in self.trusted else (
                    "NOT pinned: compare the fingerprint with the one your Warden operator publishes, or pass --trust"
                )
                self.notes.append(
                    f"manifest signature: valid (Ed25519 key {key_id}, fingerprint {key.fingerprint}; {pinned})"
                )
        elif algorithm == HMAC_SHA256:
            key = self.hmac_keys.get(key_id)
            if key is None and self.hmac_keys:
                given = ", ".join(sorted(self.hmac_keys))
                self.problem(PACK_SIGNATURE, f"signed with HMAC key {key_id!r}, but the key given is {given}")
            elif key is None:
                self.unverified.append(f"{PACK_SIGNATURE}: HMAC key {key_id!r} not given")
                self.notes.append(f"manifest signature: NOT checked (HMAC key {key_id} needed: --key {key_id}=ENV_VAR)")
            elif not hmac.compare_digest(hmac.new(key, manifest, hashlib.sha256).hexdigest(), signature):
                self.problem(PACK_SIGNATURE, f"the signature does not verify {PACK_MANIFEST} with HMAC key {key_id!r}")
            else:
                self.notes.append(f"manifest signature: valid (HMAC key {key_id})")
        else:
            self.problem(PACK_SIGNATURE, f"unknown algorithm {algorithm!r}")
        return sig

    def check_segment(self, public, sig):
        segment = self._json(PACK_SEGMENT)
        if segment is None:
            return None
        if segment.get("format") != SEGMENT_FORMAT:
            self.problem(PACK_SEGMENT, f"format is {segment.get('format')!r}, expected {SEGMENT_FORMAT!r}")
            return None
        skipped = []

        def lookup(key_id):
            if key_id in public:
                return public[key_id]
            if key_id in self.hmac_keys:
                return self.hmac_keys[key_id]
            if not self.hmac_keys:
                skipped.append(key_id)
                return NOT_GIVEN  # an HMAC checkpoint can only be checked with the secret
            return None

        try:
            result = verify_segment(segment, keys=lookup)
        except (TypeError, ValueError) as exc:
            self.problem(PACK_SEGMENT, str(exc))
            return None
        self.audit = result.as_dict()
        if not result.ok:
            self.problem(PACK_SEGMENT, f"audit chain broken: {result.line()}")
            return segment
        if skipped:
            self.unverified.append(f"{PACK_SEGMENT}: HMAC checkpoint signatures (key {', '.join(sorted(set(skipped)))})")
        self.notes.append("audit chain: " + result.line())
        checkpoints = [cp for cp in segment.get("checkpoints") or [] if isinstance(cp, dict)]
        last = max(checkpoints, key=lambda cp: _as_int(cp.get("seq")) or 0) if checkpoints else None
        if last is None or last.get("seq") != result.head_seq:
            self.problem(PACK_SEGMENT, f"does not end on a signed checkpoint (ends at seq {result.head_seq})")
        elif sig is not None and (last.get("key_id"), last.get("algorithm")) != (sig.get("key_id"), sig.get("algorithm")):
            self.problem(PACK_SIGNATURE, "is not signed with the key that signed the audit segment's last checkpoint")
        return segment

    def check_deployment(self, manifest, segment, export_event):
        deployment = self._json(PACK_DEPLOYMENT)
        if deployment is None:
            return
        expected = {"format", "deployment_region", "tenant_schema", "generated_at", "generated_by"}
        if set(deployment) != expected:
            self.problem(PACK_DEPLOYMENT, f"has fields {sorted(deployment)}, expected {sorted(expected)}")
        if deployment.get("format") != PACK_FORMAT:
            self.problem(PACK_DEPLOYMENT, f"format is {deployment.get('format')!r}")
        if segment is not None and deployment.get("tenant_schema") != segment.get("tenant_id"):
            self.problem(PACK_DEPLOYMENT, f"tenant_schema {deployment.get('tenant_schema')!r} is not the audit "
                                          f"segment's tenant {segment.get('tenant_id')!r}")
        if manifest is not None and deployment.get("generated_at") != manifest.get("generated_at"):
            self.problem(PACK_DEPLOYMENT, "generated_at differs from the manifest's")
        if export_event is not None:
            payload = export_event["payload"]
            if deployment.get("generated_at") != payload.get("generated_at"):
                self.problem(PACK_DEPLOYMENT, "generated_at differs from the evidence.exported audit event's")
            if deployment.get("generated_by") != export_event["actor_label"]:
                self.problem(PACK_DEPLOYMENT, "generated_by differs from the actor of the evidence.exported audit event")

    def check_residency(self, manifest, export_event):
        residency = self._json(PACK_RESIDENCY)
        deployment = self.parsed.get(PACK_DEPLOYMENT)
        if residency is None:
            return
        if manifest is not None and residency.get("tenant") != manifest.get("tenant"):
            self.problem(PACK_RESIDENCY, f"tenant {residency.get('tenant')!r} is not the manifest's {manifest.get('tenant')!r}")
        if export_event is not None and residency.get("tenant") != export_event["payload"].get("tenant"):
            self.problem(PACK_RESIDENCY, "tenant differs from the evidence.exported audit event's")
        if deployment is not None and residency.get("deployment_region") != deployment.get("deployment_region"):
            self.problem(PACK_RESIDENCY, "deployment_region differs from deployment.json's")

    def check_versions(self, events):
        versions = self._json(PACK_VERSIONS)
        if versions is None or events is None:
            return None
        listed = versions.get("versions")
        if not isinstance(listed, list):
            self.problem(PACK_VERSIONS, "has no version list")
            return versions
        published = {}
        settings = []
        for event in events:
            if event["action"] == "policy.published":
                published[event["payload"].get("version")] = event
            elif event["action"] == "policy.settings_changed":
                settings.append(event["payload"].get("to") or {})
        numbers = []
        for entry in listed:
            if not isinstance(entry, dict):
                self.problem(PACK_VERSIONS, "holds an entry that is not an object")
                continue
            number = entry.get("number")
            numbers.append(number)
            event = published.get(number)
            if event is None:
                self.problem(PACK_VERSIONS, f"version {number!r} has no policy.published event in the audit chain")
                continue
            payload = event["payload"]
            if pack_rules_digest(entry.get("rules")) != payload.get("rules_sha256"):
                self.problem(PACK_VERSIONS, f"the rules of version {number} are not the ones published (rules_sha256)")
            if entry.get("comment") != payload.get("version_comment"):
                self.problem(PACK_VERSIONS, f"the comment of version {number} differs from the published one")
            if entry.get("created_by") != event["actor_label"]:
                self.problem(
                    PACK_VERSIONS,
                    f"version {number} was published by {event['actor_label']!r}, not {entry.get('created_by')!r}",
                )
        for number in sorted(set(published) - set(numbers), key=str):
            self.problem(PACK_VERSIONS, f"version {number} was published (audit chain) but is missing")
        if len(set(map(str, numbers))) != len(numbers):
            self.problem(PACK_VERSIONS, "lists a version twice")
        latest = max((n for n in published if isinstance(n, int)), default=None)
        if versions.get("current_version") != latest:
            self.problem(
                PACK_VERSIONS,
                f"current_version {versions.get('current_version')!r} is not the last published version {latest!r}",
            )
        in_force = [e.get("number") for e in listed if isinstance(e, dict) and e.get("in_force")]
        if in_force != ([latest] if latest is not None else []):
            self.problem(PACK_VERSIONS, "in_force marks a version other than the current one")
        mode = next((s["mode"] for s in reversed(settings) if "mode" in s), "enforce")
        if versions.get("mode") != mode:
            self.problem(PACK_VERSIONS, f"mode {versions.get('mode')!r} is not the mode the audit chain last set ({mode!r})")
        audit_allows = next((s["audit_allows"] for s in reversed(settings) if "audit_allows" in s), False)
        if versions.get("audit_allows") != audit_allows:
            self.problem(PACK_VERSIONS, "audit_allows is not what the audit chain last set")
        return versions

    def check_decisions(self, events, versions, manifest):
        data = self.files.get(PACK_DECISIONS)
        if data is None or events is None:
            return
        rows = {}
        previous_id = 0
        for number, line in enumerate(data.splitlines(keepends=True), start=1):
            try:
                row = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self.problem(PACK_DECISIONS, f"line {number} is not JSON")
                continue
            if not isinstance(row, dict) or set(row) != set(PACK_DECISION_FIELDS) or pack_decision_line(row) != line:
                self.problem(PACK_DECISIONS, f"line {number} is not a decision as Warden writes it")
                continue
            if not isinstance(row["id"], int) or row["id"] <= previous_id:
                self.problem(PACK_DECISIONS, f"line {number}: decision ids must increase")
                continue
            previous_id = row["id"]
            rows[row["id"]] = row
        audited = {}
        for event in events:
            if event["action"] in PACK_DECISION_EVENTS and event["payload"].get("decision_id") is not None:
                audited[event["payload"]["decision_id"]] = event
        days = versions.get("decision_log_days") if isinstance(versions, dict) else None
        horizon = None  # decisions older than the retention may be gone; newer ones may not
        if isinstance(days, int) and manifest is not None:
            try:
                horizon = datetime.fromisoformat(str(manifest.get("generated_at"))).timestamp() - (days - 1) * 86400
            except ValueError:
                horizon = None
        for decision_id, event in sorted(audited.items(), key=lambda item: str(item[0])):
            row = rows.get(decision_id)
            if row is None:
                moment = _event_time(event)
                if horizon is not None and (moment is None or moment >= horizon):
                    self.problem(PACK_DECISIONS, f"decision {decision_id} (audit seq {event['seq']}) is missing")
                continue
            payload = event["payload"]
            expected = {
                "action": payload.get("action"),
                "outcome": payload.get("outcome"),
                "mode": payload.get("mode"),
                "reasons": payload.get("reasons"),
                "rule_version": payload.get("rule_version"),
                "resource_type": payload.get("resource_type"),
                "resource_id": payload.get("resource_id"),
                "allowed": not payload.get("enforced"),
                "actor_label": event["actor_label"][:200],
            }
            differing = sorted(field for field, value in expected.items() if row.get(field) != value)
            if differing:
                self.problem(
                    PACK_DECISIONS,
                    f"decision {decision_id} differs from its audit event (seq {event['seq']}) in {', '.join(differing)}",
                )
        for decision_id, row in rows.items():
            if row.get("outcome") != "allowed" and decision_id not in audited:
                self.problem(PACK_DECISIONS, f"decision {decision_id} ({row.get('outcome')}) has no audit event")

    def check_writes(self, events, versions):
        """Each write a triage decision sent is in triage/writes.jsonl as its audit event
        says, and agrees with the decision's event (approver, channel, policy version: a
        published one) and with the connector's write-back event (the undo record)."""
        data = self.files.get(PACK_WRITES)
        if data is None or events is None:
            return
        expected = pack_writes(events)
        if data != expected:
            lines = data.splitlines(keepends=True)
            wanted = set(expected.splitlines(keepends=True))
            for number, line in enumerate(lines, start=1):
                if line not in wanted:
                    self.problem(PACK_WRITES, f"line {number} is not a triage.written_back event of the audit chain")
            for line in sorted(wanted - set(lines)):
                self.problem(PACK_WRITES, f"the write of audit seq {json.loads(line)['seq']} is missing")
        published = set()
        if isinstance(versions, dict):
            published = {v.get("number") for v in versions.get("versions") or [] if isinstance(v, dict)}
        approvals = {}
        writebacks = {}
        for event in events:
            payload = event["payload"]
            if event["action"] == "triage.proposal_approved":
                approvals[payload.get("proposal_id")] = payload
            elif str(event["action"]).startswith("servicenow.writeback_"):
                writebacks[payload.get("writeback_id")] = payload
        for event in events:
            if event["action"] != PACK_WRITE_EVENT:
                continue
            write, seq = event["payload"], event["seq"]
            approval = approvals.get(write.get("proposal_id"))
            if approval is None:
                self.problem(PACK_WRITES, f"seq {seq}: proposal {write.get('proposal_id')} has no approval event")
                continue
            differing = [name for name, key in (("approved_by", "decided_by"), ("channel", "channel"),
                                                ("policy_version", "policy_version"), ("prompt_hash", "prompt_hash"))
                         if write.get(name) != approval.get(key)]
            if differing:
                self.problem(PACK_WRITES, f"seq {seq}: differs from the approval event in {', '.join(differing)}")
            if write.get("policy_version") is not None and write.get("policy_version") not in published:
                self.problem(PACK_WRITES, f"seq {seq}: policy version {write.get('policy_version')} was never published")
            undo = write.get("undo")
            if isinstance(undo, dict):
                sent = writebacks.get(undo.get("writeback_id"))
                if sent is None:
                    self.problem(PACK_WRITES, f"seq {seq}: write-back {undo.get('writeback_id')} has no audit event")
                elif (sent.get("prior"), sent.get("idempotency_key")) != (undo.get("prior"), undo.get("idempotency_key")):
                    self.problem(PACK_WRITES, f"seq {seq}: the undo record differs from the write-back's audit event")

    def run(self):
        self.check_file_list()
        self.check_manifest()
        manifest = self.parsed.get(PACK_MANIFEST)
        public = self.public_keys()
        sig = self.check_signature(public)
        segment = self.check_segment(public, sig)
        events = _decoded_events(segment) if segment is not None and self.audit is not None else None
        export_event = None
        if events is not None:
            exported = [e for e in events if e["action"] == "evidence.exported"
                        and manifest is not None and e["payload"].get("generated_at") == manifest.get("generated_at")]
            if not exported:
                self.problem(PACK_SEGMENT, "holds no evidence.exported event for this pack")
            else:
                export_event = exported[-1]
        self.check_deployment(manifest, segment, export_event)
        self.check_residency(manifest, export_event)
        versions = self.check_versions(events)
        self.check_decisions(events, versions, manifest)
        self.check_writes(events, versions)
        if self.problems:
            return PACK_FAILED
        return PACK_UNVERIFIED if self.unverified else PACK_OK


def _event_time(event):
    try:
        moment = datetime.strptime(event["created_at"][:-1] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None
    return moment.timestamp()


def _decoded_events(segment):
    """The rows with their payloads parsed (the chain already verified them)."""
    events = []
    for row in segment.get("rows") or []:
        try:
            payload = json.loads(row["payload"]) if "payload" in row else {}
        except (TypeError, ValueError):
            payload = {}
        events.append({"seq": row.get("seq"), "action": row.get("action"), "actor_label": str(row.get("actor_label")),
                       "created_at": str(row.get("created_at")), "payload": payload if isinstance(payload, dict) else {}})
    return events


def verify_pack(files, keys=None, trusted=None):
    """`files`: {path in pack: bytes}; `keys`: HMAC keys by id; `trusted`: Ed25519 key
    fingerprints (or public keys, hex) by id. Returns (status, lines, audit_result_dict)
    with status "ok", "failed" or "unverified"."""
    pack = _Pack(files, keys, trusted)
    status = pack.run()
    lines = [f"{name}: {message}" for name, message in pack.problems] + pack.notes
    lines += [f"not verified: {item}" for item in pack.unverified]
    return status, lines, pack.audit


def pack_main(argv=None):
    import argparse
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Verify a Warden evidence pack offline.")
    parser.add_argument("pack", nargs="?", default=here, help="the unzipped pack folder or the .zip (default: here)")
    parser.add_argument("--key", action="append", default=[], metavar="KEY_ID=ENV_VAR",
                        help="an HMAC audit signing key, read from an environment variable")
    parser.add_argument("--trust", action="append", default=[], metavar="KEY_ID=FINGERPRINT",
                        help="pin an Ed25519 key: its SHA-256 fingerprint (or public key, hex) as published")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    keys = {}
    for spec in args.key:
        key_id, _, env_name = spec.partition("=")
        if not env_name or env_name not in os.environ:
            print(f"error: --key {spec}: environment variable not set", file=sys.stderr)
            return 2
        keys[key_id] = os.environ[env_name].encode("utf-8")
    trusted = {}
    for spec in args.trust:
        key_id, _, value = spec.partition("=")
        if not value:
            print(f"error: --trust {spec}: give KEY_ID=FINGERPRINT", file=sys.stderr)
            return 2
        trusted[key_id] = value.strip()
    try:
        status, lines, audit = verify_pack(_pack_files(args.pack), keys=keys, trusted=trusted)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"status": status, "ok": status == PACK_OK, "checks": lines, "audit": audit}, indent=2))
    else:
        print("\n".join(lines))
        print({PACK_OK: "PACK OK", PACK_FAILED: "PACK FAILED", PACK_UNVERIFIED: "PACK NOT VERIFIED"}[status])
    return {PACK_OK: 0, PACK_FAILED: 1, PACK_UNVERIFIED: 3}[status]


if __name__ == "__main__":
    sys.exit(pack_main())
