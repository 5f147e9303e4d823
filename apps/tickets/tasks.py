"""Celery tasks of the tickets app: thin wrappers over the services, tenant tasks only.

`tickets.autoclose` is sent to every tenant by beat through `tenants.dispatch` (the
periodic entry "tickets-autoclose", registered in TicketsConfig.ready)."""

from __future__ import annotations

import logging

from apps.core.tasks import enqueue_on_commit, tenant_task

from .services.autoclose import ticket_autoclose

logger = logging.getLogger(__name__)


@tenant_task(name="tickets.autoclose", ignore_result=True)
def autoclose(after_resolved_at: str | None = None, after_id: int | None = None) -> dict:
    """Close the resolved tickets that are due (help-desk setting `auto_close_days`); with
    the budget spent and tickets left, go on in a new task from where this one stopped."""
    after = (after_resolved_at, after_id) if after_resolved_at and after_id else None
    result = ticket_autoclose(after=after)
    if result.closed or result.failed:
        logger.info("auto-close: %d closed, %d refused, %d skipped in %.3fs", result.closed, result.failed,
                    result.skipped, result.seconds)
    if result.more and result.after is not None:
        logger.info("auto-close: budget spent with tickets still due; continuing in a new task")
        enqueue_on_commit(autoclose, after_resolved_at=result.after[0], after_id=result.after[1])
    return {"closed": result.closed, "failed": result.failed, "skipped": result.skipped, "more": result.more,
            "seconds": round(result.seconds, 4)}
