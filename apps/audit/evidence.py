"""The evidence (disclosure) pack: what a tenant hands its auditor.

A zip with a manifest (sha256 of every file, HMAC-signed), the tenant's residency
declaration, the deployment's region, every policy version, the decision log, the audit
chain with its signed checkpoints, and `verify_pack.py`, which checks all of it offline
with the Python standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import keys as audit_keys
from .selectors import audit_export_segment
from .services import audit_checkpoint_create, audit_record

PACK_FORMAT = "warden.evidence.v1"
_HERE = Path(__file__).resolve().parent
README = """Warden evidence pack
====================

Check it offline (Python 3.9+, standard library only):

    python verify_pack.py            # from the unzipped folder
    python verify_pack.py pack.zip   # or the zip itself

To also check the signatures of the manifest and the audit checkpoints, put the
tenant's audit signing key in an environment variable and name it with its key id:

    WARDEN_KEY=... python verify_pack.py --key {key_id}=WARDEN_KEY

Files: manifest.json (sha256 of every file), manifest.sig (HMAC-SHA256 of the manifest,
"key_id:hex"), residency.json, deployment.json, policies/versions.json,
policies/decisions.jsonl, audit/segment.json, verify_pack.py.
"""


def verifier_source() -> str:
    """verify_pack.py: the audit chain verifier plus the pack checks, one stdlib-only file."""
    core = (_HERE / "verify.py").read_text(encoding="utf-8")
    core = core.split('\nif __name__ == "__main__":')[0].rstrip() + "\n\n\n"
    tail = (_HERE / "pack_main.py").read_text(encoding="utf-8")
    head, _, rest = tail.partition("# --- imports")
    _, _, rest = rest.partition("# --- end imports ---\n")
    return core + head + rest


def _json(data) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


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
    mode = policy_set.mode if policy_set else None
    decisions = io.BytesIO()
    fields = ["id", "created_at", "actor_label", "action", "resource_type", "resource_id", "facts", "outcome",
              "allowed", "reasons", "rule_version", "mode"]
    for row in DecisionLog.objects.order_by("pk").values(*fields).iterator(chunk_size=2000):
        row["created_at"] = row["created_at"].isoformat()
        decisions.write(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return _json({"mode": mode, "current_version": current, "versions": versions}), decisions.getvalue()


def evidence_pack_build(*, tenant, actor=None, actor_label: str | None = None) -> bytes:
    """Build the pack for the current tenant schema (policy-checked, audited)."""
    from apps.policies.services import policy_require

    with transaction.atomic():
        policy_require(actor, "export.create", tenant, {"kind": "evidence_pack"})
        audit_record(actor=actor, action="evidence.exported", payload={"tenant": tenant.slug},
                     actor_label=actor_label)
    # Sign the head (which now includes the export event) so the segment ends on a checkpoint.
    audit_checkpoint_create()
    generated_at = timezone.now().isoformat()
    versions, decisions = _policies()
    files: dict[str, bytes] = {
        "README.txt": README.format(key_id=audit_keys.signing_key()[0]).encode("utf-8"),
        "residency.json": _json(_residency(tenant)),
        "deployment.json": _json({
            "format": PACK_FORMAT,
            "deployment_region": settings.WARDEN_REGION,
            "tenant_schema": connection.schema_name,
            "generated_at": generated_at,
            "generated_by": actor_label or (getattr(actor, "email", None) or "system"),
        }),
        "policies/versions.json": versions,
        "policies/decisions.jsonl": decisions,
        "audit/segment.json": _json(audit_export_segment()),
        "verify_pack.py": verifier_source().encode("utf-8"),
    }
    manifest = _json({
        "format": PACK_FORMAT,
        "tenant": tenant.slug,
        "generated_at": generated_at,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    })
    key_id, key = audit_keys.signing_key()
    signature = f"{key_id}:{hmac.new(key, manifest, hashlib.sha256).hexdigest()}\n".encode("ascii")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest)
        archive.writestr("manifest.sig", signature)
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()
