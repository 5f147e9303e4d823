"""`rotate_secrets --reason R [--tenant S]`: re-encrypt every stored secret with the
newest key of WARDEN_SECRETS_KEY, in every tenant (or one). Prints JSON per tenant.

Rotation procedure (docs/connectors.md): put the new key first (`new,old`), deploy,
run this command, then remove the old key. A secret no key decrypts is counted and its
connector disabled (its admins are told); the command still exits 0 and says so."""

from __future__ import annotations

import json

from django_tenants.utils import get_tenant_model, tenant_context

from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug

from ...services.rotation import secrets_rotate


class Command(OperatorCommand):
    help = "Re-encrypt every stored secret (connectors, Slack) with the newest WARDEN_SECRETS_KEY key. Audited."

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True, help="Why (recorded in each tenant's audit log).")
        parser.add_argument("--tenant", default=None, help="Only this tenant (slug); default: every tenant.")

    def handle(self, *args, **opts):
        reason = (opts["reason"] or "").strip()
        if not reason:
            self.fail("--reason must say why")
        if opts["tenant"]:
            tenants = [tenant_by_slug(opts["tenant"])]
        else:
            tenants = list(get_tenant_model().objects.exclude(schema_name="public").order_by("slug"))
        label = operator_label()
        report = {}
        for tenant in tenants:
            with tenant_context(tenant):
                report[tenant.slug] = secrets_rotate(actor=None, actor_label=label, reason=reason)
        unreadable = sum(r["unreadable"] for r in report.values())
        self.stdout.write(json.dumps({"tenants": report, "unreadable": unreadable}, sort_keys=True))
        if unreadable:
            self.stderr.write(f"{unreadable} secret(s) could not be decrypted with any configured key: their "
                              "connectors were disabled; set those secrets again.")
