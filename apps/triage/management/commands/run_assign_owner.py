"""`run_assign_owner --tenant S --run N --owner EMAIL --reason R [--json]`: Give a triage run without an owner its owner.
The owner is an active agent or admin of the tenant. Audited; see apps/triage/cli.py."""

from __future__ import annotations

from ...cli import RunCommand, owner_by_email
from ...services import runs


class Command(RunCommand):
    help = "Give a triage run without an owner its owner."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--owner", required=True, help="The new owner's email (an agent or admin).")

    def act(self, *, run_id: int, reason: str, label: str, **opts):
        return runs.run_assign_owner(actor=None, label=label, run_id=run_id, owner=owner_by_email(self, opts["owner"]),
                                     reason=reason, replace=False)
