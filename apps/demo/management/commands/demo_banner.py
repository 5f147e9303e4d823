from django.conf import settings

from apps.core.cli import OperatorCommand
from apps.demo.seed import (
    DEMO_PASSWORD,
    DEMO_SERVICENOW_NAME,
    DEMO_SERVICENOW_TENANT,
    DEMO_TENANTS,
    PLATFORM_ADMIN,
    demo_servicenow_url,
)


class Command(OperatorCommand):
    help = "Print the demo URLs and logins."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **opts):
        port, base = opts["port"], settings.WARDEN_BASE_DOMAIN
        out = [
            "",
            "Warden demo is running (Ctrl-C stops web, worker and beat).",
            f"  platform admin   http://{base}:{port}/admin/     login {PLATFORM_ADMIN}",
        ]
        for spec in DEMO_TENANTS:
            url = f"http://{spec.slug}.{base}:{port}/"
            out.append(f"  {spec.name} ({spec.region})  {url}   API docs {url}api/v1/docs/")
            out.append(f"     admin     admin@{spec.domain}")
            out.append("     agents    " + ", ".join(f"{a[0]}@{spec.domain}" for a in spec.agents))
            out.append("     requesters " + ", ".join(f"{r[0]}@{spec.domain}" for r in spec.requesters))
        out.append(f"  password for every demo login: {DEMO_PASSWORD}")
        if settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK:
            out.append(f"  {DEMO_SERVICENOW_TENANT} polls a fake ServiceNow at {demo_servicenow_url()} (connector "
                       f"{DEMO_SERVICENOW_NAME}): incidents arrive as tickets within a minute, a new one every 45 s")
        if not settings.WARDEN_RESIDENCY_ENFORCED:
            out.append(
                "  residency: this machine serves every region (set WARDEN_REGION=eu to enforce; production always does)"
            )
        out.append(f"  mail Warden sent (kept here, not sent): http://{base}:{port}/mail/  (sign in as the platform admin)")
        out.append(f"  health http://{base}:{port}/health/  ready http://{base}:{port}/ready/  metrics http://{base}:{port}/metrics")
        self.stdout.write("\n".join(out) + "\n")
