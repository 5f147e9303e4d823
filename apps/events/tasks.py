"""Celery tasks of the events app: thin wrappers over the services, tenant tasks only.

`events.relay` is kicked after every commit that wrote deliveries, and sent to every
tenant by beat (`tenants.dispatch`, periodic entry "events-relay") to deliver what a
lost kick left behind and to retry failed deliveries when they are due."""

from __future__ import annotations

import logging

from django.db import connection

from apps.core.tasks import tenant_task

from .services import kick
from .services.deliveries import outbox_prune
from .services.relay import relay_run

logger = logging.getLogger(__name__)


# acks_late + reject_on_worker_lost: a worker killed mid-run gives the message back.
# The deliveries themselves do not depend on it: their leases run out and the next run
# (a kick or the sweep) claims them again.
@tenant_task(name=kick.RELAY_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def relay() -> dict:
    schema = connection.schema_name
    kick.clear_flag(schema)  # before claiming: a commit from now on kicks again
    result = relay_run()
    if result.more:
        kick.send_relay(schema, force=True)  # the budget ran out: a fresh task goes on
    if result.claimed:
        logger.info(
            "outbox: %d delivered, %d failed, %d dead-lettered, %d deferred in %.3fs%s",
            result.delivered, result.failed, result.dead, result.deferred, result.seconds,
            " (more due: continued in a new task)" if result.more else "",
        )
    return result.as_dict()


@tenant_task(name="events.prune", ignore_result=True)
def prune() -> int:
    return outbox_prune()
