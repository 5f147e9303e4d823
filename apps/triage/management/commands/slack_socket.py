"""`manage.py slack_socket --tenant S [--max-seconds N]`: receive the tenant's Slack
approval clicks over Socket Mode (apps/triage/slack/socket.py) until SIGTERM/SIGINT or
the time bound. Needs the workspace's app-level token (xapp-) set in the admin."""

from __future__ import annotations

import json
import signal

from django.db import close_old_connections
from django_tenants.utils import tenant_context

from apps.core import secrets
from apps.core.cli import OperatorCommand, tenant_by_slug
from apps.notifications.models import SlackWorkspace
from apps.triage.slack.socket import SocketRunner


class Command(OperatorCommand):
    help = "Receive a tenant's Slack approval clicks over Socket Mode (outbound WebSocket) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="Stop after this many seconds (default: run until SIGTERM).")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            stored = SlackWorkspace.objects.filter(pk=1, enabled=True).values_list("app_token", flat=True).first()
            if not stored:
                self.fail(f"tenant {tenant.slug}: Slack is not connected or has no app-level token (xapp-)")
            try:
                token = secrets.decrypt(stored)
            except secrets.SecretUnreadable:
                self.fail(f"tenant {tenant.slug}: the app-level token cannot be decrypted; set it again")
            runner = SocketRunner(app_token=token, between=close_old_connections)
            previous = {sig: signal.signal(sig, lambda *_: runner.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                handled = runner.run(max_seconds=opts["max_seconds"])
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        self.stdout.write(json.dumps({"tenant": tenant.slug, "handled": handled,
                                      "acknowledged": runner.acknowledged}))
