"""The operator commands on triage runs (`run_inspect`, `run_escalate`, `run_assign_owner`,
`run_reassign_owner`, `run_get_owner`, `run_unblock`, `run_override_close`): one base.

Each takes `--tenant S --run N --reason R` (the reason is required, also for reading: a
look at a tenant's run is recorded) and `--json`. They run as the system, decided by
policy `triage.operate`, audited with the operator's name. Bad input (an unknown tenant or
run, a blank reason, a run in the wrong state) is one line on stderr and exit 2
(apps/core/cli.py).
"""

from __future__ import annotations

import json

from django_tenants.utils import tenant_context

from apps.core.cli import OperatorCommand, operator_label, tenant_by_slug

from .models_runs import Run


def run_record(run: Run) -> dict:
    """A run as the commands print it (and `run_inspect --json`)."""
    return {
        "run": run.pk, "template": run.template, "version": run.template_version, "template_hash": run.template_hash,
        "ticket": run.ticket.number, "proposal": run.proposal_id, "state": run.state, "step": run.step,
        "reason": run.state_reason, "owner": run.owner.email if run.owner_id else None, "context": run.context,
        "started_at": run.started_at.isoformat(), "updated_at": run.updated_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "steps": [{"step": s.name, "action": s.action, "state": s.state, "attempts": s.attempts, "error": s.error,
                   "started_at": s.started_at.isoformat() if s.started_at else None,
                   "finished_at": s.finished_at.isoformat() if s.finished_at else None, "output": s.output}
                  for s in run.steps.order_by("position")],
    }


class RunCommand(OperatorCommand):
    """`--tenant`, `--run`, `--reason`, `--json`. Each command defines
    `act(self, *, run_id, reason, label, **opts) -> Run`: the service call that does its
    work, inside the tenant."""

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--run", required=True, type=int, help="The run's id (desk, admin, API).")
        parser.add_argument("--reason", required=True, help="Why (recorded in the audit log).")
        parser.add_argument("--json", action="store_true", help="JSON instead of one line.")

    def line(self, run: Run) -> str:
        return (f"run {run.pk} ({run.template} v{run.template_version}) on ticket #{run.ticket.number}: {run.state}"
                + (f" at {run.step}" if run.step else "") + (f" ({run.state_reason})" if run.state_reason else "")
                + f"; owner {run.owner.email if run.owner_id else 'none'}")

    def handle(self, *args, **opts):
        reason = " ".join((opts["reason"] or "").split())
        if not reason:
            self.fail("--reason must say why")
        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            if not Run.objects.filter(pk=opts["run"]).exists():
                self.fail(f"no run {opts['run']} in tenant {tenant.slug!r}")
            options = {k: v for k, v in opts.items() if k not in ("run", "reason")}
            run = self.act(run_id=opts["run"], reason=reason, label=operator_label(), **options)
            run = Run.objects.select_related("ticket", "owner").get(pk=run.pk)
            record = {"tenant": tenant.slug, **run_record(run)}
            text = f"{tenant.slug}: {self.line(run)}"
        self.stdout.write(json.dumps(record, sort_keys=True, default=str) if opts["json"] else text)


def owner_by_email(command: OperatorCommand, email: str):
    from apps.accounts.models import User

    owner = User.objects.filter(email__iexact=(email or "").strip()).first()
    if owner is None:
        command.fail(f"no user {email!r} in this tenant")
    return owner
