"""`connector_sync --tenant S --connector NAME [--summary] [--max-pages N]`: run one poll
of a connector now and print what it did (JSON; `--summary`: one line).

Bad input is one line on stderr and exit 2: an unknown tenant or connector, a disabled
connector, a kind this command does not sync, an invalid filter. A poll that stopped on
an error from the outside service (after its retries; the watermark holds) prints its
summary and exits 1. Runs as the system (policy `connector.operate`), audited as
`connector.synced` with the operator's name."""

from __future__ import annotations

import json

from django_tenants.utils import tenant_context

from apps.core.cli import UNAVAILABLE, OperatorCommand, operator_label, tenant_by_slug

from ...choices import Status
from ...selectors import connector_get_by_name
from ...servicenow.services import PollRefused, servicenow_sync_now

SYNCED_KINDS = ("servicenow",)


class Command(OperatorCommand):
    help = "Poll one connector now (ServiceNow: changed incidents -> tickets) and print a summary."
    expected_errors = (PollRefused,)

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--connector", required=True, help="The connector's name.")
        parser.add_argument("--summary", action="store_true", help="One line instead of JSON.")
        parser.add_argument("--max-pages", type=int, default=None, help="Stop after this many pages (default: setting).")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        if opts["max_pages"] is not None and opts["max_pages"] < 1:
            self.fail("--max-pages must be at least 1")
        with tenant_context(tenant):
            connector = connector_get_by_name(name=(opts["connector"] or "").strip().lower())
            if connector is None:
                self.fail(f"no connector {opts['connector']!r} in tenant {tenant.slug!r}")
            if connector.kind not in SYNCED_KINDS:
                self.fail(f"connector {connector.name!r} is a {connector.kind} connector; connector_sync polls "
                          f"{', '.join(SYNCED_KINDS)} connectors")
            if connector.status != Status.ACTIVE:
                self.fail(f"connector {connector.name!r} is disabled ({connector.disabled_reason or 'by an admin'}); "
                          "enable it first")
            result = servicenow_sync_now(actor=None, connector=connector, actor_label=operator_label(),
                                         max_pages=opts["max_pages"])
        if opts["summary"]:
            self.stdout.write(f"{tenant.slug}/{result.line()}")
        else:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **result.as_dict()}, sort_keys=True, default=str))
        if result.error:
            self.fail(f"the poll stopped on an error: {result.error}", returncode=UNAVAILABLE)
