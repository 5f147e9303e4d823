"""`run_inspect --tenant S --run N --reason R [--json]`: Show a triage run: its state, steps, owner and what it learnt (recorded).
Audited; see apps/triage/cli.py and docs/runbooks/triage-runs.md."""

from __future__ import annotations

from ...cli import RunCommand
from ...services import runs


class Command(RunCommand):
    help = "Show a triage run: its state, steps, owner and what it learnt (recorded)."

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_inspect_record(actor=None, label=label, run_id=run_id, reason=reason)
