"""`connector_undo --tenant S --write ID --reason R [--json]`: undo a ServiceNow write-back
(the fields go back to their values before it; a work note gets a compensating note),
within the undo window. Runs as the system (policy `connector.write`, approved by the
operator who runs it), audited. Prints the undo's record; exit 2 with one line when the
write-back cannot be undone (unknown, not sent, too old), exit 1 when the undo was
refused or failed (denied, capped, a conflict, an error from ServiceNow)."""

from __future__ import annotations

import json

from django_tenants.utils import tenant_context

from apps.core.cli import UNAVAILABLE, OperatorCommand, operator_label, tenant_by_slug

from ...servicenow.models import WriteBackStatus
from ...servicenow.selectors import writeback_get
from ...servicenow.services import writeback_undo

DONE = (WriteBackStatus.SENT, WriteBackStatus.DRY_RUN)


class Command(OperatorCommand):
    help = "Undo a ServiceNow write-back (within the undo window). Audited."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--write", required=True, type=int, help="The write-back's id (admin, API).")
        parser.add_argument("--reason", required=True, help="Why (recorded in the audit log and the compensating note).")
        parser.add_argument("--json", action="store_true", help="JSON instead of one line.")

    def handle(self, *args, **opts):
        reason = (opts["reason"] or "").strip()
        if not reason:
            self.fail("--reason must say why")
        tenant = tenant_by_slug(opts["tenant"])
        label = operator_label()
        with tenant_context(tenant):
            writeback = writeback_get(pk=opts["write"])
            if writeback is None:
                self.fail(f"no write-back {opts['write']} in tenant {tenant.slug!r}")
            undo = writeback_undo(actor=None, writeback=writeback, reason=reason, approved_by=label,
                                  actor_label_override=label)
        record = {"tenant": tenant.slug, "write": writeback.pk, "undo": undo.pk, "status": undo.status,
                  "dry_run": undo.dry_run, "detail": undo.detail, "restored": undo.new_values}
        if opts["json"]:
            self.stdout.write(json.dumps(record, sort_keys=True))
        else:
            self.stdout.write(f"{tenant.slug}: write-back {writeback.pk} on {writeback.number}: undo {undo.pk} "
                              f"{undo.status}" + (f" ({undo.detail})" if undo.detail else ""))
        if undo.status not in DONE:
            self.fail(f"the undo was not sent: {undo.get_status_display()}"
                      + (f": {undo.detail}" if undo.detail else ""), returncode=UNAVAILABLE)
