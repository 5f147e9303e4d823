"""Celery tasks of the GitHub connector (thin; the tenant travels in the task header).
Imported by `github.ready()` so that workers and beat know them."""

from __future__ import annotations

from apps.core.tasks import tenant_task

from .issues import github_issue_push
from .reconcile import github_deliveries_prune, github_reconcile


@tenant_task(name="connectors.github_issue_push", ignore_result=True, acks_late=True)
def github_issue_push_task(link_id: int) -> None:
    github_issue_push(link_id=link_id)


@tenant_task(name="connectors.github_reconcile", ignore_result=True)
def github_reconcile_task() -> int:
    """Apply what webhooks missed (periodic entry `connectors-github-reconcile`), then
    forget old processed deliveries."""
    result = github_reconcile()
    github_deliveries_prune()
    return result.applied
