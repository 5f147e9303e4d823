from pathlib import Path

from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from apps.audit import keys
from apps.audit.evidence import evidence_pack_build
from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug
from apps.core.errors import ApplicationError


class Command(OperatorCommand):
    help = "Write a tenant's evidence (disclosure) pack: a zip that verifies offline with verify_pack.py."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--out", required=True, help="the .zip file to write")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        out = Path(opts["out"])
        if not out.parent.is_dir():
            raise CommandError(f"cannot write {out}: {out.parent} is not a directory")
        with tenant_context(tenant):
            try:
                data = evidence_pack_build(tenant=tenant, actor=None, actor_label=operator_label())
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        out.write_bytes(data)
        self.stdout.write(f"wrote {out} ({len(data)} bytes); check it with: python verify_pack.py {out.name}")
        signer = keys.signer()
        if signer.public_key is not None:
            self.stdout.write(
                f"signed with Ed25519 key {signer.key_id}, fingerprint {signer.public_key.fingerprint} "
                f"(auditors pin it with --trust {signer.key_id}=<fingerprint>)"
            )
        else:
            self.stdout.write(f"signed with HMAC key {signer.key_id}: verifying the signatures needs that key")
