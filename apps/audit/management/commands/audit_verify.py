"""`manage.py audit_verify --tenant SLUG`: check a tenant's audit chain end to end.

Exit 0: intact; prints the head (seq, hash) and how many signed checkpoints matched.
Exit 1: broken; prints one line naming the first bad seq and the failure class.
Exit 2: unknown tenant, unusable arguments, or a database not migrated yet (one line:
OperatorCommand).

Verification only reads (in one REPEATABLE READ snapshot): it never appends to the
chain it checks, so running it cannot change its own result.
"""

from __future__ import annotations

import json
import logging

from django_tenants.utils import tenant_context

from apps.audit.selectors import audit_chain_verify
from apps.core.cli import OperatorCommand, tenant_by_slug

logger = logging.getLogger(__name__)


class Command(OperatorCommand):
    help = "Verify a tenant's hash-chained audit log and its signed checkpoints."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--json", action="store_true", help="Print the full result as JSON.")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            result = audit_chain_verify()
        if opts["json"]:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **result.as_dict()}))
        else:
            self.stdout.write(f"tenant={tenant.slug} {result.line()}")
        if result.ok:
            logger.info("audit chain of %s intact up to seq %s", tenant.slug, result.head_seq)
            return
        logger.error("audit chain of %s broken at seq %s (%s)", tenant.slug, result.first_bad_seq, result.failure)
        raise SystemExit(1)
