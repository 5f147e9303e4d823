"""Data residency: which deployment (WARDEN_REGION) may serve which tenant."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from apps.core import governance
from apps.core.problems import error_page

logger = logging.getLogger(__name__)


class ResidencyViolation(Exception):
    def __init__(self, tenant, region: str):
        super().__init__(
            f"tenant {tenant.slug!r} may be served only from {', '.join(tenant.effective_allowed_regions)}; "
            f"this deployment is {region!r}"
        )
        self.tenant = tenant
        self.region = region


def deployment_region() -> str:
    return settings.WARDEN_REGION


def enforced() -> bool:
    return bool(settings.WARDEN_RESIDENCY_ENFORCED)


def region_allowed(tenant, region: str | None = None) -> bool:
    """May a deployment in `region` (default: this one) process `tenant`'s data?"""
    return (region or deployment_region()) in tenant.effective_allowed_regions


def may_serve(tenant) -> bool:
    """This deployment may serve `tenant` (always true when enforcement is off locally)."""
    return not enforced() or region_allowed(tenant)


def check_residency(tenant) -> None:
    """Raise ResidencyViolation when this deployment may not serve `tenant` (fail-closed)."""
    if not may_serve(tenant):
        raise ResidencyViolation(tenant, deployment_region())


def audit_refusal(*, kind: str, detail: str) -> None:
    """Record a refusal in the tenant's own chain (the connection is in its schema)."""
    try:
        governance.record_system(
            action="residency.refused",
            payload={"kind": kind, "detail": detail[:200], "deployment_region": deployment_region()},
        )
    except Exception:  # noqa: BLE001 - the refusal stands even if the audit write fails
        logger.exception("residency: could not audit the refusal")


def task_guard(task) -> None:
    """A tenant task refuses to run for a tenant this deployment may not serve (a guard of
    `apps.core.tasks`, registered in TenantsConfig.ready)."""
    from django.db import connection

    if not may_serve(connection.tenant):
        logger.error(
            "refused to run tenant task %s for %s: residency forbids region %s",
            task.name, connection.schema_name, deployment_region(),
        )
        audit_refusal(kind="task", detail=task.name)
        raise ResidencyViolation(connection.tenant, deployment_region())


def residency_refused(request: HttpRequest, tenant) -> HttpResponse:
    logger.warning("residency: refused %s for tenant %s in region %s", request.path, tenant.slug, deployment_region())
    audit_refusal(kind="request", detail=request.path)
    return error_page(
        request,
        403,
        format_lazy(gettext_lazy("This organisation's data may not be served from the {region} region."),
                    region=deployment_region()),
        title=gettext_lazy("Data residency"),
    )


def storage_location(tenant) -> dict:
    """Where this tenant's files are placed: a region-specific root (bucket or prefix)."""
    from django.core.files.storage import storages

    backend = type(storages["default"])
    return {
        "backend": f"{backend.__module__}.{backend.__name__}",
        "region": tenant.region,
        "root": region_storage_root(tenant.region),
        "prefix": f"tenants/{tenant.schema_name}/",
    }


def region_storage_root(region: str) -> str:
    """The storage root for a region: `WARDEN_STORAGE_REGIONS[region]` (an S3 bucket name or
    a filesystem directory), falling back to `<MEDIA_ROOT>/regions/<region>`."""
    configured = getattr(settings, "WARDEN_STORAGE_REGIONS", {}) or {}
    if region in configured:
        return configured[region]
    import os

    return os.path.join(str(settings.MEDIA_ROOT), "regions", region)
