"""Celery tasks of the audit app: thin wrappers over services.

`audit.checkpoint_if_due` runs in one tenant; beat fans it out to every tenant through
`tenants.dispatch` (registered in AuditConfig.ready(), written to the schedule by
`manage.py sync_periodic_tasks`).
"""

from __future__ import annotations

from apps.core.tasks import tenant_task

from .services import audit_checkpoint_if_due


@tenant_task(name="audit.checkpoint_if_due")
def audit_checkpoint_if_due_task() -> int | None:
    """Sign the tenant's chain head if a checkpoint is due; returns the signed seq."""
    checkpoint = audit_checkpoint_if_due()
    return checkpoint.seq if checkpoint is not None else None
