"""Creating, suspending and reactivating tenants."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_context

from apps.core.errors import ApplicationError

from . import schema as schemas
from .models import SLUG_VALIDATOR, Domain, Region, Tenant, TenantStatus

logger = logging.getLogger(__name__)

RESERVED_SLUGS = frozenset({"public", "www", "api", "admin", "static", "media", "platform", "information_schema"})


@dataclass
class ProvisionResult:
    tenant: Tenant
    created: bool
    admin_created: bool
    admin_email: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "slug": self.tenant.slug,
            "name": self.tenant.name,
            "schema": self.tenant.schema_name,
            "region": self.tenant.region,
            "domain": tenant_domain(self.tenant.slug),
            "url": self.tenant.url(),
            "created": self.created,
            "admin_email": self.admin_email,
            "admin_created": self.admin_created,
            "seconds": round(self.seconds, 3),
        }


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.WARDEN_BASE_DOMAIN}"


def schema_name_for(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def validate_new_tenant(*, slug: str, name: str, region: str) -> None:
    """The checks provisioning makes before touching anything (for forms)."""
    _validate(slug.strip().lower(), name, region)


def _validate(slug: str, name: str, region: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        SLUG_VALIDATOR(slug)
    except ValidationError as exc:
        errors["slug"] = list(exc.messages)
    if slug in RESERVED_SLUGS:
        errors["slug"] = [f"{slug!r} is reserved."]
    if not name.strip():
        errors["name"] = ["A name is required."]
    if region not in Region.values:
        errors["region"] = [f"Use one of: {', '.join(Region.values)}."]
    if errors:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        raise ApplicationError(detail, errors=errors)


def _clone_base_into(schema_name: str) -> None:
    """Copy the migrated base schema (tables, migration records) into a new schema."""
    schemas.ensure_base_ready()
    base = schemas.base_schema_name()
    CloneSchema().clone_schema(base, schema_name, "DATA", set_connection=False)
    schemas.restore_constraint_names(source=base, target=schema_name)


def ensure_public_tenant() -> Tenant:
    """The public schema's tenant row and the platform host. Idempotent."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "Warden platform"}
    )
    Domain.objects.update_or_create(
        domain=settings.WARDEN_BASE_DOMAIN, defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


def tenant_provision(
    *,
    slug: str,
    name: str,
    region: str,
    admin_email: str,
    admin_password: str | None = None,
    allowed_regions: list[str] | None = None,
) -> ProvisionResult:
    """Create (or find) the tenant `slug`: schema, domain, first admin. Idempotent."""
    started = time.perf_counter()
    slug = slug.strip().lower()
    _validate(slug, name, region)
    if allowed_regions and not set(allowed_regions) <= set(Region.values):
        raise ApplicationError(f"allowed_regions must be a subset of {', '.join(Region.values)}.")
    connection.set_schema_to_public()
    existing = Tenant.objects.filter(slug=slug).first()
    if existing and existing.region != region:
        raise ApplicationError(
            f"Tenant {slug!r} already exists in region {existing.region!r}; a region cannot be changed here."
        )
    created = existing is None
    with transaction.atomic():
        if created:
            tenant = Tenant(
                slug=slug,
                name=name.strip(),
                region=region,
                schema_name=schema_name_for(slug),
                allowed_regions=allowed_regions or [],
            )
            tenant.full_clean(exclude=["schema_name"])
            tenant.save()
            _clone_base_into(tenant.schema_name)
        else:
            tenant = existing
            if not schemas.schema_exists(tenant.schema_name):
                _clone_base_into(tenant.schema_name)
        Domain.objects.get_or_create(
            domain=tenant_domain(slug), defaults={"tenant": tenant, "is_primary": True}
        )
        with schema_context(tenant.schema_name):
            admin_created = _ensure_first_admin(tenant, admin_email, admin_password, created)
    connection.set_schema_to_public()
    result = ProvisionResult(
        tenant=tenant,
        created=created,
        admin_created=admin_created,
        admin_email=admin_email.lower(),
        seconds=time.perf_counter() - started,
    )
    logger.info("tenant %s provisioned (created=%s) in %.3fs", slug, created, result.seconds)
    return result


def _ensure_first_admin(tenant: Tenant, email: str, password: str | None, tenant_created: bool) -> bool:
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    if User.objects.filter(email__iexact=email).exists():
        return False
    from apps.audit.services import audit_record_system

    if tenant_created:
        audit_record_system(
            action="tenant.provisioned",
            payload={"slug": tenant.slug, "region": tenant.region, "schema": tenant.schema_name},
        )
        _install_baseline(tenant)
    user_create(email=email, role=Role.ADMIN, password=password, full_name="Administrator", validate=False)
    return True


def _install_baseline(tenant: Tenant) -> None:
    """Per-tenant defaults every new tenant starts with (governance baseline, ...)."""
    from apps.policies.services import policy_install_baseline

    policy_install_baseline()


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, reason: str, actor=None) -> Tenant:
    if tenant.is_public:
        raise ApplicationError("The platform itself cannot be suspended.")
    if not reason.strip():
        raise ApplicationError("Say why the tenant is suspended.", errors={"reason": ["A reason is required."]})
    tenant.status = TenantStatus.SUSPENDED
    tenant.suspended_reason = reason.strip()[:500]
    tenant.save(update_fields=["status", "suspended_reason"])
    _audit_in_tenant(tenant, "tenant.suspended", {"reason": tenant.suspended_reason}, actor)
    return tenant


@transaction.atomic
def tenant_activate(*, tenant: Tenant, actor=None) -> Tenant:
    tenant.status = TenantStatus.ACTIVE
    tenant.suspended_reason = ""
    tenant.save(update_fields=["status", "suspended_reason"])
    _audit_in_tenant(tenant, "tenant.activated", {}, actor)
    return tenant


def _audit_in_tenant(tenant: Tenant, action: str, payload: dict, actor) -> None:
    """Platform actions on a tenant are recorded in that tenant's own chain."""
    from apps.audit.services import audit_record_system

    label = f"platform:{actor.email}" if actor is not None and getattr(actor, "email", None) else "platform"
    with schema_context(tenant.schema_name):
        audit_record_system(action=action, payload=payload, actor_label=label)
