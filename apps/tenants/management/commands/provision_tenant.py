import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.tenants.models import Region
from apps.tenants.schema import BaseSchemaNotReady
from apps.tenants.services import tenant_provision


class Command(BaseCommand):
    help = "Create a tenant (schema, domain, first admin). Idempotent on the same slug; prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--region", required=True, choices=Region.values)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", default=None)
        parser.add_argument(
            "--allowed-regions", default="", help="Comma-separated deployments that may serve it (default: its region)."
        )

    def handle(self, *args, **opts):
        allowed = [r.strip() for r in opts["allowed_regions"].split(",") if r.strip()]
        try:
            result = tenant_provision(
                slug=opts["slug"],
                name=opts["name"],
                region=opts["region"],
                admin_email=opts["admin_email"],
                admin_password=opts["admin_password"],
                allowed_regions=allowed or None,
            )
        except (ApplicationError, BaseSchemaNotReady) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result.as_dict(), sort_keys=True))
