"""`run_escalate --tenant S --run N --reason R [--json]`: Escalate a triage run (it shows as escalated to the desk and in admin).
Audited; see apps/triage/cli.py and docs/runbooks/triage-runs.md."""

from __future__ import annotations

from ...cli import RunCommand
from ...services import runs


class Command(RunCommand):
    help = "Escalate a triage run (it shows as escalated to the desk and in admin)."

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_escalate(actor=None, label=label, run_id=run_id, reason=reason)
