"""Celery tasks of the triage app (thin; the tenant travels in the task header)."""

from __future__ import annotations

from apps.core.tasks import tenant_task

from .services.runs import run_advance, run_sweep


@tenant_task(name="triage.runs_sweep", ignore_result=True)
def runs_sweep() -> dict:
    """Resume runs a dead worker left mid-step; time out decisions waited for too long."""
    return run_sweep()


@tenant_task(name="triage.run_advance", ignore_result=True)
def run_advance_task(run_id: int) -> str:
    """Do a run's next steps (sent after the commit that started or resumed it)."""
    return run_advance(run_id=run_id).state
