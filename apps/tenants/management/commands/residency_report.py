import json

from django_tenants.utils import tenant_context

from apps.core.cli import OperatorCommand
from apps.tenants import residency
from apps.tenants.cli import tenant_by_slug


class Command(OperatorCommand):
    help = "Print a tenant's residency declaration and the evidence this deployment holds (JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, **opts):
        from django.db import connection

        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            from apps.audit.models import AuditEvent

            refused = AuditEvent.objects.filter(action="residency.refused")
            refusals = refused.count()
            last = refused.order_by("-seq").first()
            database = connection.settings_dict
        report = {
            "declaration": {
                "tenant": tenant.slug,
                "home_region": tenant.region,
                "allowed_regions": tenant.effective_allowed_regions,
                "data_mode": tenant.data_mode,
            },
            "deployment": {
                "region": residency.deployment_region(),
                "enforced": residency.enforced(),
                "may_serve_this_tenant": residency.may_serve(tenant),
            },
            "evidence": {
                "database": {"host": database.get("HOST") or "local socket", "name": database.get("NAME"),
                             "schema": tenant.schema_name},
                "storage": residency.storage_location(tenant),
                "refusals_recorded": refusals,
                "last_refusal_at": last.created_at.isoformat() if last else None,
            },
        }
        self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
