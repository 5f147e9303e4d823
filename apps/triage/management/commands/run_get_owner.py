"""`run_get_owner --tenant S --run N --reason R [--json]`: who owns a triage run (the
lookup is recorded). Audited; see apps/triage/cli.py and docs/runbooks/triage-runs.md."""

from __future__ import annotations

from ...cli import RunCommand
from ...services import runs


class Command(RunCommand):
    help = "Show who owns a triage run (the lookup is recorded)."

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_inspect_record(actor=None, label=label, run_id=run_id, reason=reason)

    def line(self, run) -> str:
        return f"run {run.pk}: owner {run.owner.email if run.owner_id else 'none'}"
