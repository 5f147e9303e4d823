"""The evidence (disclosure) pack: what a tenant hands its auditor.

A zip with a manifest (sha256 of every file) and its signature, the tenant's residency
declaration, the deployment's region, every policy version, the decision log, the audit
chain with its signed checkpoints, the public keys that verify them (Ed25519), and
`verify_pack.py`, which checks all of it offline with the Python standard library only:
each file against the manifest, the signatures, and the files against each other and
against the audit chain (docs/audit.md, Evidence packs).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import keys as audit_keys
from .pack_main import (
    PACK_DECISION_FIELDS,
    PACK_FORMAT,
    PACK_KEYS,
    PACK_WRITES,
    _decoded_events,
    pack_decision_line,
    pack_json,
    pack_writes,
)
from .selectors import audit_export_segment, audit_snapshot
from .services import audit_checkpoint_for_snapshot_head, audit_checkpoint_store, audit_record
from .verifier.assemble import verify_pack_source

_HERE = Path(__file__).resolve().parent
README = """Warden evidence pack
====================

Check it offline (Python 3.9+, standard library only):

    python verify_pack.py            # from the unzipped folder
    python verify_pack.py pack.zip   # or the zip itself

It checks every file against manifest.json, the signature of the manifest and of the
audit checkpoints, the audit hash chain, and that the files agree with each other and
with the audit chain (policy versions, decisions, triage writes, deployment, residency).
Exit 0: verified. Exit 1: something is wrong (every problem is listed with its file).
Exit 3: nothing wrong was found, but HMAC signatures could not be checked (no key).

{signing}

Files: manifest.json (sha256 of every other file), manifest.sig (the manifest's
signature: key id, algorithm, hex), residency.json, deployment.json,
policies/versions.json, policies/decisions.jsonl, triage/writes.jsonl (each write a triage
decision sent: what proposed it, who approved it, the policy version, the undo record),
audit/segment.json (the chain),
audit/keys.json (Ed25519 public keys), verify_pack.py.
"""
SIGNING_ED25519 = """Signatures are Ed25519: the public key is in audit/keys.json and anyone can check
them; nobody can make them without the private key. Make sure the key is Warden's:
compare its fingerprint with the one your Warden operator publishes, and pin it:

    python verify_pack.py --trust {key_id}={fingerprint}"""
SIGNING_HMAC = """Signatures are HMAC-SHA256 with a secret key: to check them, put the tenant's audit
signing key in an environment variable and name it with its key id (whoever holds that
key could also have made the signatures):

    WARDEN_KEY=... python verify_pack.py --key {key_id}=WARDEN_KEY"""


def verifier_source() -> str:
    """verify_pack.py: the audit chain verifier's parts plus the pack checks, one stdlib-only file."""
    return verify_pack_source(_HERE / "pack_main.py")


def _residency(tenant) -> dict:
    from apps.tenants import residency

    return {
        "tenant": tenant.slug,
        "name": tenant.name,
        "home_region": tenant.region,
        "allowed_regions": tenant.effective_allowed_regions,
        "data_mode": tenant.data_mode,
        "deployment_region": residency.deployment_region(),
        "enforced": residency.enforced(),
        "may_serve": residency.may_serve(tenant),
        "storage": residency.storage_location(tenant),
    }


def _policies() -> tuple[bytes, bytes]:
    from apps.policies.models import DecisionLog, PolicySet, PolicyVersion
    from apps.policies.simulation import MAX_DAYS

    policy_set = PolicySet.objects.select_related("current_version").first()
    current = policy_set.current_version.number if policy_set and policy_set.current_version else None
    versions = [
        {
            "number": v.number,
            "in_force": v.number == current,
            "created_at": v.created_at.isoformat(),
            "created_by": v.created_by_label,
            "comment": v.comment,
            "rules": v.rules,
        }
        for v in PolicyVersion.objects.order_by("number")
    ]
    decisions = io.BytesIO()
    for row in DecisionLog.objects.order_by("pk").values(*PACK_DECISION_FIELDS).iterator(chunk_size=2000):
        row["created_at"] = row["created_at"].isoformat()
        decisions.write(pack_decision_line(row))
    summary = {
        "mode": policy_set.mode if policy_set else None,
        "audit_allows": policy_set.audit_allows if policy_set else False,
        "current_version": current,
        "decision_log_days": int(getattr(settings, "WARDEN_POLICY_DECISION_DAYS", MAX_DAYS)),
        "versions": versions,
    }
    return pack_json(summary), decisions.getvalue()


def _public_keys() -> bytes:
    found = audit_keys.public_keys()
    return pack_json({
        "keys": {
            key_id: {"algorithm": "ed25519", "public_key": key.hex, "fingerprint": key.fingerprint}
            for key_id, key in sorted(found.items())
        }
    })


def evidence_pack_build(*, tenant, actor=None, actor_label: str | None = None) -> bytes:
    """Build the pack for the current tenant schema (policy-checked, audited)."""
    from apps.policies.services import policy_require

    generated_at = timezone.now().isoformat()
    with transaction.atomic():
        policy_require(actor, "export.create", tenant, {"kind": "evidence_pack"})
        event = audit_record(actor=actor, action="evidence.exported", actor_label=actor_label,
                             payload={"tenant": tenant.slug, "generated_at": generated_at})
    # One snapshot for the chain and the policy data, so every audited decision in the
    # pack has its event in the segment; the segment ends on a checkpoint of exactly
    # the head this snapshot sees (signed now if need be, stored once the snapshot ends).
    with audit_snapshot():
        checkpoint, to_store = audit_checkpoint_for_snapshot_head()
        segment = audit_export_segment()
        versions, decisions = _policies()
    if checkpoint is not None and to_store:
        segment["checkpoints"].append(checkpoint)
        audit_checkpoint_store(checkpoint)
    signer = audit_keys.signer()
    if signer.algorithm == "ed25519":
        signing = SIGNING_ED25519.format(key_id=signer.key_id, fingerprint=signer.public_key.fingerprint)
    else:
        signing = SIGNING_HMAC.format(key_id=signer.key_id)
    files: dict[str, bytes] = {
        "README.txt": README.format(signing=signing).encode("utf-8"),
        "residency.json": pack_json(_residency(tenant)),
        "deployment.json": pack_json({
            "format": PACK_FORMAT,
            "deployment_region": settings.WARDEN_REGION,
            "tenant_schema": connection.schema_name,
            "generated_at": generated_at,
            "generated_by": event.actor_label,
        }),
        "policies/versions.json": versions,
        "policies/decisions.jsonl": decisions,
        PACK_WRITES: pack_writes(_decoded_events(segment)),
        "audit/segment.json": pack_json(segment),
        PACK_KEYS: _public_keys(),
        "verify_pack.py": verifier_source().encode("utf-8"),
    }
    manifest = pack_json({
        "format": PACK_FORMAT,
        "tenant": tenant.slug,
        "generated_at": generated_at,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    })
    signature = pack_json({"key_id": signer.key_id, "algorithm": signer.algorithm, "signature": signer.sign(manifest)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest)
        archive.writestr("manifest.sig", signature)
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()
