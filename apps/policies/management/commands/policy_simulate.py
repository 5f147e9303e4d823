"""`manage.py policy_simulate --tenant SLUG --rules FILE.json [--days N]`

Replays a tenant's recorded decisions through draft rules and prints the result as
JSON; the run is policy-checked and audited (`policy.simulated`, by the operator).
Bad input (unknown tenant, unreadable file, invalid rules) exits 1 with one line; a
database not migrated yet exits 2 with one line (OperatorCommand).
The file holds a JSON list of rules, or an object with a "rules" list; `-` reads stdin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import CommandError
from django_tenants.utils import get_public_schema_name, tenant_context

from apps.core.cli import OperatorCommand, operator_label
from apps.core.errors import ApplicationError
from apps.policies.services import policy_simulation_run
from apps.tenants.models import Tenant


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class Command(OperatorCommand):
    help = "Replay a tenant's recorded policy decisions through draft rules; print the flips as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--rules", required=True, help="JSON file with the draft rules (- for stdin)")
        parser.add_argument("--days", type=int, default=7, help="how many days of decisions to replay (default 7)")

    def handle(self, *args, tenant: str, rules: str, days: int, **options) -> None:
        found = Tenant.objects.filter(slug=tenant.strip().lower()).first()
        if found is None or found.schema_name == get_public_schema_name():
            raise CommandError(f"no tenant with slug {tenant!r}")
        draft = self._read_rules(rules)
        with tenant_context(found):
            try:
                result = policy_simulation_run(
                    actor=None, actor_label=operator_label(), draft_rules=draft, days=days, via="cli"
                )
            except ApplicationError as exc:
                details = "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.errors.items()) or exc.message
                raise CommandError(_one_line(details)) from exc
        self.stdout.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))

    def _read_rules(self, location: str):
        try:
            text = sys.stdin.read() if location == "-" else Path(location).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(_one_line(f"cannot read {location}: {exc.strerror or exc}")) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(_one_line(f"{location} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")) from exc
        if isinstance(data, dict) and "rules" in data:
            data = data["rules"]
        if not isinstance(data, list):
            raise CommandError("the rules file must hold a JSON list of rules (or an object with a 'rules' list)")
        return data
