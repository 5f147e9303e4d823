"""The residency report: a tenant's declaration and the evidence this deployment holds,
including the refusals its audit chain recorded (`manage.py residency_report`)."""

from __future__ import annotations

from django.db import connection, transaction
from django_tenants.utils import tenant_context

from apps.tenants.residency import deployment_region, enforced, may_serve, storage_location

from .models import AuditEvent
from .services import audit_record_system


def residency_report_build(*, tenant, actor_label: str) -> dict:
    """The tenant's residency declaration and the evidence this deployment holds.

    The evidence includes the refusals recorded in the tenant's audit chain, so running
    the report reads that chain; the run is recorded there too (`residency.reported`,
    by `actor_label`), in the same transaction as the reads it reports.
    """
    with tenant_context(tenant), transaction.atomic():
        refused = AuditEvent.objects.filter(action="residency.refused")
        refusals = refused.count()
        last = refused.order_by("-seq").first()
        database = connection.settings_dict
        report = {
            "declaration": {
                "tenant": tenant.slug,
                "home_region": tenant.region,
                "allowed_regions": tenant.effective_allowed_regions,
                "data_mode": tenant.data_mode,
            },
            "deployment": {
                "region": deployment_region(),
                "enforced": enforced(),
                "may_serve_this_tenant": may_serve(tenant),
            },
            "evidence": {
                "database": {"host": database.get("HOST") or "local socket", "name": database.get("NAME"),
                             "schema": tenant.schema_name},
                "storage": storage_location(tenant),
                "refusals_recorded": refusals,
                "last_refusal_at": last.created_at.isoformat() if last else None,
            },
        }
        audit_record_system(
            action="residency.reported",
            actor_label=actor_label,
            payload={
                "deployment_region": deployment_region(),
                "may_serve": report["deployment"]["may_serve_this_tenant"],
                "refusals_recorded": refusals,
            },
        )
    return report
