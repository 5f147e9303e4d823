"""Celery tasks of the SLA app: thin wrappers over the services, tenant tasks only.

`sla.sweep` is sent to every tenant by beat through `tenants.dispatch` (registered in
SlaConfig.ready as the periodic entry "sla-sweep")."""

from __future__ import annotations

import logging

from apps.core.tasks import tenant_task

from . import services

logger = logging.getLogger(__name__)


@tenant_task(name="sla.sweep", ignore_result=True)
def sweep() -> dict:
    result = services.sla_sweep()
    if result.events:
        logger.info("SLA sweep: %d event(s) from %d clock(s) in %.3fs", result.events, result.clocks, result.seconds)
    return {"events": result.events, "clocks": result.clocks, "seconds": round(result.seconds, 4)}


@tenant_task(name="sla.process_events", ignore_result=True)
def process_events() -> int:
    return services.sla_events_process()


@tenant_task(name="sla.recompute", ignore_result=True)
def recompute(policy_id: int | None = None, calendar_id: int | None = None) -> int:
    return services.sla_clocks_recompute(policy_id=policy_id, calendar_id=calendar_id)


@tenant_task(name="sla.resync", ignore_result=True)
def resync(ticket_ids: list[int]) -> int:
    return services.sla_tickets_resync(ticket_ids=ticket_ids)
