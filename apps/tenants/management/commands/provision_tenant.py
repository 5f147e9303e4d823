import json

from apps.core.cli import OperatorCommand, operator_label
from apps.tenants.models import Region
from apps.tenants.schema import BaseSchemaNotReady
from apps.tenants.services import tenant_provision


class Command(OperatorCommand):
    help = (
        "Create a tenant (schema, domain, first admin). Idempotent on the same slug and admin email; "
        "prints JSON. Never adds a second admin: use create_user for that."
    )
    expected_errors = (BaseSchemaNotReady,)

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--region", required=True, choices=Region.values)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", default=None)
        parser.add_argument(
            "--allowed-regions", default="", help="Comma-separated deployments that may serve it (default: its region)."
        )
        parser.add_argument(
            "--time-zone", default=None,
            help="IANA zone its people see times in unless they choose their own (default: the region's, "
                 "Europe/Warsaw for eu, America/New_York for us).",
        )

    def handle(self, *args, **opts):
        allowed = [r.strip() for r in opts["allowed_regions"].split(",") if r.strip()]
        result = tenant_provision(
            slug=opts["slug"],
            name=opts["name"],
            region=opts["region"],
            admin_email=opts["admin_email"],
            admin_password=opts["admin_password"],
            allowed_regions=allowed or None,
            time_zone=opts["time_zone"],
            actor_label=operator_label(),
        )
        self.stdout.write(json.dumps(result.as_dict(), sort_keys=True))
