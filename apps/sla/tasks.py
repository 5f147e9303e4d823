"""Celery tasks of the SLA app: thin wrappers over the services, tenant tasks only.

`sla.sweep` is sent to every tenant by beat through `tenants.dispatch` (registered in
SlaConfig.ready as the periodic entry "sla-sweep"). What follows a crossing (audit,
escalations, notifications) is the outbox's work: the sweep emits `sla.warning` and
`sla.breached`, and the `sla.escalations` subscriber handles them (apps/sla/consumers.py)."""

from __future__ import annotations

import logging

from apps.core.tasks import enqueue_on_commit, tenant_task

from . import services

logger = logging.getLogger(__name__)


@tenant_task(name="sla.sweep", ignore_result=True)
def sweep() -> dict:
    result = services.sla_sweep()
    if result.events:
        logger.info("SLA sweep: %d event(s) from %d clock(s) in %.3fs", result.events, result.clocks, result.seconds)
    if result.more:
        # The budget ran out with clocks still due: the next sweep goes on at once.
        logger.info("SLA sweep: budget spent with clocks still due; continuing in a new task")
        enqueue_on_commit(sweep)
    return {"events": result.events, "clocks": result.clocks, "seconds": round(result.seconds, 4), "more": result.more}


@tenant_task(name="sla.process_events", ignore_result=True)
def process_events() -> int:
    """Handle every pending SLA event of the tenant at once (an operator's catch-up; the
    outbox relay does it clock by clock normally)."""
    return services.sla_events_process()


@tenant_task(name="sla.recompute", ignore_result=True)
def recompute(policy_id: int | None = None, calendar_id: int | None = None) -> int:
    return services.sla_clocks_recompute(policy_id=policy_id, calendar_id=calendar_id)


@tenant_task(name="sla.resync", ignore_result=True)
def resync(ticket_ids: list[int]) -> int:
    return services.sla_tickets_resync(ticket_ids=ticket_ids)
