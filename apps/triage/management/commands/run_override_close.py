"""`run_override_close --tenant S --run N --reason R [--json]`: Close a triage run where it is, without its remaining steps.
Audited; see apps/triage/cli.py and docs/runbooks/triage-runs.md."""

from __future__ import annotations

from ...cli import RunCommand
from ...services import runs


class Command(RunCommand):
    help = "Close a triage run where it is, without its remaining steps."

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_override_close(actor=None, label=label, run_id=run_id, reason=reason)
