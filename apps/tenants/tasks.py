"""Beat dispatchers: public-schema tasks that fan tenant work out, one message per tenant."""

from __future__ import annotations

import logging
import random

from celery import current_app, shared_task
from django_tenants.utils import tenant_context
from tenant_schemas_celery.task import TenantTask

from . import residency
from .models import Tenant, TenantStatus

logger = logging.getLogger(__name__)


def tenants_served_here():
    """Active tenants this deployment's region may serve."""
    return [
        t
        for t in Tenant.objects.exclude(schema_name="public").filter(status=TenantStatus.ACTIVE)
        if residency.may_serve(t)
    ]


@shared_task(base=TenantTask, name="tenants.dispatch")
def dispatch(task_name: str, jitter_seconds: int = 0) -> int:
    """Send `task_name` once per tenant served here, each in its tenant's context."""
    task = current_app.tasks[task_name]
    sent = 0
    for tenant in tenants_served_here():
        with tenant_context(tenant):
            task.apply_async(countdown=random.randint(0, jitter_seconds) if jitter_seconds else 0)  # noqa: S311
            sent += 1
    logger.info("dispatched %s to %d tenant(s)", task_name, sent)
    return sent
