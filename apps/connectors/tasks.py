"""Celery tasks of the connectors app (thin; the tenant travels in the task header)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.core.tasks import tenant_task

from . import conf
from .agent.services import calls_prune as agent_calls_prune
from .models import ConnectorCall
from .servicenow.tasks import servicenow_poll_all, servicenow_poll_task  # noqa: F401 - found by Celery's autodiscovery


@tenant_task(name="connectors.prune", ignore_result=True)
def connectors_prune() -> int:
    """Forget recent-call records (and customer-agent calls) older than
    WARDEN_CONNECTORS_CALL_RETENTION_DAYS (usage counters and dead letters stay)."""
    cutoff = timezone.now() - timedelta(days=int(conf.get("WARDEN_CONNECTORS_CALL_RETENTION_DAYS")))
    deleted, _ = ConnectorCall.objects.filter(at__lt=cutoff).delete()
    deleted += agent_calls_prune(before=cutoff)  # customer agent (0024): its queued/answered calls
    return deleted
