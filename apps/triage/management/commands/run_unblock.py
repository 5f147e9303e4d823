"""`run_unblock --tenant S --run N --reason R [--json]`: let a failed, escalated or
handed-over triage run go on from the step it stopped at.
Audited; see apps/triage/cli.py and docs/runbooks/triage-runs.md."""

from __future__ import annotations

from ...cli import RunCommand
from ...services import runs


class Command(RunCommand):
    help = "Let a failed, escalated or handed-over triage run go on from the step it stopped at."

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_unblock(actor=None, label=label, run_id=run_id, reason=reason)
