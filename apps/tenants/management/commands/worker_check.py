import json
import time
import uuid

from django.core.cache import cache
from django_tenants.utils import tenant_context

from apps.accounts.tasks import directory_probe, probe_key
from apps.core.cli import OperatorCommand, tenant_by_slug


class Command(OperatorCommand):
    help = (
        "Send a read-only probe task for a tenant and print the worker's report (JSON): the schema it ran in "
        "and how many active users it saw. Exits 1 when no worker answers within --timeout seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        token = uuid.uuid4().hex
        started = time.monotonic()
        with tenant_context(tenant):
            directory_probe.delay(token)
            report = None
            while report is None and time.monotonic() - started < opts["timeout"]:
                time.sleep(0.1)
                report = cache.get(probe_key(token))
        if report is None:
            self.fail(
                f"no worker answered for tenant {tenant.slug!r} within {opts['timeout']:g}s "
                "(is `celery -A config worker` running against this broker?)",
                returncode=1,
            )
        if report["schema"] != tenant.schema_name:
            self.fail(f"the probe ran in schema {report['schema']!r}, not {tenant.schema_name!r}", returncode=1)
        self.stdout.write(json.dumps({
            "tenant": tenant.slug, "schema": report["schema"], "active_users": report["users"],
            "worker_pid": report["pid"], "seconds": round(time.monotonic() - started, 3),
        }, sort_keys=True))
