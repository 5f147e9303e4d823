import json

from apps.audit.residency import residency_report_build
from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug


class Command(OperatorCommand):
    help = "Print a tenant's residency declaration and the evidence this deployment holds (JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        report = residency_report_build(tenant=tenant, actor_label=operator_label())
        self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
