"""Celery tasks of the ServiceNow kind (thin; the tenant travels in the task header).

Beat runs `connectors-servicenow-poll` every WARDEN_SERVICENOW_POLL_SECONDS: the
`tenants.dispatch` fan-out sends `connectors.servicenow_poll_all` to every tenant, which
queues one `connectors.servicenow_poll` per enabled ServiceNow connector. A poll that
stopped on its page or time budget queues itself again at once; one that stopped on an
error waits for the next beat (by then the circuit's cool-down has passed or not)."""

from __future__ import annotations

import logging

from apps.core.tasks import tenant_task

from ..selectors import connector_get
from .selectors import servicenow_connector_list
from .services.poll import PollRefused, servicenow_poll

logger = logging.getLogger(__name__)

# A run that stopped on its budget continues at once, at most this many times in a row.
MAX_CONTINUATIONS = 50


@tenant_task(name="connectors.servicenow_poll_all", ignore_result=True)
def servicenow_poll_all() -> int:
    """Queue a poll of every enabled ServiceNow connector of the tenant."""
    queued = 0
    for connector_id in servicenow_connector_list(enabled_only=True).values_list("pk", flat=True):
        servicenow_poll_task.apply_async(kwargs={"connector_id": connector_id})
        queued += 1
    return queued


@tenant_task(name="connectors.servicenow_poll", ignore_result=True, acks_late=True)
def servicenow_poll_task(connector_id: int, continuation: int = 0) -> dict:
    """One bounded poll of one connector (skipped when another run holds its lease)."""
    connector = connector_get(pk=connector_id)
    if connector is None:
        return {"skipped": "deleted"}
    try:
        result = servicenow_poll(connector=connector)
    except PollRefused as exc:
        logger.warning("servicenow poll of %s refused: %s", connector.name, exc.message)
        return {"skipped": exc.message}
    if result.more and not result.error and continuation < MAX_CONTINUATIONS:
        servicenow_poll_task.apply_async(kwargs={"connector_id": connector_id, "continuation": continuation + 1})
    return result.as_dict()
