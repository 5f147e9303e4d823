import json

from django_tenants.utils import tenant_context

from apps.core.cli import OperatorCommand, tenant_by_slug
from apps.events.selectors import outbox_status


class Command(OperatorCommand):
    help = "Print a tenant's outbox: pending, running, failed and dead-lettered deliveries, and the lag (JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            status = outbox_status()
        self.stdout.write(json.dumps({"tenant": tenant.slug, **status}, sort_keys=True))
